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
# churn_300: $DIR/churn.toml, 300 nodes under 1.4-minute Weibull churn for 480 s.
churn_300() {
  cat > "$DIR/churn.toml" <<'TOML'
name = "churn-300"
nodes = 300
duration = 480
join_period = 60
warmup = 200
seed = 5
[network]
median_rtt_ms = 100
[churn]
enabled = true
distribution = "weibull"
weibull_shape = 0.5
median_session_s = 84
median_offline_s = 84
[workload]
lookups_per_second = 5
replicas_together = true
TOML
}

# better_under_churn BEFORE AFTER P50_FACTOR MSGS_FACTOR WHAT: the run in AFTER has a p50
# below P50_FACTOR times BEFORE's, fewer messages per node per second than MSGS_FACTOR
# times BEFORE's, and success >= 99 %.
better_under_churn() {
  local before=$1/summary.json after=$2/summary.json what=$5
  p50() { sed -n 's/.*"latency_ms": {"p50": \([0-9.]*\).*/\1/p' "$1"; }
  local p0 p1 m0 m1 rate
  p0=$(p50 "$before"); p1=$(p50 "$after")
  m0=$(field "$before" messages_per_node_s); m1=$(field "$after" messages_per_node_s)
  echo "$what: p50 $p0 ms -> $p1 ms; messages per node per second $m0 -> $m1"
  awk -v a="$p0" -v b="$p1" -v f="$3" 'BEGIN { exit !(b < f * a) }' || fail "p50 $p1 ms with $what, $p0 ms without"
  awk -v a="$m0" -v b="$m1" -v f="$4" 'BEGIN { exit !(b < f * a) }' || fail "$m1 messages/node/s with $what, $m0 without"
  rate=$(field "$after" success_rate)
  awk -v r="$rate" 'BEGIN { exit !(r >= 0.99) }' || fail "success $rate < 0.99 with $what"
  echo "PASS: $what under churn: faster lookups, less traffic"
}

case "$CHECK" in
determinism)
  "$SIM" "$SCENARIO" --seed 11 --out "$DIR/a" --quiet >/dev/null
  "$SIM" "$SCENARIO" --seed 11 --out "$DIR/b" --quiet >/dev/null
  "$SIM" "$SCENARIO" --seed 12 --out "$DIR/c" --quiet >/dev/null
  for f in summary.json timeseries.csv latency.csv lookups.csv; do
    cmp -s "$DIR/a/$f" "$DIR/b/$f" || { diff "$DIR/a/$f" "$DIR/b/$f" | head; fail "$f differs for the same seed"; }
  done
  # A different seed must change the run, or the comparison above proves nothing.
  cmp -s "$DIR/a/timeseries.csv" "$DIR/c/timeseries.csv" && fail "seed 12 gave the same time series as seed 11"
  echo "PASS: same seed, byte-identical summary.json, timeseries.csv, latency.csv, lookups.csv; other seed differs"
  ;;
threads)
  # Worker threads must not show in the outputs: 1, 2 and 3 threads give byte-identical
  # files, for the steady scenario and for one with churn, NAT and loss (joins, crashes,
  # withdrawals and dropped packets while the nodes are split among threads).
  cat > "$DIR/mixed.toml" <<'TOML'
