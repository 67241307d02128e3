# Helpers the bench scripts share: sourced, never run. They expect `work` (a temporary folder)
# to be set, and keep the server they started in `server_pid`.

server_pid=
stop_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Fails unless nothing listens on the port yet: otherwise we would benchmark someone else's server.
require_free() {
  if port_open "$1"; then echo "port $1 is already in use; choose another with BENCH_*_PORT" >&2; exit 1; fi
}

# Polls until the server started last accepts connections, failing fast if it exits.
wait_for_port() {
  local deadline=$((SECONDS + 30))
  until port_open "$1"; do
    if ! kill -0 "$server_pid" 2>/dev/null; then echo "server exited before listening:" >&2; cat "$work/server.log" >&2; exit 1; fi
    if ((SECONDS >= deadline)); then echo "port $1 not accepting after 30 s" >&2; exit 1; fi
    sleep 0.05
  done
}

# Starts shikakud on defaults only (an empty config file, whatever ./shikaku.toml the caller has)
# with its data in DATA, on PORT, pinned to CPU (or anywhere when CPU is ""); extra environment
# as NAME=VALUE arguments.
start_shikakud() {
  local binary=$1 port=$2 data=$3 cpu=$4 pin=()
  shift 4
  [[ -n $cpu ]] && pin=(taskset -c "$cpu")
  : >"$work/shikaku.toml"
  env SHIKAKU_LOG=warn "$@" "${pin[@]}" "$binary" --config "$work/shikaku.toml" \
    --listen "127.0.0.1:$port" --data-dir "$data" >"$work/server.log" 2>&1 &
  server_pid=$!
  wait_for_port "$port"
}
