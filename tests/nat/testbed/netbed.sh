# shellcheck shell=bash
# netbed.sh - a NAT testbed built from Linux network namespaces. Source it from a bash test:
#
#     source tests/nat/testbed/netbed.sh
#     netbed_require [nfq]       # exit 77 (ctest skip) unless root and the tools are there
#     netbed_trap                # tear everything down on EXIT/INT/TERM
#     netbed_up                  # build the topology below
#     netbed_start_dht; netbed_start_turn
#     netbed_bg cone1a alice ./p2psip ...     # background process in a host, log in $NETBED_DIR
#     netbed_wait_log alice 'registered' 20
#
# Needs root, iproute2, iptables (nft backend is fine), coturn's turnserver, dhtnode. Nothing is
# created in the caller's network namespace; all traffic stays inside the namespaces made here.
#
# Topology. "The internet" is 203.0.113.0/24 on bridge br0 inside namespace ${P}pub (which has
# no address of its own). ${P} is $NETBED_PREFIX (default "nb"); host names below are the
# namespace names without the prefix, and every function takes those short names.
#
#   host     address          role
#   srv      203.0.113.10     services: OpenDHT bootstrap (dhtnode, :4222), coturn (:3478)
#   pubA     203.0.113.21     public host, no NAT
#   pubB     203.0.113.22     public host, no NAT
#   rcone1   203.0.113.2      NAT router, "cone": MASQUERADE (endpoint-independent mapping,
#                             keeps the source port when free; address+port-dependent filtering)
#   rcone2   203.0.113.3      same kind of router
#   rsym1    203.0.113.4      NAT router, symmetric: MASQUERADE --random-fully (new random
#                             port per destination)
#   rsym2    203.0.113.5      same kind of router
#   cone1a   192.168.1.2      behind rcone1 (LAN 192.168.1.0/24, router 192.168.1.1)
#   cone1b   192.168.1.3      behind rcone1, same LAN as cone1a
#   cone2a   192.168.1.2      behind rcone2 (deliberately the same private subnet as rcone1's)
#   sym1a    10.0.0.2         behind rsym1 (LAN 10.0.0.0/24, router 10.0.0.1)
#   sym2a    10.0.0.2         behind rsym2
#
# Interfaces: public hosts "eth0", routers "wan0" (public) and bridge "lan0" (LAN), LAN hosts
# "eth0". Public hosts and routers have 203.0.113.0/24 on-link plus an on-link default route
# (so "which source address would I use" lookups work; unknown destinations just fail ARP
# inside ${P}pub). LAN hosts have a default route via their router. Nothing routes from the
# public net into a LAN. Loopback is up everywhere. IPv6 is disabled on the veth/bridge
# interfaces (lo keeps ::1) unless NETBED_IPV6=1.
#
# Environment (inputs):
#   NETBED_PREFIX     namespace prefix (default "nb"); only the exact names above are touched
#   NETBED_NFQ_DELAY  path of the nfq_delay binary (needed for netbed_impair with delay > 0)
#   NETBED_KEEP=1     keep $NETBED_DIR on teardown (its path is printed)
#   NETBED_DIR        if set before netbed_up, used (and never deleted) instead of a mktemp dir
#   NETBED_DHT_NETID  OpenDHT network id for netbed_start_dht (default 4242)
#   NETBED_IPV6=1     leave IPv6 enabled on the testbed interfaces
# Exported by the functions:
#   NETBED_DIR        temp dir with logs (<name>.log) and pid files (<name>.pid)
#   NETBED_DHT        "203.0.113.10:4222" and NETBED_DHT_NETID, after netbed_start_dht
#   NETBED_TURN       "203.0.113.10:3478", NETBED_TURN_USER=p2psip, NETBED_TURN_PASS=testbed,
#                     NETBED_TURN_REALM=p2psip.test, after netbed_start_turn
#   NETBED_LAST_PID   pid of the last netbed_bg process
#
# Functions (return 0 on success, non-zero with a message on stderr otherwise):
#   netbed_require [nfq]         exit 77 with a reason unless root + ip/iptables/turnserver/
#                                dhtnode/ss exist and namespaces can be made; "nfq" also needs
#                                an executable $NETBED_NFQ_DELAY
#   netbed_up                    tear down leftovers with the same prefix, build the topology
#   netbed_down                  kill every process in the testbed namespaces, delete them,
#                                remove $NETBED_DIR (unless NETBED_KEEP=1); never fails, idempotent
#   netbed_trap                  trap: netbed_down on EXIT, and INT/TERM exit (running it too)
#   netbed_hosts                 print the host names, one per line
#   netbed_ns HOST               print the namespace name of HOST
#   netbed_exec HOST CMD...      run CMD inside HOST (ip netns exec), returns its status
#   netbed_ip HOST               print HOST's address (a router's WAN address)
#   netbed_lan_ip ROUTER         print a router's LAN address
#   netbed_router HOST           print the router a LAN host sits behind (nothing if public)
#   netbed_bg HOST NAME CMD...   start CMD in HOST in the background, stdout+stderr to
#                                $NETBED_DIR/NAME.log, pid in $NETBED_DIR/NAME.pid and
#                                NETBED_LAST_PID; stdin is /dev/null
#   netbed_stop NAME             SIGTERM the NAME process (SIGKILL after 3 s); ok if not running
#   netbed_wait_log NAME ERE [S] wait up to S s (default 10) for a line matching ERE in
#                                NAME.log; fails early if the process died
#   netbed_wait_udp HOST PORT [S]  wait up to S s (default 10) until a UDP socket is bound to
#                                PORT in HOST
#   netbed_start_dht             dhtnode bootstrap on srv 0.0.0.0:4222 (network NETBED_DHT_NETID)
#   netbed_start_turn            coturn on srv 203.0.113.10:3478 UDP+TCP, STUN+TURN, long-term
#                                credentials p2psip/testbed realm p2psip.test, relay 203.0.113.10
#   netbed_impair HOST DELAY_MS LOSS_PERCENT
#                                impair HOST's external link; replaces any earlier impairment of
#                                HOST, "0 0" removes it. On a router it applies to forwarded
#                                packets crossing wan0, on any other host to everything in/out of
#                                eth0 (for a LAN host that includes LAN traffic). DELAY_MS is added
#                                once per direction (RTT grows by 2*DELAY_MS), via nfq_delay;
#                                LOSS_PERCENT (may be fractional) is dropped independently in each
#                                direction (round trip survives with (1-p)^2).