name = "mixed-200"
nodes = 200
duration = 240
join_period = 30
warmup = 90
seed = 5
[network]
median_rtt_ms = 80
loss = 0.01
nat_fraction = 0.3
[churn]
enabled = true
distribution = "weibull"
median_session_s = 60
median_offline_s = 40
[workload]
lookups_per_second = 5
calls_per_second = 2
TOML
  for sc in "$SCENARIO" "$DIR/mixed.toml"; do
    for t in 1 2 3; do "$SIM" "$sc" --threads $t --out "$DIR/t$t" --quiet >/dev/null; done
    for t in 2 3; do
      grep -q "\"threads\": $t," "$DIR/t$t/perf.json" || fail "--threads $t did not run $t threads"
      for f in summary.json timeseries.csv latency.csv lookups.csv; do
        cmp -s "$DIR/t1/$f" "$DIR/t$t/$f" || { diff "$DIR/t1/$f" "$DIR/t$t/$f" | head; fail "$(basename "$sc"): $f differs between 1 and $t threads"; }
      done
      # Every datagram, wake-up and timer of the whole run, summed over the threads.
      [ "$(grep '"events"' "$DIR/t1/perf.json")" = "$(grep '"events"' "$DIR/t$t/perf.json")" ] ||
        fail "$(basename "$sc"): engine events differ between 1 and $t threads"
    done
    grep -q '"lookups_finished": 0,' "$DIR/t1/summary.json" && fail "$(basename "$sc"): no lookups ran"
  done
  grep -q '"crashes": 0,' "$DIR/t1/summary.json" && fail "the churn scenario had no crashes"
  echo "PASS: 1, 2 and 3 worker threads give byte-identical outputs (steady; churn+NAT+loss)"
  ;;
calls)
  # Call attempts: lookup, then INVITE/200/ACK through the sip/ library over the simulated
  # network. Without loss every answered call is exactly INVITE + 200 + ACK; with 5 % loss
  # Timer A/G retransmissions must carry almost every call through anyway.
  calls_json() { tr -d '\n' < "$1" | sed -n 's/.*"calls": {\([^}]*\).*/\1/p'; }
  cfield() { calls_json "$1" | sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p"; }
  for loss in 0 0.05; do
    sed -e "s/^loss = .*/loss = $loss/" -e 's/^lookups_per_second = .*/lookups_per_second = 0\ncalls_per_second = 3/' "$SCENARIO" > "$DIR/calls.toml"
    "$SIM" "$DIR/calls.toml" --out "$DIR/c$loss" --quiet >/dev/null
    f="$DIR/c$loss/summary.json"
    attempts=$(cfield "$f" attempts); answered=$(cfield "$f" answered); rate=$(cfield "$f" success_rate)
    msgs=$(field "$f" sip_messages); rtx=$(field "$f" sip_retransmissions); p50=$(sed -n 's/.*"setup_ms": {"p50": \([0-9.]*\).*/\1/p' "$f")
    echo "loss $loss: attempts $attempts answered $answered rate $rate sip messages $msgs (retransmitted $rtx) setup p50 $p50 ms"
    [ "${attempts:-0}" -ge 300 ] || fail "loss $loss: only ${attempts:-0} call attempts"
    awk -v p="$p50" 'BEGIN{exit !(p >= 50 && p <= 5000)}' || fail "loss $loss: setup p50 $p50 ms out of range"
    if [ "$loss" = 0 ]; then
      awk -v r="$rate" 'BEGIN{exit !(r >= 0.99)}' || fail "no loss: call success $rate < 0.99"
      [ "$rtx" -eq 0 ] || fail "no loss: $rtx SIP retransmissions"
      [ "$msgs" -ge $((3 * answered)) ] && [ "$msgs" -le $((3 * attempts)) ] || fail "no loss: $msgs SIP messages for $answered answered of $attempts calls (want 3 each)"
    else
      awk -v r="$rate" 'BEGIN{exit !(r >= 0.95)}' || fail "5 % loss: call success $rate < 0.95"
      [ "$rtx" -gt 0 ] && [ "$msgs" -gt $((3 * answered)) ] || fail "5 % loss: no retransmissions ($rtx of $msgs SIP messages, $answered calls)"
    fi
  done
  echo "PASS: calls set up through lookup + INVITE/200/ACK, retransmitted under loss"
  ;;
crypto_cache)
  # The process-wide crypto cache (crypto_cache.cpp) must not change any outcome: the same
  # run with OpenDHT's own crypto functions gives byte-identical results.
  "$SIM" "$SCENARIO" --out "$DIR/a" --quiet >/dev/null
  P2PSIP_SIM_NO_CRYPTO_CACHE=1 "$SIM" "$SCENARIO" --out "$DIR/b" --quiet >/dev/null
  for f in summary.json timeseries.csv latency.csv lookups.csv; do
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
  # timeseries.csv: per interval, the lookups that ended (column 11, what success.png
  # divides by) and those that found the binding; they add up to the summary's counts.
  read -r ts_finished ts_successes bad <<<"$(awk -F, 'NR > 1 { f += $11; s += $5; if ($5 > $11) b++ }
    END { print f + 0, s + 0, b + 0 }' "$DIR/s/timeseries.csv")"
  [ "$ts_finished" -eq "$finished" ] || fail "time series: $ts_finished lookups ended, summary: $finished"
  [ "$ts_successes" -eq "$(field "$DIR/s/summary.json" successes)" ] || fail "time series successes differ from the summary's"
  [ "$bad" -eq 0 ] || fail "$bad intervals with more successes than ended lookups"
  # lookups.csv: one row per lookup that ended, in start order; a success found the
  # callee's current session (column 10 = column 7); 0 ms when the caller stores the key itself.
  read -r rows oks badok unsorted <<<"$(awk -F, 'NR > 1 { n++; if ($9 == "ok") { k++; if ($10 != $7 || $11 < 0) b++ }
    if ($1 < last) u++; last = $1 } END { print n + 0, k + 0, b + 0, u + 0 }' "$DIR/s/lookups.csv")"
  [ "$rows" -eq "$finished" ] || fail "lookups.csv: $rows rows, summary: $finished lookups ended"
  [ "$oks" -eq "$(field "$DIR/s/summary.json" successes)" ] || fail "lookups.csv: $oks ok rows, summary differs"
  [ "$badok" -eq 0 ] || fail "lookups.csv: $badok ok rows without the callee's session or with a negative duration"
  [ "$unsorted" -eq 0 ] || fail "lookups.csv: rows out of start order"
  echo "PASS: success rate $rate over $finished lookups, 200/200 published"
  ;;
