#!/bin/bash
# Self-test of the NAT testbed: checks that the namespaces really behave like the NATs they claim
# to be, that the impairments work and that the services come up. Prints the measured figures.
#
# usage: selftest.sh UDP_PROBE [NFQ_DELAY]
#   NFQ_DELAY may be empty: the delay checks are then skipped (loss checks still run).
# Exit 0 pass, 1 fail, 77 skip (not root / tools missing).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROBE=${1:-}
export NETBED_NFQ_DELAY=${2:-}
# shellcheck source=netbed.sh
source "$HERE/netbed.sh"

if [[ ! -x "$PROBE" ]]; then
    echo "usage: selftest.sh UDP_PROBE [NFQ_DELAY] (udp_probe not executable: '$PROBE')"
    exit 1
fi
netbed_require ""
netbed_trap

fail() {
    echo "FAIL: $*"
    exit 1
}
pass() { echo "ok: $*"; }

# kv KEY LINE: value of KEY=... in a udp_probe output line.
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' <<<"$2"; }

# probe HOST MODE ARGS...: runs udp_probe in HOST; output in $OUT, exit status in $RC.
probe() {
    local h=$1
    shift
    RC=0
    OUT=$(netbed_exec "$h" "$PROBE" "$@") || RC=$?
    echo "  [$h] udp_probe $* -> rc=$RC"
    sed 's/^/    /' <<<"$OUT"  # indent
}

echo_srv() {  # echo_srv HOST IP:PORT NAME
    netbed_bg "$1" "$3" "$PROBE" echo --bind "$2"
    netbed_wait_log "$3" '^ready' 10 || fail "echo server $3 did not start"
}

T0=$SECONDS
netbed_up || fail "netbed_up"
SRV=$(netbed_ip srv)
echo "topology up in $((SECONDS - T0)) s (dir $NETBED_DIR)"

# --- services -------------------------------------------------------------------------------
netbed_start_turn || fail "turnserver did not start"
netbed_start_dht || fail "dhtnode did not start"
socks=$(netbed_exec srv ss -Hlun)
grep -q "$SRV:3478 " <<<"$socks" || fail "nothing bound to $SRV:3478"
grep -Eq ":4222 " <<<"$socks" || fail "nothing bound to :4222"
pass "turnserver on $NETBED_TURN and dhtnode on $NETBED_DHT (net $NETBED_DHT_NETID) are bound"

probe cone1a stun --bind 192.168.1.2:42000 --to "$NETBED_TURN"
[[ $RC -eq 0 ]] || fail "no STUN answer from coturn to cone1a"
[[ $(kv mapped "$OUT") == 203.0.113.2:42000 ]] || fail "cone1a STUN mapped $(kv mapped "$OUT")"
pass "STUN from cone1a: XOR-MAPPED-ADDRESS $(kv mapped "$OUT")"
probe sym1a stun --to "$NETBED_TURN"
[[ $RC -eq 0 && $(kv mapped "$OUT") == 203.0.113.4:* ]] ||
    fail "sym1a STUN mapped '$(kv mapped "$OUT")'"
pass "STUN from sym1a: XOR-MAPPED-ADDRESS $(kv mapped "$OUT")"

# --- mapping behaviour ----------------------------------------------------------------------
echo_srv srv "$SRV:7000" echo7000
echo_srv srv "$SRV:7001" echo7001
echo_srv pubA "$(netbed_ip pubA):7000" echoA

probe cone1a ask --bind 192.168.1.2:41000 --to "$SRV:7000" --to "$SRV:7001" --count 2
[[ $RC -eq 0 ]] || fail "cone1a cannot reach the echo servers"
maps=$(kv mapped "$OUT" | sort -u)
[[ "$maps" == 203.0.113.2:41000 ]] || fail "cone NAT mapping not endpoint-independent: $maps"
pass "cone1a -> 2 destinations: one mapping $maps (= local port, endpoint-independent)"

probe cone2a ask --bind 192.168.1.2:41000 --to "$SRV:7000" --count 2
[[ $RC -eq 0 && $(kv mapped "$OUT") == 203.0.113.3:41000 ]] ||
    fail "cone2a (same private address as cone1a) mapped $(kv mapped "$OUT")"
pass "cone2a (also 192.168.1.2) maps to $(kv mapped "$OUT")"

probe sym1a ask --bind 10.0.0.2:41000 --to "$SRV:7000" --to "$SRV:7001" \
    --to "$(netbed_ip pubA):7000" --count 2
[[ $RC -eq 0 ]] || fail "sym1a cannot reach the echo servers"
maps=$(kv mapped "$OUT")
ips=$(cut -d: -f1 <<<"$maps" | sort -u)
nports=$(cut -d: -f2 <<<"$maps" | sort -u | wc -l)
[[ "$ips" == 203.0.113.4 ]] || fail "symmetric NAT public address: $ips"
# --random-fully picks a random port per destination; 3 equal ports by chance is ~1e-9.
((nports >= 2)) || fail "symmetric NAT reused one port for all destinations: $maps"
pass "sym1a -> 3 destinations: ${maps//$'\n'/ } ($nports distinct ports)"

