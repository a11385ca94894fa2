"""Random MATLAB ``.mat`` parameter files of the classical NR metrics whose parameters only pyiqa publishes, in
the published layouts (variable names and shapes are facts of pyiqa 0.1.16's loaders).

Each generator returns the file's bytes (``scipy.io.savemat``); ``random_weights.seed`` writes them as they are.
"""

from __future__ import annotations

import io
from collections.abc import Callable

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


#: NRQM's three feature groups: number of features of each (frequency, global, spatial).
NRQM_GROUPS = (18, 45, 75)


def _random_tree(rng: np.random.Generator, depth: int, samples: np.ndarray | None, n_features: int):
    """One full binary tree of ``depth`` levels as node tables (1-based children, 0 at leaves), nodes numbered
    breadth first. Split values are drawn among ``samples`` (rows of feature vectors) when given, so that the
    splits separate them."""
    nodes = 2 ** (depth + 1) - 1
    left, right = np.zeros(nodes, dtype=np.int32), np.zeros(nodes, dtype=np.int32)
    variable, threshold = np.zeros(nodes, dtype=np.int32), np.zeros(nodes)
    prediction = rng.uniform(0.0, 10.0, nodes)
    for k in range(2 ** depth - 1):  # inner nodes
        left[k], right[k] = 2 * k + 2, 2 * k + 3
        variable[k] = rng.integers(1, n_features + 1)
        column = None if samples is None else samples[:, int(variable[k]) - 1]
        threshold[k] = rng.standard_normal() if column is None else rng.choice(column) * (1 + 1e-3 * rng.standard_normal())
    return left, right, threshold, prediction, variable


def nrqm_model(seed: int, samples: list[np.ndarray] | None = None, trees: int = 6, depth: int = 4) -> dict:
    """``model.linear`` (4×1) and ``model.rf`` (1×3 cell of structs whose fields 0, 1, 4, 5, 6 are the left and right
    children, split values, node predictions and split variables, nodes × trees), as pyiqa 0.1.16 reads them.
    ``samples`` (one K×F array per feature group) places the splits among real feature values."""
    rng = np.random.default_rng(seed)
    forests = np.empty((1, 3), dtype=object)
    for g, n_features in enumerate(NRQM_GROUPS):
        tables = [_random_tree(rng, depth, None if samples is None else samples[g], n_features) for _ in range(trees)]
        left, right, threshold, prediction, variable = (np.stack(t, axis=1) for t in zip(*tables))
        nodes = left.shape[0]
        forests[0, g] = {"lDau": left, "rDau": right, "nodestatus": np.where(left > 0, -3.0, -1.0),
                         "nrnodes": np.array([[nodes]]), "upper": threshold, "avnode": prediction, "mbest": variable}
    linear = np.array([[0.5], [0.3], [0.3], [0.3]]) + 0.05 * rng.standard_normal((4, 1))
    return {"model": {"linear": linear, "rf": forests}}


#: IL-NIQE's features per patch (234 at each of two scales).
ILNIQE_FEATURES = 468


def ilniqe_template(seed: int, dims: int = 40, sample_mean: np.ndarray | None = None,
                    feature_std: np.ndarray | None = None) -> dict:
    """``templateModel``, a 1×4 cell {mu 1×K, cov K×K (symmetric positive definite), meanOfSampleData 468×1,
    principleVectors 468×K}, as pyiqa 0.1.16 reads it (by position). The principal vectors are orthonormal;
    with ``sample_mean`` and ``feature_std`` (468 each, of real features) they are divided by the standard
    deviations, so that every feature moves the projected coefficients (a whitening, not a trained PCA)."""
    rng = np.random.default_rng(seed)
    vectors, _ = np.linalg.qr(rng.standard_normal((ILNIQE_FEATURES, dims)))
    if feature_std is not None:
        vectors = vectors / feature_std.reshape(-1, 1)
    mean = rng.standard_normal((ILNIQE_FEATURES, 1)) if sample_mean is None else sample_mean.reshape(-1, 1)
    spread = 0.3 * rng.standard_normal((dims, dims))
    cell = np.empty((1, 4), dtype=object)
    cell[0, 0], cell[0, 1] = rng.standard_normal((1, dims)), spread @ spread.T + np.eye(dims)
    cell[0, 2], cell[0, 3] = mean, vectors
    return {"templateModel": cell}


#: file name → ("hf", generator of its bytes), as ``random_weights.FILES``.
FILES_CLASSICAL: dict[str, tuple[str, Callable[[], object]]] = {
    "niqe_matlab_params.mat": ("hf", lambda: mat_bytes(niqe_model(101))),
    "brisque_matlab.mat": ("hf", lambda: mat_bytes(brisque_svr(102))),
    "NRQM_model.mat": ("hf", lambda: mat_bytes(nrqm_model(103))),
    "ILNIQE_templateModel.mat": ("hf", lambda: mat_bytes(ilniqe_template(104))),
}
