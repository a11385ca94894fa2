#!/usr/bin/env bash
# Regenerates benchmarks/RESULTS.md: targets 1-5 and the deep metrics' reduced-precision cost on this machine (CPU).
# Run when the machine is quiet. precision.py seeds random weights (~2 GB) into benchmarks/out/random-weights.
# Usage: benchmarks/run_all.sh [--quick]   (--quick: fewer rounds/images, for a smoke check)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
py="$repo/.venv/bin/python"
out="$here/out"
mkdir -p "$out"
rounds=3; repeats=6; overhead_rounds=2; pairs=1000; precision_pairs=8
if [ "${1:-}" = "--quick" ]; then rounds=1; repeats=3; overhead_rounds=1; pairs=1000; precision_pairs=3; fi
[ -x "$here/.venv-pyiqa/bin/python" ] || "$here/setup_baseline.sh"
echo "load before: $(cat /proc/loadavg)"
"$py" "$here/compare_pyiqa.py" --rounds "$rounds" --repeats "$repeats" --threads "$(nproc)" --out "$out"
"$py" "$here/overhead.py" --pairs "$pairs" --rounds "$overhead_rounds" --running_cluster --out "$out"
# The same overhead and scaling runs with a metric ~6× costlier per pair than ssim (fixed costs weigh less).
"$py" "$here/overhead.py" --pairs "$pairs" --rounds "$overhead_rounds" --metric vif --skip reads --running_cluster --out "$out/heavy"
"$py" "$here/startup.py" --rounds 2 --out "$out"
"$py" "$here/precision.py" --device cpu --pairs "$precision_pairs" --random-weights "$out/random-weights" --out "$out"
# pyiqa's efficiency table for every registered metric on this CPU (deep metrics on the random weights seeded
# above: their time does not depend on the weight values).
rm -f "$out/efficiency/Efficiency_benchmark.csv"
env TORCH_HOME="$out/random-weights/torch" IQABENCH_WEIGHTS_CACHE="$out/random-weights/hf" HF_HUB_OFFLINE=1 \
    IQABENCH_WEIGHTS_UNVERIFIED=1 MLFLOW_TRACKING_URI="sqlite:///$out/efficiency-mlflow.db" \
    "$repo/.venv/bin/iqabench" efficiency --device cpu --warmup 1 --repeats "$repeats" --out "$out/efficiency" \
    > "$out/efficiency.log" 2>&1 || echo "efficiency job failed: see $out/efficiency.log"
"$py" "$here/write_results.py" --out "$out"
