"""Random MATLAB ``.mat`` parameter files of the classical NR metrics whose parameters only pyiqa publishes, in
the published layouts (variable names and shapes are facts of pyiqa 0.1.16's loaders).

Each generator returns the file's bytes (``scipy.io.savemat``); ``random_weights.seed`` writes them as they are.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
import scipy.io

from metrics.nr.niqe import MODEL_PATH


def mat_bytes(variables: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables)
    return buffer.getvalue()


def niqe_model(seed: int) -> dict[str, np.ndarray]:
    """``mu_prisparam`` 1×36 and ``cov_prisparam`` 36×36 (symmetric positive definite): the authors' shipped
    pristine model, moved by seeded random amounts (a model of the right scale, but not a published one)."""
    rng = np.random.default_rng(seed)
    with np.load(MODEL_PATH, allow_pickle=False) as model:
        mu, cov = model["mu_pris_param"], model["cov_pris_param"]
    spread = rng.standard_normal((36, 36)) * 0.05
    return {"mu_prisparam": mu * (1 + 0.1 * rng.standard_normal((1, 36))), "cov_prisparam": cov + spread @ spread.T}


def brisque_svr(seed: int, centres: np.ndarray | None = None, count: int = 40) -> dict[str, np.ndarray]:
    """``sv`` count×36 and ``sv_coef`` count×1. With ``centres`` (K×36 feature vectors) the support vectors
    scatter around them, so that the RBF kernel (gamma 1 on features / 0.321) is not vanishingly small."""
    rng = np.random.default_rng(seed)
    if centres is None:
        sv = 0.2 + rng.random((count, 36))
    else:
        sv = centres[rng.integers(0, len(centres), count)] + 0.03 * rng.standard_normal((count, 36))
    return {"sv": sv, "sv_coef": rng.standard_normal((count, 1))}


#: file name → ("hf", generator of its bytes), as ``random_weights.FILES``.
FILES_CLASSICAL: dict[str, tuple[str, Callable[[], object]]] = {
    "niqe_matlab_params.mat": ("hf", lambda: mat_bytes(niqe_model(101))),
    "brisque_matlab.mat": ("hf", lambda: mat_bytes(brisque_svr(102))),
}
