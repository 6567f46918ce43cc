#!/usr/bin/env bash
# The NAT call matrix (issue 4): real p2psip nodes in network namespaces behind real
# iptables NATs, with Debian's dhtnode as bootstrap and coturn as STUN/TURN server.
#
#   nat_calls.sh CASE P2PSIP_BIN [NFQ_DELAY_BIN]
#   CASE: same_lan | lan_public | cone_cone | sym_sym | cone_cone_impaired | rebind
#         | <case>:bench:N
#
# Every case places a call with a tone each way (alice 440 Hz, bob 660 Hz), checks each
# side's recording for the other's tone and prints the selected ICE pair types and how SIP
# got through. "CASE:bench:N" instead places N calls and prints dial->answer figures.
# Exit 77 (ctest skip) without root or the tools.
set -uo pipefail
CASE=${1:?case}; P2PSIP_BIN=$(readlink -f "${2:?p2psip binary}"); NFQ=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
export NETBED_NFQ_DELAY=$NFQ
# One prefix per run so a leftover of another run is never touched.
export NETBED_PREFIX=${NETBED_PREFIX:-nc}
# shellcheck source=testbed/netbed.sh
source "$HERE/testbed/netbed.sh"

BENCH_N=0
if [[ "$CASE" == *:bench:* ]]; then BENCH_N=${CASE##*:bench:}; CASE=${CASE%%:bench:*}; fi

case "$CASE" in
  same_lan)           A=cone1a; B=cone1b ;;
  lan_public)         A=cone1a; B=pubA ;;
  cone_cone)          A=cone1a; B=cone2a ;;
  sym_sym)            A=sym1a;  B=sym2a ;;
  cone_cone_impaired) A=cone1a; B=cone2a ;;
  rebind)             A=cone1a; B=cone2a ;; # alice's NAT gets a new public address mid-call
  *) echo "unknown case $CASE" >&2; exit 2 ;;
esac

