#!/usr/bin/env bash
# ./run demo: a private overlay on 127.0.0.1 (OpenDHT's dhtnode as bootstrap, bob and
# carol as phones), then alice calls bob by AOR, plays a 440 Hz sample for 4 s, hangs up
# and prints the call report.
set -euo pipefail
: "${P2PSIP_BIN:?set P2PSIP_BIN to the p2psip binary}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/scripts/local_overlay.sh"

DIR=$(mktemp -d /tmp/p2psip-demo.XXXXXX)
overlay_init "$DIR"
say() { printf '\033[1m== %s\033[0m\n' "$*"; }

"$P2PSIP_BIN" tone "$DIR/sample.wav" --freq 440 --seconds 4
say "starting a private overlay (network id $OVERLAY_NETID) in $DIR"
start_bootstrap
echo "   bootstrap: dhtnode on $BOOTSTRAP"
start_node bob --auto-answer --record "$DIR/bob-heard.wav"
start_node carol
wait_for_log "$DIR/bob.err" "published sip:bob@example.org"
wait_for_log "$DIR/carol.err" "published sip:carol@example.org"
echo "   bob and carol published their bindings"

say "alice calls sip:bob@example.org (found through the DHT), plays the sample for 4 s"
status=0
run_node alice --call sip:bob@example.org --play "$DIR/sample.wav" --duration 4 \
  --report "$DIR/alice-report.json" || status=$?
sed 's/^/   /' "$DIR/alice.err"
cat "$DIR/alice.out"

say "what bob recorded"
sleep 0.5
"$P2PSIP_BIN" analyze "$DIR/bob-heard.wav" --freq 440 || status=1
if [ "$status" -eq 0 ]; then
  say "demo call succeeded (logs and recordings in $DIR)"
else
  say "demo call FAILED (status $status); logs in $DIR"
fi
exit "$status"
