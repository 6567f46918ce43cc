# Shared by node/demo.sh and tests/e2e: start a private overlay on 127.0.0.1.
# Source it, set P2PSIP_BIN, call overlay_init DIR, then the start_* functions.
# Everything started is killed by overlay_cleanup (installed as an EXIT trap).

overlay_init() {
  OVERLAY_DIR=$1
  mkdir -p "$OVERLAY_DIR"
  OVERLAY_PIDS=()
  # A random private network id keeps this overlay apart from the public one and from
  # other runs on the same machine.
  OVERLAY_NETID=$(( (RANDOM << 15 | RANDOM) + 1000 ))
  trap overlay_cleanup EXIT
}

overlay_cleanup() {
  local pid
  for pid in "${OVERLAY_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${OVERLAY_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  OVERLAY_PIDS=()
}

# Starts OpenDHT's own dhtnode as the bootstrap node; sets BOOTSTRAP=127.0.0.1:PORT.
start_bootstrap() {
  local port try
  for try in 1 2 3 4 5; do
    port=$(( 20000 + RANDOM % 30000 ))
    dhtnode -s -n "$OVERLAY_NETID" -p "$port" >"$OVERLAY_DIR/dhtnode.log" 2>&1 </dev/null &
    local pid=$!
    sleep 0.5
    if kill -0 "$pid" 2>/dev/null; then
      OVERLAY_PIDS+=("$pid")
      BOOTSTRAP=127.0.0.1:$port
      return 0
    fi
  done
  echo "could not start dhtnode (see $OVERLAY_DIR/dhtnode.log)" >&2
  return 1
}

# node_args NAME: the common arguments for sip:NAME@example.org (its own data dir, any
# free ports or SIP on $NODE_SIP_PORT, this overlay), in the array NODE_ARGS.
node_args() {
  NODE_ARGS=(node --user "sip:$1@example.org" --data-dir "$OVERLAY_DIR/$1" --sip-port "${NODE_SIP_PORT:-0}"
             --dht-port 0 --bootstrap "$BOOTSTRAP" --network-id "$OVERLAY_NETID" --console false)
}

# start_node NAME [extra p2psip node args...]: runs the node in the background (killed by
# overlay_cleanup), logs in $OVERLAY_DIR/NAME.{out,err}.
start_node() {
  local name=$1; shift
  node_args "$name"
  "$P2PSIP_BIN" "${NODE_ARGS[@]}" "$@" >"$OVERLAY_DIR/$name.out" 2>"$OVERLAY_DIR/$name.err" </dev/null &
  OVERLAY_PIDS+=("$!")
}

# wait_for_log FILE PATTERN [SECONDS]
wait_for_log() {
  local file=$1 pattern=$2 limit=${3:-30} i
  for i in $(seq $((limit * 10))); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$pattern' in $file" >&2
  return 1
}

# run_node NAME [args...]: the same in the foreground (for --call); returns its exit status.
run_node() {
  local name=$1; shift
  node_args "$name"
  "$P2PSIP_BIN" "${NODE_ARGS[@]}" "$@" >"$OVERLAY_DIR/$name.out" 2>"$OVERLAY_DIR/$name.err" </dev/null
}
