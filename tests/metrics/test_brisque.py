"""BRISQUE (``metrics/nr/brisque.py``): shipped model data, svm-scale / SVR definitions, the MATLAB filter2
emulation, behaviour on distortions and sizes."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

from metrics import MetricInputError
from metrics.functional.matlab_filter2 import filter2_separable, fspecial_gaussian, marginal
from metrics.nr import brisque

ALLMODEL_SHA256 = "7c8e239223d4ff930cbfad4bfbceb685dbf0977804794979d2a9ed54f5d8bf1f"
ALLRANGE_SHA256 = "1b0c0f67715ec83ca5ca970a114f936f91cff5a2c17f339828f6881bd7d3af40"
#: Feature indices (0-based) of the shape parameters (alpha), on the 0.2:0.001:10 grid.
ALPHA_FEATURES = [0, 2, 6, 10, 14, 18, 20, 24, 28, 32]


@pytest.fixture(scope="module")
def model() -> brisque.BRISQUE:
    return brisque.BRISQUE()


def test_model_files_are_the_provenanced_ones():
    assert hashlib.sha256(brisque.SVM_PATH.read_bytes()).hexdigest() == ALLMODEL_SHA256
    assert hashlib.sha256(brisque.RANGE_PATH.read_bytes()).hexdigest() == ALLRANGE_SHA256
    spec = brisque.SPECS[0]
    assert [p.name for p in spec.parameter_paths()] == [brisque.MODEL_FILE, brisque.RANGE_FILE]


def test_libsvm_header_is_the_authors_allmodel(model):
    header, coefs, vectors = brisque.load_libsvm_model(brisque.SVM_PATH)
    assert header["svm_type"] == "epsilon_svr" and header["kernel_type"] == "rbf"
    assert float(header["gamma"]) == 0.05 and float(header["rho"]) == -153.591
    assert vectors.shape == (774, 36) and coefs.shape == (774,)
    # First support vector as printed in the public copies of allmodel.
    assert coefs[0] == -1024 and vectors[0, 0] == -0.596978 and vectors[0, 35] == -0.191255


def test_ranges_are_consistent_with_the_support_vectors(model):
    """The SVs are svm-scaled training features: inside [-1, 1], and the alpha features (a 0.001 grid) are
    spaced by multiples of 2·0.001/(max - min) — an independent check of each alpha range's width."""
    _, _, vectors = brisque.load_libsvm_model(brisque.SVM_PATH)
    assert vectors.min() >= -1.0 - 1e-9 and vectors.max() <= 1.0 + 1e-9
    ends_reached = ((vectors.min(axis=0) < -0.99) & (vectors.max(axis=0) > 0.99)).sum()
    assert ends_reached >= 30
    lo, hi = model.feat_min.numpy(), model.feat_max.numpy()
    for k in ALPHA_FEATURES:
        step = 2 * 0.001 / (hi[k] - lo[k])
        multiples = (vectors[:, k] + 1) / step
        assert np.abs(multiples - np.round(multiples)).max() < 0.02, k
        # A wrong range (e.g. 10% wider) breaks the lattice.
        wrong = (vectors[:, k] + 1) / (step * 1.1)
        assert np.abs(wrong - np.round(wrong)).max() > 0.1, k


def test_svm_scale_definition(model):
    lo, hi = model.feat_min, model.feat_max
    feats = torch.stack([lo, hi, (lo + hi) / 2])
    model.emulate_text_io = False
    try:
        scaled = model.scale(feats)
    finally:
        model.emulate_text_io = True
    assert torch.allclose(scaled[0], torch.full((36,), -1.0, dtype=torch.float64))
    assert torch.allclose(scaled[1], torch.full((36,), 1.0, dtype=torch.float64))
    assert torch.allclose(scaled[2], torch.zeros(36, dtype=torch.float64), atol=1e-12)


def test_svr_prediction_is_the_kernel_sum(model):
    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (2, 36)))
    sv, coef = model.support.numpy(), model.coefs.numpy()
    want = [sum(c * np.exp(-model.gamma * np.sum((row - s) ** 2)) for c, s in zip(coef, sv)) - model.rho
            for row in x.numpy()]
    assert model.predict(x).tolist() == pytest.approx(want, rel=1e-10)


def test_text_rounding_helpers():
    got = brisque.round_significant(torch.tensor([0.123456789, -1234567.0, 1.5e-7], dtype=torch.float64))
    assert got.tolist() == [0.123457, -1234570.0, 1.5e-07]
    got = brisque.round_decimals(torch.tensor([0.1234565001, -2.0000004, 12.5], dtype=torch.float64))
    assert got.tolist() == [0.123457, -2.0, 12.5]


def test_fspecial_window_and_factor():
    window = np.array(fspecial_gaussian(7, 7 / 6))
    r = np.arange(7) - 3
    direct = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * (7 / 6) ** 2))
    np.testing.assert_allclose(window, direct / direct.sum(), rtol=1e-14)
    factor = np.array(marginal(fspecial_gaussian(7, 7 / 6)))
    np.testing.assert_allclose(np.outer(factor, factor), window, rtol=1e-13)
    assert factor.tolist() == factor[::-1].tolist()


def test_filter2_separable_matches_a_direct_zero_padded_filter():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, (2, 1, 11, 13))
    hcol, hrow = [0.1, 0.2, 0.4, 0.2, 0.1], [0.25, 0.5, 0.25]
    got = filter2_separable(torch.from_numpy(x), hcol, hrow).numpy()
    kernel = np.outer(hcol, hrow)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (1, 1)))
    want = np.zeros_like(x)
    for i in range(5):
        for j in range(3):
            want += kernel[i, j] * padded[..., i : i + 11, j : j + 13]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_flat_regions_keep_matlab_like_residues():
    """A constant region's MSCN is a tiny rounding residue (or 0), never a visible value."""
    image = torch.full((1, 1, 20, 20), 137.0, dtype=torch.float64)
    image[..., :3, :] = 12.0
    coeffs = brisque.mscn_filter2(image)
    interior = coeffs[..., 10:14, 5:15]
    assert interior.abs().max() < 1e-12


def test_errors(model):
    with pytest.raises(MetricInputError, match="constant"):
        model(torch.full((2, 3, 32, 32), 0.5))
    bad = torch.rand(2, 3, 32, 32)
    bad[1, 1, 3, 3] = float("nan")
    with pytest.raises(MetricInputError, match="image\\(s\\) 1 .*NaN"):
        model(bad)
    with pytest.raises(MetricInputError, match="smaller than the metric's minimum"):
        model(torch.rand(1, 3, 12, 40))


def test_calibration(model, tid_pairs, official_scores):
    from metrics.calibration import CALIBRATION_IMAGES, allowed_error

    ours = model(tid_pairs[0]).tolist()
    official = official_scores.loc["brisque", list(CALIBRATION_IMAGES)].tolist()
    for got, want in zip(ours, official):
        assert math.isfinite(got) and abs(got - want) <= allowed_error(want, "brisque")
    # Images without flat regions reproduce the official value to about 6 digits.
    assert ours[1] == pytest.approx(official[1], rel=1e-4)
    assert ours[0] == pytest.approx(official[0], rel=1e-4)
