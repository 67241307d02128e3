#!/usr/bin/env bash
# Instructions shikakud executes per check by insurance numbers, counted by valgrind's callgrind:
# exact and repeatable, whatever else the machine is doing (this VM has no hardware counters, and
# timings on 2 busy cores drift by more than the differences we look for). Counts the echo
# baseline too, and any other shikakud builds given as arguments, for an A/B of builds:
#
#     bench/instructions.sh [OTHER_SHIKAKUD ...]
#
# Each server runs under callgrind; after 5 s of warm-up its counters are zeroed, then
# BENCH_IR_SECONDS (10) at BENCH_IR_RATE (100/s) are counted and dumped. Writes bench/results/
# instructions.json and leaves each callgrind profile in bench/results/callgrind/ for
# `callgrind_annotate` (where the instructions go, function by function). Needs valgrind and jq.
set -euo pipefail
shopt -s inherit_errexit

RATE=${BENCH_IR_RATE:-100}
SECONDS_COUNTED=${BENCH_IR_SECONDS:-10}
PORT=${BENCH_DAEMON_PORT:-50555}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$root/target/release
for tool in valgrind callgrind_control jq; do
  command -v "$tool" >/dev/null || { echo "instructions.sh needs $tool" >&2; exit 2; }
done
# BENCH_SKIP_BUILD=1 counts the release binaries as they are (built from an earlier commit).
[[ -n ${BENCH_SKIP_BUILD:-} ]] ||
  cargo build --release --manifest-path "$root/Cargo.toml" -p shikaku-bench -p shikaku-daemon

work=$(mktemp -d)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap 'stop_server; rm -rf "$work"' EXIT
out=$root/bench/results/callgrind
mkdir -p "$out"

load() {
  "$bin/shikaku-load" --target "$1" --addr "127.0.0.1:$PORT" --connections 1 --concurrency 8 \
    --rate "$RATE" --duration "$2" --warmup 0
}

# Counts one server: NAME TARGET COMMAND...
count() {
  local name=$1 target=$2 measured
  shift 2
  require_free "$PORT"
  rm -rf "$work/data" "$out/$name".out* && mkdir "$work/data"
  : >"$work/shikaku.toml"
  SHIKAKU_LOG=warn valgrind --tool=callgrind \
    --callgrind-out-file="$out/$name.out" "$@" >"$work/server.log" 2>&1 &
  server_pid=$!
  local deadline=$((SECONDS + 300))
  until port_open "$PORT"; do
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    ((SECONDS < deadline)) || { echo "$name not listening after 300 s" >&2; exit 1; }
    sleep 0.2
  done
  echo "  $name: warm-up" >&2
  load "$target" 5 >/dev/null
  callgrind_control -z "$server_pid" >/dev/null 2>&1
  measured=$(load "$target" "$SECONDS_COUNTED")
  callgrind_control -d "$server_pid" >/dev/null 2>&1
  stop_server
  # The dump asked for is part 1 (since the zeroing); the one at exit holds the shutdown.
  local ir
  mv "$out/$name.out.1" "$work/part" && rm -f "$out/$name".out* && mv "$work/part" "$out/$name.out"
  ir=$(awk '/^summary:/ {print $2}' "$out/$name.out")
  echo "  $name: $ir instructions" >&2
  jq -cn --arg name "$name" --argjson ir "$ir" --argjson m "$measured" \
    '{name: $name, requests: $m.requests, errors: $m.errors, instructions: $ir,
      per_request: ($ir / $m.requests | floor)}'
}

{
  count echo echo "$bin/shikaku-echo" --listen "127.0.0.1:$PORT"
  count head shikaku "$bin/shikakud" --config "$work/shikaku.toml" --listen "127.0.0.1:$PORT" \
    --data-dir "$work/data"
  for other in "$@"; do
    count "$(basename "$other")" shikaku "$other" --config "$work/shikaku.toml" \
      --listen "127.0.0.1:$PORT" --data-dir "$work/data"
  done
} >"$work/counts.jsonl"

jq -s '(.[] | select(.name == "echo") | .per_request) as $echo
  | {at: (now | todate), rate: '"$RATE"', seconds: '"$SECONDS_COUNTED"',
     servers: map(. + {ratio_to_echo: ((.per_request / $echo * 100 | round) / 100)})}' \
  "$work/counts.jsonl" | tee "$root/bench/results/instructions.json"
