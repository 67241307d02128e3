#!/usr/bin/env bash
# The soak of issue 14: a release shikakud on its defaults, first measured at saturation for its
# peak of checks by insurance numbers, then held for BENCH_SOAK_SECONDS (10 minutes) at 80 % of
# that peak while kiosks check in, receipt computers watch the list (reconnecting every minute)
# and a bulk job of 200 patients runs every minute. Memory is sampled every 10 s; at the end
# every acknowledged check-in must be on the list and have reached every watcher, and every bulk
# job must have a result per patient. Writes bench/results/soak.json. Needs Linux, taskset, jq.
set -euo pipefail
shopt -s inherit_errexit

SECONDS_TO_SOAK=${BENCH_SOAK_SECONDS:-600}
LOAD_SHARE=${BENCH_SOAK_SHARE:-0.8}   # of the measured peak
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
PORT=${BENCH_DAEMON_PORT:-50554}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$root/target/release
command -v jq >/dev/null || { echo "soak.sh needs jq" >&2; exit 2; }
cargo build --release --manifest-path "$root/Cargo.toml" -p shikaku-bench -p shikaku-daemon

work=$(mktemp -d)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap 'stop_server; rm -rf "$work"' EXIT

require_free "$PORT"
mkdir "$work/data"
start_shikakud "$bin/shikakud" "$PORT" "$work/data" "$SERVER_CPU"
echo "peak: 10 s of checks by insurance numbers at saturation" >&2
peak=$(taskset -c "$LOAD_CPU" "$bin/shikaku-load" --target shikaku --addr "127.0.0.1:$PORT" \
  --server-pid "$server_pid" --duration 10 --warmup 3 | jq '.rps')
rate=$(jq -n --argjson p "$peak" --argjson s "$LOAD_SHARE" '$p * $s | floor')
echo "soak: ${SECONDS_TO_SOAK}s at $rate checks/s ($LOAD_SHARE of $peak), with check-ins, watches and bulk jobs" >&2
status=0
report=$(taskset -c "$LOAD_CPU" "$bin/shikaku-soak" --addr "127.0.0.1:$PORT" \
  --server-pid "$server_pid" --duration "$SECONDS_TO_SOAK" --rate "$rate") || status=$?
stop_server

mkdir -p "$root/bench/results"
jq -n --argjson r "$report" --argjson peak "$peak" \
  --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
  '{at: (now | todate), cpu: $cpu, peak_rps: $peak} + $r' >"$root/bench/results/soak.json"
jq -r '"checks \(.checks.ok) ok, \(.checks.failed) failed at \(.checks.rate_per_s)/s (p99 \(.checks.p99_ms) ms, the VM stealing \([.steal_pct[][1]] | add / length | . * 10 | round / 10) % of the CPU); check-ins \(.check_ins.acknowledged); bulk \(.bulk.jobs) jobs, \(.bulk.rows) rows; RSS \(.rss_mib.first) → \(.rss_mib.last) MiB (halves max \(.rss_mib.first_half_max) / \(.rss_mib.second_half_max)); nothing lost: \(.nothing_lost)"' \
  "$root/bench/results/soak.json"
exit "$status"
