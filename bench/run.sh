#!/usr/bin/env bash
# Benchmarks shikakud against a bare tonic echo server under the same load, in one run, and
# checks the issue's targets. See bench/README.md. Needs Linux (/proc), taskset and jq.
set -euo pipefail
shopt -s inherit_errexit

DURATION=${BENCH_DURATION:-10}         # measured seconds per phase
WARMUP=${BENCH_WARMUP:-3}              # unmeasured seconds before each phase
ROUNDS=${BENCH_ROUNDS:-3}              # echo-then-shikakud rounds; the report takes medians
RATE=${BENCH_RATE:-20000}              # requests per second of the fixed-rate phase
CONNECTIONS=${BENCH_CONNECTIONS:-8}
CONCURRENCY=${BENCH_CONCURRENCY:-64}   # requests in flight in the saturation phase
RATE_IN_FLIGHT=${BENCH_RATE_IN_FLIGHT:-256}  # most requests in flight in the fixed-rate phase
SERVER_CPU=${BENCH_SERVER_CPU:-0}      # core the server is pinned to
LOAD_CPU=${BENCH_LOAD_CPU:-1}          # core the load generator is pinned to
ECHO_PORT=${BENCH_ECHO_PORT:-50551}
DAEMON_PORT=${BENCH_DAEMON_PORT:-50552}
# Another shikakud build to measure, e.g. an older commit's for an interleaved A/B.
SHIKAKUD=${BENCH_SHIKAKUD:-}
# Extra shikaku-load flags for both targets, e.g. "--number 4261" to check another person.
read -ra LOAD_ARGS <<<"${BENCH_LOAD_ARGS:-}"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$root/target/release
shikakud=${SHIKAKUD:-$bin/shikakud}
command -v jq >/dev/null || { echo "run.sh needs jq" >&2; exit 2; }

cargo build --release --manifest-path "$root/Cargo.toml" -p shikaku-bench -p shikaku-daemon

work=$(mktemp -d)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap 'stop_server; rm -rf "$work"' EXIT

load() {
  local target=$1 port=$2 in_flight=$3
  shift 3
  echo "  $target: ${*:-saturation}" >&2
  taskset -c "$LOAD_CPU" "$bin/shikaku-load" --target "$target" --addr "127.0.0.1:$port" \
    --server-pid "$server_pid" --connections "$CONNECTIONS" --concurrency "$in_flight" \
    --duration "$DURATION" --warmup "$WARMUP" "${LOAD_ARGS[@]}" "$@"
}

# Measures the server started last: idle RSS, then saturation, then the fixed rate.
measure() {
  local target=$1 port=$2 rss_kb saturation fixed
  rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")
  saturation=$(load "$target" "$port" "$CONCURRENCY")
  fixed=$(load "$target" "$port" "$RATE_IN_FLIGHT" --rate "$RATE")
  jq -cn --argjson rss "$rss_kb" --argjson s "$saturation" --argjson f "$fixed" \
    '{idle_rss_kb: $rss, saturation: $s, rate: $f}'
}

# One round: the echo, then shikakud on a fresh data directory, each started anew.
round() {
  local echo_json shikaku_json
  echo "round $1 of $ROUNDS: echo baseline" >&2
  require_free "$ECHO_PORT"
  taskset -c "$SERVER_CPU" "$bin/shikaku-echo" --listen "127.0.0.1:$ECHO_PORT" >"$work/server.log" 2>&1 &
  server_pid=$!
  wait_for_port "$ECHO_PORT"
  echo_json=$(measure echo "$ECHO_PORT")
  stop_server

  echo "round $1 of $ROUNDS: shikakud" >&2
  require_free "$DAEMON_PORT"
  rm -rf "$work/data" && mkdir "$work/data"
  start_shikakud "$shikakud" "$DAEMON_PORT" "$work/data" "$SERVER_CPU"
  shikaku_json=$(measure shikaku "$DAEMON_PORT")
  stop_server
  jq -cn --argjson e "$echo_json" --argjson s "$shikaku_json" '{echo: $e, shikaku: $s}'
}

# Not in a command substitution: the trap above must see the running server's pid.
for ((i = 1; i <= ROUNDS; i++)); do
  round "$i" >>"$work/rounds.jsonl"
done

# The store alone, on the server's core: the CPU one durably audited check costs before any
# gRPC or check work, at the saturation phase's concurrency (see bench/README.md).
taskset -c "$SERVER_CPU" "$bin/audit-floor" --writers "$CONCURRENCY" --durability full \
  --duration "$DURATION" --warmup "$WARMUP" >"$work/audit_floor.json"