NETBED_PREFIX=${NETBED_PREFIX:-nb}

# Host tables. declare -g so sourcing from inside a function still defines globals.
declare -gA NETBED__IP=(
    [srv]=203.0.113.10 [pubA]=203.0.113.21 [pubB]=203.0.113.22
    [rcone1]=203.0.113.2 [rcone2]=203.0.113.3 [rsym1]=203.0.113.4 [rsym2]=203.0.113.5
    [cone1a]=192.168.1.2 [cone1b]=192.168.1.3 [cone2a]=192.168.1.2
    [sym1a]=10.0.0.2 [sym2a]=10.0.0.2
)
declare -gA NETBED__LAN=([rcone1]=192.168.1.1 [rcone2]=192.168.1.1 [rsym1]=10.0.0.1 [rsym2]=10.0.0.1)
declare -gA NETBED__NAT=([rcone1]=cone [rcone2]=cone [rsym1]=sym [rsym2]=sym)
declare -gA NETBED__BEHIND=(
    [cone1a]=rcone1 [cone1b]=rcone1 [cone2a]=rcone2 [sym1a]=rsym1 [sym2a]=rsym2
)
# Fixed order; the index also gives each namespace its own NFQUEUE number.
NETBED__HOSTS=(srv pubA pubB rcone1 rcone2 rsym1 rsym2 cone1a cone1b cone2a sym1a sym2a)
NETBED__DIR_OWNED=0

netbed__log() { echo "[netbed] $*" >&2; }

