#!/usr/bin/env bash
# The NAT call matrix (issue 4): real p2psip nodes in network namespaces behind real
# iptables NATs, with Debian's dhtnode as bootstrap and coturn as STUN/TURN server.
#
#   nat_calls.sh CASE P2PSIP_BIN [NFQ_DELAY_BIN]
#   CASE: same_lan | lan_public | cone_cone | sym_sym | cone_cone_impaired | <case>:bench:N
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
        --console false --log-level debug)
}

common "$B" bob
netbed_bg "$B" bob "$P2PSIP_BIN" "${NODE[@]}" --auto-answer --play "$D/b660.wav" \
  --record "$D/bob.wav" --report "$D/bob.json" || fail "bob did not start"
netbed_wait_log bob 'published sip:bob@example.org' 60 || fail "bob did not publish"

json_field() { sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" "$1" | tail -n 1 | tr -d '"'; }

call_once() { # LOGNAME DURATION -> alice's exit status
  common "$A" alice
  netbed_exec "$A" "$P2PSIP_BIN" "${NODE[@]}" --call sip:bob@example.org --play "$D/a440.wav" \
    --record "$D/alice.wav" --duration "$2" --report "$D/alice.json" \
    >"$D/$1.log" 2>&1 </dev/null
}

if [ "$BENCH_N" -gt 0 ]; then
  : >"$D/answers.txt"
  for i in $(seq 1 "$BENCH_N"); do
    rm -f "$D/alice.json"
    call_once "alice$i" 0.5 || { echo "call $i failed" >&2; continue; }
    echo "$(json_field "$D/alice.json" answer_ms) $(json_field "$D/alice.json" local_candidate)/$(json_field "$D/alice.json" remote_candidate) $(json_field "$D/alice.json" signaling)" >>"$D/answers.txt"
  done
  ok=$(wc -l <"$D/answers.txt")
  sort -n "$D/answers.txt" | awk -v c="$CASE" -v n="$BENCH_N" '
    { v[NR]=$1; pair[$2]++; sig[$3]++ }
    END {
      if (NR == 0) { printf "case=%s calls=%d answered=0\n", c, n; exit 1 }
      med = v[int((NR+1)/2)]; p95 = v[int(NR*0.95 + 0.999)]; if (p95 == "") p95 = v[NR]
      ps = ""; for (p in pair) ps = ps p "x" pair[p] " "
      ss = ""; for (s in sig) ss = ss s "x" sig[s] " "
      printf "case=%s calls=%d answered=%d dial_to_answer_ms median=%.0f p95=%.0f max=%.0f pairs=%s signaling=%s\n", c, n, NR, med, p95, v[NR], ps, ss
    }'
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
