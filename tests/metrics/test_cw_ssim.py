"""CW-SSIM: ideal score, monotonicity, sizes, translation tolerance, and its pooling weight."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics
from metrics import MetricInputError
from metrics.fr import cw_ssim as cw


def test_identical_inputs_give_one(tid_pairs):
    _, ref = tid_pairs
    assert metrics.create("cw_ssim")(ref[:2], ref[:2]).tolist() == pytest.approx([1.0, 1.0], abs=1e-9)


def test_flat_identical_images_give_one_not_nan():
    flat = torch.full((1, 3, 64, 64), 0.5)
    assert metrics.create("cw_ssim")(flat, flat).item() == pytest.approx(1.0, abs=1e-9)


def test_small_shift_hurts_cw_ssim_less_than_ssim(tid_pairs):
    _, ref = tid_pairs
    shifted = torch.roll(ref[2:3], shifts=(1, 1), dims=(-2, -1))
    cw_score = metrics.create("cw_ssim")(shifted, ref[2:3]).item()
    ssim_score = metrics.create("ssim")(shifted, ref[2:3]).item()
    assert cw_score > 0.9 and cw_score > ssim_score


def test_fspecial_gaussian_definition():
    g = cw.fspecial_gaussian(5, 8, 1.5, torch.float64, "cpu")
    assert g.shape == (5, 8) and g.sum().item() == pytest.approx(1.0, abs=1e-12)
    # exp(-(y² + x²) / (2σ²)) about the centre ((5-1)/2, (8-1)/2), proportional
    yy, xx = np.meshgrid(np.arange(5) - 2.0, np.arange(8) - 3.5, indexing="ij")
    want = np.exp(-(yy**2 + xx**2) / (2 * 1.5**2))
    np.testing.assert_allclose(g.numpy(), want / want.sum(), atol=1e-15)


def test_too_small_raises():
    tiny = torch.rand(1, 3, 63, 200)
    with pytest.raises(MetricInputError, match="minimum"):
        metrics.create("cw_ssim")(tiny, tiny)
