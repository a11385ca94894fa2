#!/usr/bin/env bash
# Creates the benchmark-only virtual environment holding the baseline (pyiqa 0.1.16 from PyPI) used by
# benchmarks/compare_pyiqa.py. It is only a baseline: iqabench never imports it.
# Usage: benchmarks/setup_baseline.sh [VENV_DIR]   (default: benchmarks/.venv-pyiqa)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${1:-$here/.venv-pyiqa}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet)
"${pip[@]}" -c "$repo/constraints/ci.txt" torch==2.14.1 torchvision==0.29.1
# pyiqa's declared dependencies include heavy optional ones; install it alone, then what it needs to import.
"${pip[@]}" --no-deps pyiqa==0.1.16
"${pip[@]}" -c "$repo/constraints/ci.txt" opencv-python-headless addict einops scipy scikit-image pandas pyyaml \
    tqdm timm pillow numpy requests
# pyiqa downloads NIQE's pristine model from GitHub on first use; this machine reaches no such host. The timing
# does not depend on the values, so give it the same parameters iqabench ships (metrics/data, from BasicSR) as
# the .mat file it looks for, in the baseline's own torch hub folder (TORCH_HOME=$venv/torch-home).
export TORCH_HOME="$venv/torch-home"
mkdir -p "$TORCH_HOME/hub/pyiqa"
"$venv/bin/python" - "$repo/metrics/data/niqe_pris_params.npz" "$TORCH_HOME/hub/pyiqa/niqe_modelparameters.mat" <<'PY'
import sys
import numpy as np
import scipy.io
params = np.load(sys.argv[1])
scipy.io.savemat(sys.argv[2], {"mu_prisparam": params["mu_pris_param"], "cov_prisparam": params["cov_pris_param"]})
PY
"$venv/bin/python" -c "import pyiqa, torch; print('pyiqa', pyiqa.__version__, 'torch', torch.__version__)"