netbed__all_ns() {
    local h
    echo "${NETBED_PREFIX}pub"
    for h in "${NETBED__HOSTS[@]}"; do echo "${NETBED_PREFIX}$h"; done
    echo "${NETBED_PREFIX}check"
}

netbed__known() {
    [[ -n "${1:-}" && -n "${NETBED__IP[$1]:-}" ]] || {
        netbed__log "unknown host '${1:-}' (one of: ${NETBED__HOSTS[*]})"
        return 1
    }
}

netbed_hosts() { printf '%s\n' "${NETBED__HOSTS[@]}"; }

netbed_ns() {
    netbed__known "${1:-}" || return 1
    echo "${NETBED_PREFIX}$1"
}

netbed_exec() {
    netbed__known "${1:-}" || return 1
    local h=$1
    shift
    ip netns exec "${NETBED_PREFIX}$h" "$@"
}

netbed_ip() {
    netbed__known "${1:-}" || return 1
    echo "${NETBED__IP[$1]}"
}

netbed_lan_ip() {
    [[ -n "${NETBED__LAN[${1:-}]:-}" ]] || {
        netbed__log "'${1:-}' is not a router"
        return 1
    }
    echo "${NETBED__LAN[$1]}"
}

netbed_router() {
    netbed__known "${1:-}" || return 1
    [[ -z "${NETBED__BEHIND[$1]:-}" ]] || echo "${NETBED__BEHIND[$1]}"
}

netbed_require() {
    local need_nfq=0 tool
    [[ "${1:-}" == nfq ]] && need_nfq=1
    if [[ $(id -u) -ne 0 ]]; then
        echo "SKIP: netbed needs root (network namespaces, iptables)"
        exit 77
    fi
    for tool in ip iptables turnserver dhtnode ss; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "SKIP: netbed needs '$tool'"
            exit 77
        fi
    done
    if [[ $need_nfq -eq 1 && ! -x "${NETBED_NFQ_DELAY:-}" ]]; then
        echo "SKIP: netbed needs nfq_delay (NETBED_NFQ_DELAY='${NETBED_NFQ_DELAY:-}')"
        exit 77
    fi
    local ns="${NETBED_PREFIX}check"
    ip netns del "$ns" >/dev/null 2>&1 || true
    if ! ip netns add "$ns" >/dev/null 2>&1; then
        echo "SKIP: cannot create network namespaces"
        exit 77
    fi
    if ! ip netns exec "$ns" iptables -w -t nat -A POSTROUTING -o lo -j MASQUERADE \
        >/dev/null 2>&1; then
        ip netns del "$ns" >/dev/null 2>&1 || true
        echo "SKIP: iptables NAT (MASQUERADE) is not usable in a namespace"
        exit 77
    fi
    ip netns del "$ns" >/dev/null 2>&1 || true
    return 0
}

netbed_down() {
    local ns pid pids any i
    local -a present=()
    for ns in $(netbed__all_ns); do
        [[ -e "/run/netns/$ns" ]] && present+=("$ns")
    done
    # Kill first (everything, so no process is left in a half-torn network), then delete.
    for ((i = 0; i < 30; i++)); do
        any=0
        for ns in "${present[@]}"; do
            pids=$(ip netns pids "$ns" 2>/dev/null) || continue
            for pid in $pids; do
                any=1
                if ((i < 20)); then
                    kill -TERM "$pid" 2>/dev/null || true
                else
                    kill -KILL "$pid" 2>/dev/null || true
                fi
            done
        done
        ((any)) || break
        sleep 0.1
    done
    for ns in "${present[@]}"; do
        ip netns del "$ns" >/dev/null 2>&1 || true
    done
    if [[ -n "${NETBED_DIR:-}" && "$NETBED__DIR_OWNED" == 1 && -d "$NETBED_DIR" ]]; then
        if [[ "${NETBED_KEEP:-0}" == 1 ]]; then
            netbed__log "kept $NETBED_DIR"
        else
            rm -rf -- "$NETBED_DIR"
        fi
        NETBED__DIR_OWNED=0
        unset NETBED_DIR
    fi
    return 0
}

