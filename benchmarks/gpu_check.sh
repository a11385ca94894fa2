#!/usr/bin/env bash
# The GPU side of the efficiency work, unattended, wherever a CUDA GPU is available:
#   1. `iqabench efficiency --device cuda`: the cuda_<gpu> column of Efficiency_benchmark.csv, peak GPU memory,
#      best-batch throughput and resources.json (the measured GPU shares for packing);
#   2. target 1 on the GPU: seconds per 1080×800 image, iqabench vs pyiqa, interleaved (compare_pyiqa.py --device cuda);
#   3. target 4 on the GPU: `bench --use_gpu` with 2 workers vs 1 (overhead.py --device cuda);
#   4. the deep metrics' reduced-precision cost on the GPU: float16 and bfloat16 vs float32, under random weights
#      seeded into RESULT_DIR/random-weights (precision.py --device cuda; writes RESULT_DIR/precision.json).
# Usage: benchmarks/gpu_check.sh RESULT_DIR   (needs the project's venv installed: `make install`)
# The baseline is benchmarks/.venv-pyiqa when present, else the project's venv (the Makefile installs pyiqa 0.1.16
# there for the equivalence tests). Every step runs even when an earlier one failed; exit status: failed steps.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
dir="$(mkdir -p "${1:?usage: gpu_check.sh RESULT_DIR}" && cd "$1" && pwd)"
py="$repo/.venv/bin/python"
baseline="$here/.venv-pyiqa/bin/python"
[ -x "$baseline" ] || baseline="$py"
failed=0
{
    echo "date: $(date -Is)"; echo "load: $(cat /proc/loadavg)"; nproc
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.device_count())"
} > "$dir/machine.txt" 2>&1
cat "$dir/machine.txt"
if ! "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "no CUDA GPU visible to torch; nothing to measure" | tee "$dir/ERROR.txt"
    exit 1
fi
step() {  # step NAME COMMAND...: run it, log to $dir/NAME.log, remember a failure
    local name="$1"; shift
    echo "== $name: $*"
    if ! "$@" > "$dir/$name.log" 2>&1; then failed=$((failed + 1)); echo "   FAILED (see $dir/$name.log)"; fi
    tail -n 25 "$dir/$name.log"
}
export MLFLOW_TRACKING_URI="sqlite:///$dir/mlflow.db"
step efficiency "$repo/.venv/bin/iqabench" efficiency --device cuda --out "$dir/efficiency"
step compare_pyiqa_cuda "$py" "$here/compare_pyiqa.py" --device cuda --rounds 2 --repeats 10 --threads 1 \
    --baseline "$baseline" --out "$dir"
step scaling_cuda "$py" "$here/overhead.py" --device cuda --rounds 1 --skip reads --out "$dir"
step precision_cuda "$py" "$here/precision.py" --device cuda --pairs 8 --random-weights "$dir/random-weights" \
    --out "$dir"
rm -rf "$dir/random-weights"  # ~4 GB of random weight files, not a result
echo "results under $dir ($failed failed step(s))"
exit "$failed"