routing_refresh)
  # workload.routing_refresh (overlay::RoutingRefresh, on by default as in the phone):
  # under 1.4-minute churn, nodes that recheck their OpenDHT routing tables every 60 s stop
  # waiting on departed contacts: lookups end much sooner and the overlay sends fewer
  # datagrams than with --routing-refresh 0 (simulations.md, "Routing refresh").
  churn_300
  "$SIM" "$DIR/churn.toml" --routing-refresh 0 --out "$DIR/off" --quiet >/dev/null
  "$SIM" "$DIR/churn.toml" --out "$DIR/on" --quiet >/dev/null
  grep -q '"routing_refresh_s": 60,' "$DIR/on/summary.json" || fail "the default refresh, 60 s, not in the summary"
  grep -q '"routing_refresh_s": 0,' "$DIR/off/summary.json" || fail "--routing-refresh 0 not in the summary"
  better_under_churn "$DIR/off" "$DIR/on" 0.6 1.0 "the routing refresh"
  refreshes=$(field "$DIR/on/summary.json" routing_refreshes)
  [ "${refreshes:-0}" -gt 0 ] || fail "no node refreshed its routing table under churn"
  ;;
routing_probes)
  # overlay::RoutingRefreshOptions::probes: each check pings 8 good contacts and refreshes
  # only when one does not answer. In the steady 200-node overlay nobody leaves: no
  # refresh at all, and less traffic than refreshing at every check (--routing-probes 0).
  "$SIM" "$SCENARIO" --out "$DIR/probes" --quiet >/dev/null
  "$SIM" "$SCENARIO" --routing-probes 0 --out "$DIR/every" --quiet >/dev/null
  grep -q '"routing_probes": 8,' "$DIR/probes/summary.json" || fail "the default, 8 probes, not in the summary"
  checks=$(field "$DIR/probes/summary.json" routing_checks); refreshes=$(field "$DIR/probes/summary.json" routing_refreshes)
  echck=$(field "$DIR/every/summary.json" routing_checks); erefr=$(field "$DIR/every/summary.json" routing_refreshes)
  mp=$(field "$DIR/probes/summary.json" messages_per_node_s); me=$(field "$DIR/every/summary.json" messages_per_node_s)
  echo "probes: $checks checks, $refreshes refreshes, $mp msgs/node/s; every check: $echck checks, $erefr refreshes, $me msgs/node/s"
  [ "$checks" -gt 0 ] || fail "no routing check ran"
  [ "$refreshes" -eq 0 ] || fail "$refreshes refreshes in a steady overlay"
  [ "$erefr" -eq "$echck" ] || fail "--routing-probes 0 refreshed $erefr times in $echck checks"
  awk -v a="$me" -v b="$mp" 'BEGIN { exit !(b < a) }' || fail "$mp msgs/node/s with probes, $me refreshing every check"
  rate=$(field "$DIR/probes/summary.json" success_rate)
  [ "$rate" = "1.00000" ] || fail "success $rate in the steady overlay"
  echo "PASS: probes spare a steady overlay every refresh"
  ;;