netbed__on_exit() {
    local rc=$?
    netbed_down
    return $rc
}

netbed_trap() {
    trap netbed__on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# ip -n NS ... with a clear error.
netbed__ipn() {
    local ns=$1
    shift
    ip -n "$ns" "$@" || {
        netbed__log "failed: ip -n $ns $*"
        return 1
    }
}

netbed__sysctl() {
    ip netns exec "$1" sh -c "echo $3 > /proc/sys/$2" 2>/dev/null
}

netbed__new_ns() {
    local ns=$1
    ip netns add "$ns" || {
        netbed__log "cannot create namespace $ns"
        return 1
    }
    netbed__ipn "$ns" link set lo up || return 1
    if [[ "${NETBED_IPV6:-0}" != 1 ]]; then
        netbed__sysctl "$ns" net/ipv6/conf/default/disable_ipv6 1 || true
    fi
    return 0
}

netbed__ipt() {
    local ns=$1
    shift
    ip netns exec "$ns" iptables -w "$@" || {
        netbed__log "failed: iptables $* (in $ns)"
        return 1
    }
}

netbed_up() {
    netbed_down
    if [[ -z "${NETBED_DIR:-}" ]]; then
        NETBED_DIR=$(mktemp -d -t netbed.XXXXXX) || return 1
        NETBED__DIR_OWNED=1
    else
        mkdir -p "$NETBED_DIR" || return 1
    fi
    export NETBED_DIR
    local P=$NETBED_PREFIX pub="${NETBED_PREFIX}pub" h ns r ip wan
    netbed__new_ns "$pub" || return 1
    netbed__ipn "$pub" link add br0 type bridge forward_delay 0 || return 1
    netbed__ipn "$pub" link set br0 up || return 1
    # If br_netfilter is loaded, keep bridged frames out of iptables.
    netbed__sysctl "$pub" net/bridge/bridge-nf-call-iptables 0 || true

    for h in "${NETBED__HOSTS[@]}"; do
        netbed__new_ns "$P$h" || return 1
    done

    # Public side: srv, pubA, pubB and the routers' WANs hang off br0.
    for h in srv pubA pubB rcone1 rcone2 rsym1 rsym2; do
        ns=$P$h
        wan=eth0
        [[ -n "${NETBED__LAN[$h]:-}" ]] && wan=wan0
        netbed__ipn "$ns" link add "$wan" type veth peer name "w-$h" netns "$pub" || return 1
        netbed__ipn "$pub" link set "w-$h" master br0 up || return 1
        netbed__ipn "$ns" addr add "${NETBED__IP[$h]}/24" dev "$wan" || return 1
        netbed__ipn "$ns" link set "$wan" up || return 1
        netbed__ipn "$ns" route add default dev "$wan" || return 1
    done

    # Routers: LAN bridge, forwarding, NAT.
    for r in rcone1 rcone2 rsym1 rsym2; do
        ns=$P$r
        netbed__ipn "$ns" link add lan0 type bridge forward_delay 0 || return 1
        netbed__ipn "$ns" addr add "${NETBED__LAN[$r]}/24" dev lan0 || return 1
        netbed__ipn "$ns" link set lan0 up || return 1
        netbed__sysctl "$ns" net/bridge/bridge-nf-call-iptables 0 || true
        netbed__sysctl "$ns" net/ipv4/ip_forward 1 || {
            netbed__log "cannot enable forwarding in $ns"
            return 1
        }
        if [[ "${NETBED__NAT[$r]}" == sym ]]; then
            netbed__ipt "$ns" -t nat -A POSTROUTING -o wan0 -j MASQUERADE --random-fully ||
                return 1
        else
            netbed__ipt "$ns" -t nat -A POSTROUTING -o wan0 -j MASQUERADE || return 1
        fi
    done

    # LAN hosts.
    for h in cone1a cone1b cone2a sym1a sym2a; do
        ns=$P$h
        r=${NETBED__BEHIND[$h]}
        netbed__ipn "$ns" link add eth0 type veth peer name "l-$h" netns "$P$r" || return 1
        netbed__ipn "$P$r" link set "l-$h" master lan0 up || return 1
        netbed__ipn "$ns" addr add "${NETBED__IP[$h]}/24" dev eth0 || return 1
        netbed__ipn "$ns" link set eth0 up || return 1
        netbed__ipn "$ns" route add default via "${NETBED__LAN[$r]}" || return 1
    done
    netbed__log "up: prefix '$P', dir $NETBED_DIR"
    return 0
}

netbed_bg() {
    netbed__known "${1:-}" || return 1
    local h=$1 name=${2:-}
    [[ -n "$name" && -n "${NETBED_DIR:-}" ]] || {
        netbed__log "netbed_bg HOST NAME CMD... (after netbed_up)"
        return 1
    }
    shift 2
    ip netns exec "${NETBED_PREFIX}$h" "$@" >"$NETBED_DIR/$name.log" 2>&1 </dev/null &
    NETBED_LAST_PID=$!
    disown "$NETBED_LAST_PID" 2>/dev/null || true
    echo "$NETBED_LAST_PID" >"$NETBED_DIR/$name.pid"
    return 0
}

netbed_stop() {
    local name=${1:-} pid i
    [[ -n "${NETBED_DIR:-}" && -f "$NETBED_DIR/$name.pid" ]] || return 0
    pid=$(<"$NETBED_DIR/$name.pid")
    rm -f "$NETBED_DIR/$name.pid"
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 30; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    return 0
}

netbed_wait_log() {
    local name=${1:-} re=${2:-} secs=${3:-10} i pid=""
    local log="${NETBED_DIR:-/nonexistent}/$name.log"
    [[ -f "$NETBED_DIR/$name.pid" ]] && pid=$(<"$NETBED_DIR/$name.pid")
    for ((i = 0; i < secs * 20; i++)); do
        grep -Eq -- "$re" "$log" 2>/dev/null && return 0
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            grep -Eq -- "$re" "$log" 2>/dev/null && return 0
            netbed__log "$name exited before printing /$re/; log:"
            tail -n 20 "$log" >&2 2>/dev/null
            return 1
        fi
        sleep 0.05
    done
    netbed__log "timeout (${secs}s) waiting for /$re/ in $log; log:"
    tail -n 20 "$log" >&2 2>/dev/null
    return 1
}

netbed_wait_udp() {
    netbed__known "${1:-}" || return 1
    local h=$1 port=${2:-} secs=${3:-10} i
    for ((i = 0; i < secs * 20; i++)); do
        if ip netns exec "${NETBED_PREFIX}$h" ss -Hlun "sport = :$port" 2>/dev/null |
            grep -q .; then
            return 0
        fi
        sleep 0.05
    done
    netbed__log "timeout (${secs}s) waiting for UDP port $port in $h"
    return 1
}

netbed_start_dht() {
    local netid=${NETBED_DHT_NETID:-4242}
    # -s: service mode (no interactive prompt, so no stdin is needed; runs until SIGTERM).
    netbed_bg srv dhtnode dhtnode -s -p 4222 -n "$netid" || return 1
    netbed_wait_udp srv 4222 15 || {
        tail -n 20 "$NETBED_DIR/dhtnode.log" >&2
        return 1
    }
    export NETBED_DHT="${NETBED__IP[srv]}:4222" NETBED_DHT_NETID=$netid
    return 0
}

netbed_start_turn() {
    local ip=${NETBED__IP[srv]}
    # Runs as root (no --proc-user, so no privilege drop); -n: ignore any turnserver.conf;
    # the user is given on the command line, --userdb only points sqlite at a writable file.
    netbed_bg srv turnserver turnserver -n --no-cli --no-tls --no-dtls \
        -L "$ip" -E "$ip" -p 3478 -a -f -u p2psip:testbed -r p2psip.test -m 1 \
        --userdb "$NETBED_DIR/turndb" --pidfile "$NETBED_DIR/turnserver.pidfile" \
        --log-file "$NETBED_DIR/turnserver-internal.log" --simple-log || return 1
    netbed_wait_udp srv 3478 15 || {
        tail -n 20 "$NETBED_DIR/turnserver.log" >&2
        return 1
    }
    export NETBED_TURN="$ip:3478" NETBED_TURN_USER=p2psip NETBED_TURN_PASS=testbed \
        NETBED_TURN_REALM=p2psip.test
    return 0
}

netbed__index() {
    local i
    for i in "${!NETBED__HOSTS[@]}"; do
        [[ "${NETBED__HOSTS[$i]}" == "$1" ]] && {
            echo "$i"
            return 0
        }
    done
    return 1
}

netbed_impair() {
    netbed__known "${1:-}" || return 1
    local h=$1 delay=${2:-} loss=${3:-} ns="${NETBED_PREFIX}$1" dev=eth0 q prob hook
    if ! [[ "$delay" =~ ^[0-9]+$ && "$loss" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
        netbed__log "usage: netbed_impair HOST DELAY_MS LOSS_PERCENT (got '$delay' '$loss')"
        return 1
    fi
    if ! awk -v l="$loss" 'BEGIN { exit !(l <= 100) }'; then
        netbed__log "loss must be <= 100 (got $loss)"
        return 1
    fi
    q=$(($(netbed__index "$h") + 1))
    local -a hooks_mangle=(INPUT OUTPUT) hooks_filter=(INPUT OUTPUT)
    if [[ -n "${NETBED__LAN[$h]:-}" ]]; then
        dev=wan0
        hooks_mangle=(FORWARD)
        hooks_filter=(FORWARD)
    fi
    # Own chains, hooked once; each call flushes and refills them.
    for hook in "${hooks_mangle[@]}"; do
        ip netns exec "$ns" iptables -w -t mangle -N NETBED_DELAY 2>/dev/null || true
        ip netns exec "$ns" iptables -w -t mangle -C "$hook" -j NETBED_DELAY 2>/dev/null ||
            netbed__ipt "$ns" -t mangle -A "$hook" -j NETBED_DELAY || return 1
    done
    for hook in "${hooks_filter[@]}"; do
        ip netns exec "$ns" iptables -w -N NETBED_LOSS 2>/dev/null || true
        ip netns exec "$ns" iptables -w -C "$hook" -j NETBED_LOSS 2>/dev/null ||
            netbed__ipt "$ns" -A "$hook" -j NETBED_LOSS || return 1
    done
    netbed__ipt "$ns" -t mangle -F NETBED_DELAY || return 1
    netbed__ipt "$ns" -F NETBED_LOSS || return 1
    netbed_stop "nfq-$h"

    if ((delay > 0)); then
        if [[ ! -x "${NETBED_NFQ_DELAY:-}" ]]; then
            netbed__log "netbed_impair: delay needs NETBED_NFQ_DELAY (nfq_delay binary)"
            return 1
        fi
        netbed_bg "$h" "nfq-$h" "$NETBED_NFQ_DELAY" --queue "$q" --delay-ms "$delay" || return 1
        netbed_wait_log "nfq-$h" 'ready' 10 || return 1
        # --queue-bypass: should nfq_delay die, packets flow undelayed instead of vanishing.
        netbed__ipt "$ns" -t mangle -A NETBED_DELAY -i "$dev" \
            -j NFQUEUE --queue-num "$q" --queue-bypass || return 1
        netbed__ipt "$ns" -t mangle -A NETBED_DELAY -o "$dev" \
            -j NFQUEUE --queue-num "$q" --queue-bypass || return 1
    fi
    if awk -v l="$loss" 'BEGIN { exit !(l > 0) }'; then
        prob=$(awk -v l="$loss" 'BEGIN { printf "%.6f", l / 100 }')
        netbed__ipt "$ns" -A NETBED_LOSS -i "$dev" \
            -m statistic --mode random --probability "$prob" -j DROP || return 1
        netbed__ipt "$ns" -A NETBED_LOSS -o "$dev" \
            -m statistic --mode random --probability "$prob" -j DROP || return 1
    fi
    return 0
}
