#!/usr/bin/env bash
# ./run bench: benchmarks, never part of the tests. Prints figures; docs/benchmarks.md
# records the latest ones with this command.
set -euo pipefail
BUILD=${1:?build dir}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
echo "== call setup through the DHT on 127.0.0.1"
bash "$HERE/call_setup.sh" "$BUILD/node/p2psip" "${CALLS:-10}"
