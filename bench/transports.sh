#!/usr/bin/env bash
# The latency each upstream transport adds over the embedded simulator, through shikakud, in one
# run (issue 5): CheckByInsuranceNumbers over gRPC against the embedded simulator, the folder
# plugin (terminal simulator on real folders) and the Web API plugin (HTTPS, mutual TLS).
# Release builds. Writes bench/results/transports.json. See bench/README.md.
set -euo pipefail

CALLS=${BENCH_CALLS:-1000}     # measured calls per case
ROUNDS=${BENCH_ROUNDS:-10}     # turns the cases take
WARMUP=${BENCH_WARMUP_CALLS:-50}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$root/target/release
cargo build --release --manifest-path "$root/Cargo.toml" -p shikaku-bench -p shikaku-daemon \
  -p shikaku-oqs-folder-plugin -p shikaku-oqs-webapi-plugin
mkdir -p "$root/bench/results"
"$bin/transport-latency" --shikakud "$bin/shikakud" \
  --folder-lib "$bin/libshikaku_oqs_folder_plugin.so" \
  --webapi-lib "$bin/libshikaku_oqs_webapi_plugin.so" \
  --calls "$CALLS" --rounds "$ROUNDS" --warmup "$WARMUP" \
  --out "$root/bench/results/transports.json"
echo "results: bench/results/transports.json"
