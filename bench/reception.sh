#!/usr/bin/env bash
# Measures the two numbers issue 6 asks for, against the embedded simulator, release builds:
#   - the end-to-end time of one kiosk check-in (CheckIn with a PIN: card read, PIN, signature,
#     OQS answer, patient match, reception entry committed), over BENCH_CHECKINS sequential calls;
#   - the time of a 1,000-patient bulk query (一括照会) at the daemon's bulk concurrency, from
#     StartBulkCheck until every result is stored, as `shikaku bulk start` sees it.
# Writes bench/results/reception.json. Needs jq.
set -euo pipefail

CHECKINS=${BENCH_CHECKINS:-200}
PATIENTS=${BENCH_PATIENTS:-1000}
CONCURRENCY=${BENCH_BULK_CONCURRENCY:-8}
PORT=${BENCH_DAEMON_PORT:-50553}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$root/target/release
command -v jq >/dev/null || { echo "reception.sh needs jq" >&2; exit 2; }
cargo build --release --manifest-path "$root/Cargo.toml" \
  -p shikaku-daemon -p shikaku-cli -p shikaku-example-kiosk

work=$(mktemp -d)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap 'stop_server; rm -rf "$work"' EXIT
require_free "$PORT"
start_shikakud "$bin/shikakud" "$PORT" "$work/data" "" "SHIKAKU_BULK__CONCURRENCY=$CONCURRENCY"
addr=http://127.0.0.1:$PORT

checkin=$(SHIKAKU_PIN=1234 "$bin/shikaku-kiosk" --addr "$addr" --reader sim-taro --repeat "$CHECKINS")
echo "kiosk check-in: $checkin" >&2

# The fixture's people by numbers, cycled to the wanted length.
people=(
  "06130488,12-34,4260,01,1970-01-01" "06130488,12-34,4260,02,1972-05-15"
  "138057,千代田,1234567,00,1985-08-20" "01320027,5,88,00,1954-03-03"
  "33120015,7,301,00,1968-11-30" "06130488,20-1,555,01,1975-02-14"
  "06130488,40-4,404,01,1980-08-08" "06130488,50-5,505,01,1988-09-09"
)
{
  echo "key,insurer_number,symbol,number,branch,birth_date"
  for ((i = 0; i < PATIENTS; i++)); do echo "p$i,${people[i % ${#people[@]}]}"; done
} >"$work/patients.csv"
start=$(date +%s.%N)
"$bin/shikaku" --addr "$addr" bulk start --csv "$work/patients.csv" --out "$work/results.csv"
end=$(date +%s.%N)
checked=$(($(grep -c ',checked,' "$work/results.csv")))
bulk_s=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}')
echo "bulk: $PATIENTS patients, $checked checked, concurrency $CONCURRENCY, ${bulk_s}s" >&2

mkdir -p "$root/bench/results"
jq -n --arg checkin "$checkin" --argjson patients "$PATIENTS" --argjson checked "$checked" \
  --argjson concurrency "$CONCURRENCY" --argjson bulk_s "$bulk_s" \
  --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
  --argjson cores "$(nproc --all)" --arg at "$(date -u +%FT%TZ)" '
  {
    at: $at, machine: {cpu: $cpu, cores: $cores},
    kiosk_check_in: ($checkin | capture("check-ins=(?<n>[0-9]+) min=(?<min>[0-9.]+)ms median=(?<median>[0-9.]+)ms p95=(?<p95>[0-9.]+)ms max=(?<max>[0-9.]+)ms")
      | {calls: (.n | tonumber), min_ms: (.min | tonumber), median_ms: (.median | tonumber), p95_ms: (.p95 | tonumber), max_ms: (.max | tonumber)}),
    bulk: {patients: $patients, checked: $checked, concurrency: $concurrency, seconds: $bulk_s,
           patients_per_s: ($patients / $bulk_s)}
  }' | tee "$root/bench/results/reception.json"