node_id)
  # workload.keep_node_id (as the phone's dht-node-id file): under 1.4-minute churn, nodes
  # that come back under their old OpenDHT node id find their contacts' tables still right
  # about them; with a new id every session the tables fill with ids nobody answers to.
  # Without the routing refresh, to see the node id alone (simulations.md, "Keeping the
  # node id").
  churn_300
  "$SIM" "$DIR/churn.toml" --routing-refresh 0 --fresh-node-id --out "$DIR/fresh" --quiet >/dev/null
  "$SIM" "$DIR/churn.toml" --routing-refresh 0 --out "$DIR/kept" --quiet >/dev/null
  grep -q '"keep_node_id": true,' "$DIR/kept/summary.json" || fail "kept node ids (the default) not in the summary"
  grep -q '"keep_node_id": false,' "$DIR/fresh/summary.json" || fail "--fresh-node-id not in the summary"
  better_under_churn "$DIR/fresh" "$DIR/kept" 0.8 0.8 "kept node ids"
  ;;
quorum)
  # overlay::LookupOptions::quorum: by default (5 of the 8 closest) most lookups end before
  # OpenDHT's get, never less successfully; --quorum 0 is the old wait-for-everything rule.
  "$SIM" "$SCENARIO" --out "$DIR/q" --quiet >/dev/null
  "$SIM" "$SCENARIO" --quorum 0 --out "$DIR/f" --quiet >/dev/null
  early=$(field "$DIR/q/summary.json" early_finishes)
  succ=$(field "$DIR/q/summary.json" successes)
  [ "$(field "$DIR/f/summary.json" early_finishes)" -eq 0 ] || fail "--quorum 0 ended lookups early"
  awk -v e="$early" -v s="$succ" 'BEGIN { exit !(e * 2 > s) }' || fail "only $early of $succ lookups ended early"
  for d in q f; do
    rate=$(field "$DIR/$d/summary.json" success_rate)
    awk -v r="$rate" 'BEGIN { exit !(r >= 0.99) }' || fail "$d: success rate $rate < 0.99"
    [ "$(field "$DIR/$d/summary.json" conflicts)" -eq 0 ] || fail "$d: name conflicts in an honest overlay"
  done
  # Virtual time, fixed seed: the comparison is deterministic.
  pq=$(sed -n 's/.*"latency_ms": {"p50": \([0-9.]*\).*/\1/p' "$DIR/q/summary.json")
  pf=$(sed -n 's/.*"latency_ms": {"p50": \([0-9.]*\).*/\1/p' "$DIR/f/summary.json")
  awk -v a="$pq" -v b="$pf" 'BEGIN { exit !(a < b) }' || fail "quorum p50 $pq ms not below the full wait's $pf ms"
  echo "PASS: $early of $succ lookups ended early; p50 $pq ms (full wait $pf ms)"
  ;;
