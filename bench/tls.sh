#!/usr/bin/env bash
# What TLS 1.3 with client certificates and the auth layer cost on CheckByInsuranceNumbers: the
# same daemon build, plaintext on loopback (role `local`) against mutual TLS (a `reception`
# certificate), alternated in rounds in one run, with each ratio the median of the rounds' own.
# Needs Linux (/proc), taskset and jq. See bench/README.md.
set -euo pipefail
shopt -s inherit_errexit

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
ROUNDS=${BENCH_ROUNDS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-8}
CONCURRENCY=${BENCH_CONCURRENCY:-64}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
PORT=${BENCH_DAEMON_PORT:-50553}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$root/target/release
command -v jq >/dev/null || { echo "tls.sh needs jq" >&2; exit 2; }
cargo build --release --manifest-path "$root/Cargo.toml" -p shikaku-bench -p shikaku-daemon -p shikaku-cli

work=$(mktemp -d)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap 'stop_server; rm -rf "$work"' EXIT

# One daemon on a fresh data directory, with (tls) or without (plain) the facility's certificates.
run_one() {
  local mode=$1 data=$work/$1-data tls_args=()
  rm -rf "$data" && mkdir -p "$data"
  if [[ $mode == tls ]]; then
    "$bin/shikaku" tls init --data-dir "$data" --host localhost >/dev/null
    "$bin/shikaku" tls client bench --role reception --out "$work/client" --data-dir "$data" >/dev/null
    tls_args=(--tls "$work/client")
  fi
  start_shikakud "$bin/shikakud" "$PORT" "$data" "$SERVER_CPU"
  echo "  $mode" >&2
  taskset -c "$LOAD_CPU" "$bin/shikaku-load" --target shikaku --addr "127.0.0.1:$PORT" \
    --server-pid "$server_pid" --connections "$CONNECTIONS" --concurrency "$CONCURRENCY" \
    --duration "$DURATION" --warmup "$WARMUP" "${tls_args[@]}"
  stop_server
  rm -rf "$work/client"
}

for ((i = 1; i <= ROUNDS; i++)); do
  echo "round $i of $ROUNDS" >&2
  plain=$(run_one plain)
  tls=$(run_one tls)
  jq -cn --argjson p "$plain" --argjson t "$tls" '{plain: $p, tls: $t}' >>"$work/rounds.jsonl"
done

mkdir -p "$root/bench/results"
jq -s '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  . as $r | def m(f): [$r[] | f] | median;
  {
    at: (now | todate),
    plain: {rps: m(.plain.rps), cpu_us_per_req: m(.plain.cpu_us_per_req), p99_us: m(.plain.p99_us)},
    tls: {rps: m(.tls.rps), cpu_us_per_req: m(.tls.cpu_us_per_req), p99_us: m(.tls.p99_us)},
    ratios: {
      throughput: m(.tls.rps / .plain.rps),
      cpu_per_req: m(.tls.cpu_us_per_req / .plain.cpu_us_per_req),
      p99: m(.tls.p99_us / .plain.p99_us)
    },
    rounds: $r
  }' "$work/rounds.jsonl" >"$root/bench/results/tls.json"
jq -r '"medians of \(.rounds | length) rounds, TLS+auth / plaintext on CheckByInsuranceNumbers at saturation:",
  "  requests/s   \(.plain.rps | round) -> \(.tls.rps | round)   ratio \(.ratios.throughput * 100 | round / 100)",
  "  CPU us/req   \(.plain.cpu_us_per_req) -> \(.tls.cpu_us_per_req)   ratio \(.ratios.cpu_per_req * 100 | round / 100)",
  "  p99 us       \(.plain.p99_us | round) -> \(.tls.p99_us | round)   ratio \(.ratios.p99 * 100 | round / 100)"' \
  "$root/bench/results/tls.json"