# --- filtering ------------------------------------------------------------------------------
# cone1a opens a mapping 192.168.1.2:40000 -> 203.0.113.2:40000 towards srv:7002 (nobody
# listens there), then serves on that port. Only srv:7002 may get in.
probe cone1a ask --bind 192.168.1.2:40000 --to "$SRV:7002" --count 1 --timeout-ms 200
echo_srv cone1a 192.168.1.2:40000 echo_c1a
probe pubA ask --bind "$(netbed_ip pubA):7002" --to 203.0.113.2:40000 --count 3 \
    --interval-ms 50 --timeout-ms 500
[[ $RC -eq 2 && $(kv received "$OUT") == 0 ]] || fail "unsolicited packet from pubA got in"
probe srv ask --bind "$SRV:7003" --to 203.0.113.2:40000 --count 3 --interval-ms 50 \
    --timeout-ms 500
[[ $RC -eq 2 && $(kv received "$OUT") == 0 ]] ||
    fail "packet from srv's other port got in (filtering is not port-dependent)"
probe pubA ask --to 192.168.1.2:40000 --count 2 --interval-ms 50 --timeout-ms 300
[[ $RC -eq 2 ]] || fail "a public host reached a private address"
probe srv ask --bind "$SRV:7002" --to 203.0.113.2:40000 --count 3 --interval-ms 50
[[ $RC -eq 0 && $(kv mapped "$OUT") == "$SRV:7002" ]] ||
    fail "the contacted peer srv:7002 could not come back in through the mapping"
pass "filtering: pubA and srv:7003 blocked, srv:7002 (the contacted endpoint) gets in"
netbed_stop echo_c1a

# --- LAN ------------------------------------------------------------------------------------
echo_srv cone1b 192.168.1.3:7000 echo_c1b
probe cone1a ask --bind 192.168.1.2:41001 --to 192.168.1.3:7000 --count 3 --interval-ms 20
[[ $RC -eq 0 && $(kv mapped "$OUT") == 192.168.1.2:41001 ]] ||
    fail "cone1a <-> cone1b not direct: $(kv mapped "$OUT")"
pass "cone1a reaches cone1b directly (seen as $(kv mapped "$OUT"))"

# --- impairments ----------------------------------------------------------------------------
probe cone1a ask --to "$SRV:7000" --count 10 --interval-ms 20
[[ $RC -eq 0 ]] || fail "baseline probe failed"
base=$(kv rtt_ms_median "$OUT")
if [[ -n "$NETBED_NFQ_DELAY" ]]; then
    netbed_impair rcone1 50 0 || fail "netbed_impair rcone1 50 0"
    probe cone1a ask --to "$SRV:7000" --count 10 --interval-ms 20 --timeout-ms 2000
    [[ $RC -eq 0 && $(kv received "$OUT") == 10 ]] || fail "delay lost packets"
    rtt=$(kv rtt_ms_median "$OUT")
    awk -v r="$rtt" 'BEGIN { exit !(r >= 80) }' || fail "RTT with 50 ms delay is only $rtt ms"
    pass "rcone1 delay 50 ms: RTT cone1a->srv ${base} ms -> ${rtt} ms"

    netbed_impair pubA 30 0 || fail "netbed_impair pubA 30 0"
    probe pubA ask --to "$SRV:7000" --count 5 --interval-ms 20 --timeout-ms 2000
    rttA=$(kv rtt_ms_median "$OUT")
    if [[ $RC -ne 0 ]] || ! awk -v r="$rttA" 'BEGIN { exit !(r >= 50) }'; then
        fail "pubA host delay 30 ms: RTT $rttA ms"
    fi
    pass "pubA host delay 30 ms: RTT pubA->srv ${rttA} ms"
    netbed_impair pubA 0 0 || fail "netbed_impair pubA 0 0"
else
    echo "SKIPPED delay checks: no nfq_delay"
fi

netbed_impair rcone1 0 20 || fail "netbed_impair rcone1 0 20"
probe cone1a ask --to "$SRV:7000" --count 100 --interval-ms 5 --timeout-ms 1000
got=$(kv received "$OUT")
# Each direction drops 20%: expect ~64 of 100 back (sd ~5).
((got > 20 && got < 90)) || fail "20% loss each way: $got of 100 came back"
pass "rcone1 loss 20%/direction: $got of 100 probes answered (expected ~64)"

netbed_impair rcone1 0 0 || fail "netbed_impair rcone1 0 0"
probe cone1a ask --to "$SRV:7000" --count 20 --interval-ms 5
[[ $RC -eq 0 && $(kv received "$OUT") == 20 ]] || fail "impairment not removed"
pass "impairment removed: 20 of 20 answered, RTT $(kv rtt_ms_median "$OUT") ms"

# --- teardown -------------------------------------------------------------------------------
netbed_down
left=$(ip netns list | awk '{ print $1 }' | grep -Fx -f <(netbed__all_ns) || true)
[[ -z "$left" ]] || fail "namespaces left after netbed_down: $left"
netbed_down  # second call must be harmless
pass "netbed_down removed every ${NETBED_PREFIX}* namespace"
echo "PASS (total $((SECONDS - T0)) s)"