known_callees)
  # workload.known_callee_fraction: half the callers hold the callee's key (the phone's
  # known_peers). Their lookups pin it and end at its claim and first live binding
  # (protocol.md §4, rule 1), so they finish sooner than first contacts, which wait for
  # the quorum; both must find the callee.
  sed 's/^lookups_per_second = .*/&\nknown_callee_fraction = 0.5/' "$SCENARIO" > "$DIR/known.toml"
  "$SIM" "$DIR/known.toml" --out "$DIR/k" --quiet >/dev/null
  f="$DIR/k/summary.json"
  part() { tr -d '\n' < "$f" | sed -n "s/.*\"$1\": {\"finished\": \([0-9]*\), \"successes\": \([0-9]*\), \"success_rate\": \([0-9.]*\), \"latency_ms\": {\"p50\": \([0-9.]*\).*/\1 \2 \3 \4/p"; }
  read -r kn ks kr kp <<<"$(part known_callee)"
  read -r fn fs fr fp <<<"$(part first_contact)"
  echo "known callees: $ks of $kn found, p50 $kp ms; first contacts: $fs of $fn, p50 $fp ms"
  [ "${kn:-0}" -ge 100 ] && [ "${fn:-0}" -ge 100 ] || fail "too few lookups: ${kn:-0} known, ${fn:-0} first contacts"
  total=$(field "$f" lookups_finished)
  [ $((kn + fn)) -eq "$total" ] || fail "$kn + $fn lookups do not add up to $total"
  for r in "$kr" "$fr"; do awk -v r="$r" 'BEGIN { exit !(r >= 0.99) }' || fail "success rate $r < 0.99"; done
  awk -v a="$kp" -v b="$fp" 'BEGIN { exit !(a < b) }' || fail "known callees' p50 $kp ms not below first contacts' $fp ms"
  # Without the option the summary has no such parts (and the run is the one before it).
  "$SIM" "$SCENARIO" --out "$DIR/n" --quiet >/dev/null
  grep -q '"known_callee"' "$DIR/n/summary.json" && fail "known_callee reported without known callees"
  # The CDFs of the two kinds (latency_cdf.png draws them), each ending at 1.
  for k in known first_contact; do
    [ "$(tail -n 1 "$DIR/k/latency_$k.csv" | cut -d, -f2)" = 1.0000 ] || fail "latency_$k.csv incomplete"
  done
  [ -e "$DIR/n/latency_known.csv" ] && fail "latency_known.csv written without known callees"
  echo "PASS: pinned lookups p50 $kp ms < first contacts' $fp ms, both >= 99 % found"
  ;;
plain_puts)
  # overlay::PublishConfig::permanent = false: plain puts, placed and kept alive only by the
  # publishers' refreshes. The 200 nodes join within 30 s, so the records of the first ones
  # must follow the nodes that join after them: the early refreshes do that (without them
  # 11 lookups of 725 found nothing). Puts also wait for the resync, so this exercises it.
  "$SIM" "$SCENARIO" --plain-puts --out "$DIR/p" --quiet >/dev/null
  grep -q '"permanent_puts": false,' "$DIR/p/summary.json" || fail "--plain-puts not applied"
  rate=$(field "$DIR/p/summary.json" success_rate)
  awk -v r="$rate" 'BEGIN { exit !(r >= 0.99) }' || fail "success rate $rate < 0.99"
  [ "$(field "$DIR/p/summary.json" publishes)" -eq 200 ] || fail "not every node published"
  [ "$(field "$DIR/p/summary.json" stale)" -eq 0 ] || fail "stale bindings in a steady overlay"
  echo "PASS: plain puts, success rate $rate"
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
