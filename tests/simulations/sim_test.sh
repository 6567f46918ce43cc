#!/usr/bin/env bash
# sim_test.sh CHECK P2PSIP_SIM: runs the 200-node scenario and checks one property.
set -euo pipefail
CHECK=$1
SIM=$2
SCENARIO=simulations/scenarios/test-200.toml
DIR=$(mktemp -d /tmp/p2psip-simtest.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" "$1" | head -n 1; }

case "$CHECK" in
determinism)
  "$SIM" "$SCENARIO" --seed 11 --out "$DIR/a" --quiet >/dev/null
  "$SIM" "$SCENARIO" --seed 11 --out "$DIR/b" --quiet >/dev/null
  "$SIM" "$SCENARIO" --seed 12 --out "$DIR/c" --quiet >/dev/null
  for f in summary.json timeseries.csv latency.csv; do
    cmp -s "$DIR/a/$f" "$DIR/b/$f" || { diff "$DIR/a/$f" "$DIR/b/$f" | head; fail "$f differs for the same seed"; }
  done
  # A different seed must change the run, or the comparison above proves nothing.
  cmp -s "$DIR/a/timeseries.csv" "$DIR/c/timeseries.csv" && fail "seed 12 gave the same time series as seed 11"
  echo "PASS: same seed, byte-identical summary.json, timeseries.csv, latency.csv; other seed differs"
  ;;
crypto_cache)
  # The process-wide crypto cache (crypto_cache.cpp) must not change any outcome: the same
  # run with OpenDHT's own crypto functions gives byte-identical results.
  "$SIM" "$SCENARIO" --out "$DIR/a" --quiet >/dev/null
  P2PSIP_SIM_NO_CRYPTO_CACHE=1 "$SIM" "$SCENARIO" --out "$DIR/b" --quiet >/dev/null
  for f in summary.json timeseries.csv latency.csv; do
    cmp -s "$DIR/a/$f" "$DIR/b/$f" || { diff "$DIR/a/$f" "$DIR/b/$f" | head; fail "$f differs without the crypto cache"; }
  done
  grep -q '"signature_checks": 0,' "$DIR/a/perf.json" && fail "the crypto cache was not used"
  grep -q '"signature_checks": 0,' "$DIR/b/perf.json" || fail "P2PSIP_SIM_NO_CRYPTO_CACHE did not bypass the cache"
  echo "PASS: crypto cache on and off give byte-identical results"
  ;;
success)
  "$SIM" "$SCENARIO" --out "$DIR/s" --quiet
  rate=$(field "$DIR/s/summary.json" success_rate)
  finished=$(field "$DIR/s/summary.json" lookups_finished)
  [ "${finished%.*}" -ge 300 ] || fail "only $finished lookups finished"
  awk -v r="$rate" 'BEGIN { exit !(r >= 0.99) }' || fail "success rate $rate < 0.99"
  publishes=$(field "$DIR/s/summary.json" publishes)
  [ "$publishes" -eq 200 ] || fail "$publishes of 200 nodes published"
  echo "PASS: success rate $rate over $finished lookups, 200/200 published"
  ;;
bad_config)
  printf 'name = "x"\nnodes = 10\n[network]\nmedian_rtt = 100\n' >"$DIR/bad.toml"
  if "$SIM" "$DIR/bad.toml" --out "$DIR/o" --quiet 2>"$DIR/err"; then fail "bad config accepted"; fi
  grep -q "bad.toml:4: key 'network.median_rtt': unknown key" "$DIR/err" || fail "unclear error: $(cat "$DIR/err")"
  printf 'nodes = "many"\n' >"$DIR/bad2.toml"
  if "$SIM" "$DIR/bad2.toml" --out "$DIR/o" --quiet 2>"$DIR/err2"; then fail "bad type accepted"; fi
  grep -q "bad2.toml:1: key 'nodes': expected a number" "$DIR/err2" || fail "unclear error: $(cat "$DIR/err2")"
  echo "PASS: bad configs name file, line and key: $(cat "$DIR/err")"
  ;;
*) fail "unknown check $CHECK" ;;
esac
