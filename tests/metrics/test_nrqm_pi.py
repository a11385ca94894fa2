"""NRQM and PI equal pyiqa 0.1.16 on parameter files of the published layout made here (random forests whose
splits fall among the test images' own feature values, so that the trees separate them); NRQM's three feature
groups also equal pyiqa's feature functions directly.

Images: made-up textured greyscale images (R = G = B; pyiqa's NRQM takes YIQ's Y where we take MATLAB's
``rgb2gray``, equal on grey images). pyiqa rounds its Gaussian windows to float32; the features agree to ~1e-7.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics
from metrics.functional.color import rgb2gray_uint8, rgb2y
from metrics.nr.niqe import MODEL_PATH
from metrics.nr.pi import SHAVE
from tests._helpers.equivalence import max_relative_difference
from tests._helpers.random_weights_classical import nrqm_model
from tests.metrics.test_classical_pyiqa_params import grey_images

FEATURE_RTOL = 1e-6
SCORE_RTOL = 1e-5  # our float32 scores


def pyiqa_features(gray: torch.Tensor) -> list[torch.Tensor]:
    """pyiqa 0.1.16's three NRQM feature groups of N×1×H×W grey levels (its own functions)."""
    nrqm_arch = pytest.importorskip("pyiqa.archs.nrqm_arch")
    from pyiqa.matlab_utils import im2col

    pyramid = nrqm_arch.get_gauss_pyramid(gray / 255.0)
    frequency = torch.cat([nrqm_arch.block_dct(level) for level in pyramid], dim=1)
    spatial = torch.cat([torch.linalg.svdvals(im2col(level, 5, "distinct")) for level in pyramid], dim=1)
    return [frequency, nrqm_arch.global_gsm(gray), spatial]


def trained_on(put_param_file, gray: torch.Tensor) -> None:
    """An NRQM file whose splits fall among the features of ``gray`` (computed by our code, only to place them)."""
    put_param_file("NRQM_model.mat", nrqm_model(3))
    features = metrics.create("nrqm").features(gray)
    put_param_file("NRQM_model.mat", nrqm_model(4, samples=[f.numpy() for f in features]))


def assert_equals_pyiqa(name: str, images: torch.Tensor) -> None:
    pyiqa = pytest.importorskip("pyiqa")
    with torch.inference_mode():
        ours = metrics.create(name)(images).double()
        theirs = pyiqa.create_metric(name, device="cpu")(images.double()).reshape(-1)
    assert ours.std() > 0, f"degenerate scores {ours.tolist()}"
    diff = max_relative_difference(ours, theirs)
    print(f"\n{name}: max relative difference vs pyiqa 0.1.16 = {diff:.2e}")
    assert diff <= SCORE_RTOL, f"ours {ours.tolist()} vs pyiqa {theirs.tolist()}"


def test_nrqm_features_equal_pyiqa(put_param_file):
    put_param_file("NRQM_model.mat", nrqm_model(5))
    gray = rgb2gray_uint8(grey_images(2, 96, 120, 11))
    odd = rgb2gray_uint8(grey_images(1, 89, 101, 12))
    model = metrics.create("nrqm")
    for image in (gray, odd):
        ours = model.features(image)
        theirs = pyiqa_features(image)
        for group, (a, b) in enumerate(zip(ours, theirs)):
            assert a.shape == b.shape, group
            assert max_relative_difference(a, b) <= FEATURE_RTOL, f"group {group}: {a} vs {b}"


def test_nrqm_equals_pyiqa(put_param_file):
    images = grey_images(3, 96, 120, 13)
    trained_on(put_param_file, rgb2gray_uint8(images))
    assert_equals_pyiqa("nrqm", images)


def test_pi_equals_pyiqa(put_param_file):
    """pyiqa's PI reads NIQE's ``niqe_modelparameters.mat``: filled here with our shipped model's numbers."""
    with np.load(MODEL_PATH, allow_pickle=False) as model:
        put_param_file("niqe_modelparameters.mat", {"mu_prisparam": model["mu_pris_param"],
                                                    "cov_prisparam": model["cov_pris_param"]})
    images = grey_images(2, 106, 202, 14)
    luma = torch.round(rgb2y(images.double(), round_uint8=True) * 255.0)[..., SHAVE:-SHAVE, SHAVE:-SHAVE]
    trained_on(put_param_file, luma)
    assert_equals_pyiqa("pi", images)


def test_pi_combines_niqe_and_nrqm(put_param_file):
    put_param_file("NRQM_model.mat", nrqm_model(6))
    images = grey_images(2, 106, 202, 15)
    luma = torch.round(rgb2y(images.double(), round_uint8=True) * 255.0)[..., SHAVE:-SHAVE, SHAVE:-SHAVE]
    niqe, nrqm = metrics.create("niqe"), metrics.create("nrqm")
    expected = (10 - nrqm.quality(luma) + niqe.quality(luma)) / 2
    assert metrics.create("pi")(images).double() == pytest.approx(expected.tolist(), rel=1e-6)


def test_forest_follows_splits_to_leaves():
    """A one-split tree: rows at or below the split reach the left leaf, rows above it the right one."""
    from metrics.nr.nrqm import RegressionForest

    as_long = lambda v: torch.tensor(v, dtype=torch.long)[:, None]
    forest = RegressionForest(left=as_long([2, 0, 0]), right=as_long([3, 0, 0]),
                              threshold=torch.tensor([[0.5], [0.0], [0.0]], dtype=torch.float64),
                              prediction=torch.tensor([[9.0], [1.0], [2.0]], dtype=torch.float64),
                              variable=as_long([2, 0, 0]))
    rows = torch.tensor([[7.0, 0.5], [7.0, 0.6], [-1.0, -3.0]], dtype=torch.float64)
    assert forest.predict(rows).tolist() == [1.0, 2.0, 1.0]


def test_nrqm_minimum_size(put_param_file):
    put_param_file("NRQM_model.mat", nrqm_model(7))
    model = metrics.create("nrqm")
    assert torch.isfinite(model(grey_images(1, 84, 84, 16))).all()
    with pytest.raises(metrics.MetricInputError, match="smaller than"):
        model(grey_images(1, 83, 120, 17))