if [ "$CASE" = cone_cone_impaired ]; then netbed_require nfq; else netbed_require; fi
netbed_trap
fail() { echo "FAIL [$CASE]: $*" >&2; for f in "$NETBED_DIR"/*.log; do echo "--- $f" >&2; tail -n 40 "$f" >&2; done; exit 1; }

netbed_up || fail "testbed did not come up"
netbed_start_dht || fail "dhtnode did not start"
netbed_start_turn || fail "coturn did not start"
if [ "$CASE" = cone_cone_impaired ]; then
  # 25 ms each way at each of the two routers: 50 ms one way, RTT 100 ms. 1 % loss per
  # router and direction: ~2 % end to end each way.
  netbed_impair rcone1 25 1 || fail "impairment"
  netbed_impair rcone2 25 1 || fail "impairment"
fi

D=$NETBED_DIR
"$P2PSIP_BIN" tone "$D/a440.wav" --freq 440 --seconds 6 >/dev/null || fail "tone"
"$P2PSIP_BIN" tone "$D/b660.wav" --freq 660 --seconds 6 >/dev/null || fail "tone"

common() { # HOST NAME
  NODE=(node --user "sip:$2@example.org" --data-dir "$D/$2.data" --bind "$(netbed_ip "$1")"
        --sip-port 5060 --dht-port 4222 --bootstrap "$NETBED_DHT" --network-id "$NETBED_DHT_NETID"
        --stun "$NETBED_TURN" --turn "$NETBED_TURN_USER:$NETBED_TURN_PASS@$NETBED_TURN"
        --log-level debug)
}

common "$B" bob
netbed_bg "$B" bob "$P2PSIP_BIN" "${NODE[@]}" --console false --auto-answer --play "$D/b660.wav" \
  --record "$D/bob.wav" --report "$D/bob.json" || fail "bob did not start"
netbed_wait_log bob 'published sip:bob@example.org' 60 || fail "bob did not publish"

json_field() { sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" "$1" | tail -n 1 | tr -d '"'; }

call_once() { # LOGNAME DURATION -> alice's exit status
  common "$A" alice
  netbed_exec "$A" "$P2PSIP_BIN" "${NODE[@]}" --console false --call sip:bob@example.org --play "$D/a440.wav" \
    --record "$D/alice.wav" --duration "$2" --report "$D/alice.json" \
    >"$D/$1.log" 2>&1 </dev/null
}

if [ "$BENCH_N" -gt 0 ]; then
  # One long-running phone places N calls from its console, as a user would: the DHT
  # routing table and searches are warm after the first call, and bob's key is known.
  common "$A" alice
  mkfifo "$D/alice.in"
  netbed_bg "$A" alice bash -c 'exec "$0" "$@" <"'"$D/alice.in"'"' "$P2PSIP_BIN" "${NODE[@]}" \
    --console true --keep-running --play "$D/a440.wav" --report "$D/alice.json" || fail "alice did not start"
  exec 3>"$D/alice.in"
  netbed_wait_log alice 'published sip:alice@example.org' 60 || fail "alice did not publish"
  for i in $(seq 1 "$BENCH_N"); do
    echo "call sip:bob@example.org" >&3
    for _ in $(seq 1 300); do
      [ "$(grep -c 'call ended\|answered after' "$NETBED_DIR/alice.log")" -ge $((2 * i - 1)) ] && break
      sleep 0.1
    done
    sleep 1.5; echo hangup >&3  # after media starts, so the pair is known
    for _ in $(seq 1 100); do
      [ "$(grep -c 'call ended' "$NETBED_DIR/alice.log")" -ge "$i" ] && break
      sleep 0.1
    done
    sleep 0.3
  done
  echo quit >&3; exec 3>&-
  grep -o '"answered":true.*' "$D/alice.json" >/dev/null || fail "no call answered"
  awk -v c="$CASE" -v n="$BENCH_N" '
    function f(k,   r) { r = $0; sub(".*\"" k "\":", "", r); sub("[,}].*", "", r); gsub("\"", "", r); return r }
    f("answered") == "true" { k++; v[k] = f("answer_ms") + 0; pair[f("local_candidate") "/" f("remote_candidate")]++; sig[f("signaling")]++; if (k == 1) first = v[1] }
    END {
      if (k == 0) { printf "case=%s calls=%d answered=0\n", c, n; exit 1 }
      m = 0; for (i = 2; i <= k; i++) w[++m] = v[i]
      if (m == 0) { w[1] = v[1]; m = 1 }
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (w[j] < w[i]) { t = w[i]; w[i] = w[j]; w[j] = t }
      med = w[int((m + 1) / 2)]; i95 = int(m * 0.95 + 0.999); if (i95 < 1) i95 = 1; p95 = w[i95]
      ps = ""; for (p in pair) ps = ps p "x" pair[p] " "
      ss = ""; for (q in sig) ss = ss q "x" sig[q] " "
      printf "case=%s calls=%d answered=%d first_call_ms=%.0f then median=%.0f p95=%.0f max=%.0f (over %d) pairs=%s signaling=%s\n", c, n, k, first, med, p95, w[m], m, ps, ss
    }' "$D/alice.json"
  exit 0
fi

if [ "$CASE" = rebind ]; then
  # Renumber alice's NAT router 3 s into the call, as when an ISP hands out a new address:
  # MASQUERADE forgets every mapping of the old address, so the media path dies and ICE
  # must restart through a re-INVITE (RFC 8445 §2.4).
  (
    netbed_wait_log bob 'media flowing' 60 || exit 0
    sleep 3
    ns=$(netbed_ns rcone1)
    ip -n "$ns" addr del 203.0.113.2/24 dev wan0
    ip -n "$ns" addr add 203.0.113.6/24 dev wan0
    ip -n "$ns" route replace default dev wan0
    echo "renumbered rcone1: 203.0.113.2 -> 203.0.113.6" >"$D/renumbered"
  ) &
  call_once alice 18 || fail "alice's call did not survive the new address (exit $?)"
  [ -f "$D/renumbered" ] || fail "the router was not renumbered"
  [ "$(json_field "$D/alice.json" ice_restarts)" -ge 1 ] || fail "no ICE restart in alice's report"
  netbed_wait_log bob 'call ended' 20 || fail "bob did not end the call"
  sleep 0.5
  "$P2PSIP_BIN" analyze "$D/bob.wav" --freq 440 --min-snr 15 --last 3 >"$D/an_bob.txt" \
    || fail "bob hears nothing after the change: $(cat "$D/an_bob.txt")"
  "$P2PSIP_BIN" analyze "$D/alice.wav" --freq 660 --min-snr 15 --last 3 >"$D/an_alice.txt" \
    || fail "alice hears nothing after the change: $(cat "$D/an_alice.txt")"
  echo "PASS [rebind] $(grep -h 'ICE restart' "$NETBED_DIR/alice.log" | head -1 | cut -c1-120);" \
       "pair after: $(json_field "$D/alice.json" local_candidate)/$(json_field "$D/alice.json" remote_candidate);" \
       "last 3 s: bob $(cut -d' ' -f3,4 "$D/an_bob.txt"), alice $(cut -d' ' -f3,4 "$D/an_alice.txt")"
  exit 0
fi

call_once alice 3 || fail "alice's call did not succeed (exit $?)"
[ "$(json_field "$D/alice.json" answered)" = true ] || fail "alice's report says not answered"
netbed_wait_log bob 'call ended' 20 || fail "bob did not end the call"
sleep 0.5
lt=$(json_field "$D/alice.json" local_candidate); rt=$(json_field "$D/alice.json" remote_candidate)
sig=$(json_field "$D/alice.json" signaling); via=$(json_field "$D/alice.json" sip_via_dht)
ans=$(json_field "$D/alice.json" answer_ms); lost=$(json_field "$D/alice.json" packets_lost)
"$P2PSIP_BIN" analyze "$D/bob.wav" --freq 440 --min-snr 15 >"$D/an_bob.txt" \
  || fail "bob did not hear alice's 440 Hz: $(cat "$D/an_bob.txt")"
"$P2PSIP_BIN" analyze "$D/alice.wav" --freq 660 --min-snr 15 >"$D/an_alice.txt" \
  || fail "alice did not hear bob's 660 Hz: $(cat "$D/an_alice.txt")"
if [ "$CASE" = sym_sym ]; then
  [ "$lt" = relay ] || [ "$rt" = relay ] || fail "symmetric <-> symmetric must go through TURN, got $lt/$rt"
fi
if [ "$CASE" = same_lan ]; then
  [ "$lt" = host ] && [ "$rt" = host ] || fail "same LAN must pair host with host, got $lt/$rt"
fi
if [ "$CASE" = lan_public ]; then
  # The public host answers whatever address the NAT gives alice: a direct pair must win.
  [ "$lt" != relay ] && [ "$rt" != relay ] || fail "LAN <-> public must not need TURN, got $lt/$rt"
fi
# cone <-> cone: two Linux MASQUERADE routers usually end on TURN too; see docs/nat-notes.md
# ("Two Linux NATs") for why. The pair is reported, not asserted.
echo "PASS [$CASE] $A -> $B: pair $lt/$rt, SIP $sig ($via via DHT), dial->answer ${ans} ms, lost $lost;" \
     "bob heard: $(cut -d' ' -f3,4 "$D/an_bob.txt"); alice heard: $(cut -d' ' -f3,4 "$D/an_alice.txt")"