# Every figure is the median over the rounds; each ratio is the median of the rounds' own
# ratios, so a noisy moment spoils one round, not the comparison.
mkdir -p "$root/bench/results"
jq -s \
  --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
  --argjson cores "$(nproc --all)" --arg kernel "$(uname -r)" --arg at "$(date -u +%FT%TZ)" \
  --argjson duration "$DURATION" --argjson warmup "$WARMUP" --argjson rate "$RATE" \
  --argjson concurrency "$CONCURRENCY" --argjson in_flight "$RATE_IN_FLIGHT" \
  --slurpfile floor "$work/audit_floor.json" '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  . as $rounds |
  def m(f): [$rounds[] | f] | median;
  def side(s): {idle_rss_kb: m(.[s].idle_rss_kb)} + (reduce ("saturation", "rate") as $phase ({};
      .[$phase] = (reduce ("rps", "server_cpu_util", "cpu_us_per_req", "p50_us", "p99_us") as $k ({};
        .[$k] = m(.[s][$phase][$k])))));
  {
    at: $at,
    machine: {cpu: $cpu, cores: $cores, kernel: $kernel},
    settings: {rounds: ($rounds | length), duration_s: $duration, warmup_s: $warmup, rate: $rate,
               concurrency: $concurrency, rate_in_flight: $in_flight},
    echo: side("echo"),
    shikaku: side("shikaku"),
    ratios: {
      throughput: m(.shikaku.saturation.rps / .echo.saturation.rps),
      cpu_per_req: m(.shikaku.rate.cpu_us_per_req / .echo.rate.cpu_us_per_req),
      p99_at_rate: m(.shikaku.rate.p99_us / .echo.rate.p99_us)
    },
    idle_rss_mb: (m(.shikaku.idle_rss_kb) / 1024),
    audit_floor: $floor[0],
    rounds: $rounds
  }
  | .targets = {
      throughput: (.ratios.throughput >= 0.8),
      cpu_per_req: (.ratios.cpu_per_req <= 1.25),
      p99_at_rate: (.ratios.p99_at_rate <= 1.5),
      idle_rss: (.idle_rss_mb < 30)
    }' "$work/rounds.jsonl" >"$root/bench/results/latest.json"

echo "medians of $ROUNDS rounds:"
jq -r '
  def r(n): . * n | round / n;
  def ok(b): if b then "met" else "MISSED" end;
  . as $x | .echo as $e | .shikaku as $s |
  ["metric", "echo", "shikakud", "shikakud/echo", "target"],
  ["requests/s at saturation", ($e.saturation.rps | r(10)), ($s.saturation.rps | r(10)), ($x.ratios.throughput | r(100)), ">= 0.8 \(ok($x.targets.throughput))"],
  ["server CPU cores used at saturation", ($e.saturation.server_cpu_util | r(1000)), ($s.saturation.server_cpu_util | r(1000)), "", ""],
  ["CPU us/request at \($x.settings.rate)/s", ($e.rate.cpu_us_per_req | r(10)), ($s.rate.cpu_us_per_req | r(10)), ($x.ratios.cpu_per_req | r(100)), "<= 1.25 \(ok($x.targets.cpu_per_req))"],
  ["CPU us/request at saturation", ($e.saturation.cpu_us_per_req | r(10)), ($s.saturation.cpu_us_per_req | r(10)), ($s.saturation.cpu_us_per_req / $e.saturation.cpu_us_per_req | r(100)), ""],
  ["p50 us at \($x.settings.rate)/s", ($e.rate.p50_us | round), ($s.rate.p50_us | round), ($s.rate.p50_us / $e.rate.p50_us | r(100)), ""],
  ["p99 us at \($x.settings.rate)/s", ($e.rate.p99_us | round), ($s.rate.p99_us | round), ($x.ratios.p99_at_rate | r(100)), "<= 1.5 \(ok($x.targets.p99_at_rate))"],
  ["p50 us at saturation", ($e.saturation.p50_us | round), ($s.saturation.p50_us | round), ($s.saturation.p50_us / $e.saturation.p50_us | r(100)), ""],
  ["p99 us at saturation", ($e.saturation.p99_us | round), ($s.saturation.p99_us | round), ($s.saturation.p99_us / $e.saturation.p99_us | r(100)), ""],
  ["idle RSS MB", ($e.idle_rss_kb / 1024 | r(10)), ($x.idle_rss_mb | r(10)), "", "< 30 MB \(ok($x.targets.idle_rss))"]
  | @tsv' "$root/bench/results/latest.json" | column -t -s $'\t'
jq -r '
  def each(f): [.rounds[] | f * 100 | round / 100 | tostring] | join(" ");
  "per round, shikakud/echo: throughput \(each(.shikaku.saturation.rps / .echo.saturation.rps)); " +
  "CPU/request \(each(.shikaku.rate.cpu_us_per_req / .echo.rate.cpu_us_per_req)); " +
  "p99 \(each(.shikaku.rate.p99_us / .echo.rate.p99_us))"' "$root/bench/results/latest.json"
jq -r '
  (.echo.saturation.cpu_us_per_req * (1 / 0.8 - 1) * 10 | round / 10) as $budget |
  "the throughput target leaves \($budget) us/request beyond the echo; the store alone spends " +
  "\(.audit_floor.cpu_us_per_line) us on each durably audited check at \(.audit_floor.writers) in flight (audit-floor)"
  ' "$root/bench/results/latest.json"
echo "results: bench/results/latest.json"

# A missed target fails the run, so it can gate CI.
jq -e '.targets | all' "$root/bench/results/latest.json" >/dev/null
