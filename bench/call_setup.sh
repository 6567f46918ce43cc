#!/usr/bin/env bash
# call_setup.sh P2PSIP_BIN [CALLS]: N calls alice -> bob by AOR on a private overlay of
# dhtnode + bob + carol; prints median and p95 of lookup, dial->ringing, dial->answer and
# dial->media (ICE connected) and dial->audio (keys ready: after DTLS) from the call reports.
set -euo pipefail
export P2PSIP_BIN=$1
CALLS=${2:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/node/scripts/local_overlay.sh"
DIR=$(mktemp -d /tmp/p2psip-bench.XXXXXX)
overlay_init "$DIR"
start_bootstrap
start_node bob --auto-answer
start_node carol
wait_for_log "$DIR/bob.err" "published sip:bob@example.org"
for i in $(seq "$CALLS"); do
  run_node alice --call sip:bob@example.org --duration 0.5 --report "$DIR/reports.json" \
    || echo "call $i failed" >&2
done
stats() {  # field
  sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$DIR/reports.json" | sort -n | awk -v f="$1" '
    { v[NR] = $1 } END {
      if (NR == 0) { printf "%-12s no data\n", f; exit }
      p50 = v[int((NR + 1) / 2)]; i95 = int(NR * 0.95 + 0.999); if (i95 > NR) i95 = NR
      printf "%-12s median %7.1f ms   p95 %7.1f ms   (n=%d)\n", f, p50, v[i95], NR }'
}
answered=$(grep -c '"answered":true' "$DIR/reports.json" || true)
echo "calls answered: $answered / $CALLS"
for f in lookup_ms ringing_ms answer_ms media_ms audio_ms; do stats "$f"; done
rm -rf "$DIR"
