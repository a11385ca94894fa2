"""VIF (wavelet domain, vifvec): ideal score, monotonicity, sizes, and its helpers against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

import metrics
from metrics import MetricInputError
from metrics.fr import vif as vif_module


def test_identical_inputs_give_one(tid_pairs):
    _, ref = tid_pairs
    got = metrics.create("vif")(ref[:2], ref[:2])
    assert got.tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_too_small_raises():
    model = metrics.create("vif")
    x = torch.rand(1, 3, 31, 64)
    with pytest.raises(MetricInputError, match="smaller than"):
        model(x, x)


def test_constant_reference_is_undefined():
    flat = torch.full((1, 3, 64, 64), 0.5)
    assert math.isnan(metrics.create("vif")(flat, flat).item())


def test_filters_match_their_definition():
    model = vif_module.VIF()
    lo = model.lo[0, 0]
    assert lo.shape == (9, 9)
    assert torch.equal(lo, lo.flip(0)) and torch.equal(lo, lo.flip(1)) and torch.equal(lo, lo.T)
    assert lo[4, 4].item() == pytest.approx(2 * 0.10096540)
    assert lo[0, 8].item() == pytest.approx(2 * 0.00085404)
    b1, b4 = model.bands[0, 0], model.bands[1, 0]
    assert torch.equal(b4, -b1.T)
    assert torch.equal(b1, -b1.flip(1)) and torch.equal(b1, b1.flip(0))  # odd left-right, even up-down
    assert b1.sum().abs().item() < 1e-12  # band-pass: no DC response


def test_corr_reflect1_matches_scipy_mirror(rng):
    x = rng.random((13, 17))
    k = rng.random((5, 7))
    ours = vif_module._corr_reflect1(torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None])
    # scipy 'mirror' reflects about the edge pixel without repeating it: MATLAB pyrTools' 'reflect1'.
    want = ndimage.correlate(x, k, mode="mirror")
    assert np.allclose(ours[0, 0].numpy(), want, atol=1e-12)


def test_box_sum_blocks_by_definition(rng):
    x = rng.random((12, 15))
    size = 5
    ours = vif_module._box_sum_blocks(torch.from_numpy(x)[None, None], size)[0, 0].numpy()
    padded = np.pad(x, size // 2, mode="reflect")
    want = np.array(
        [[padded[r : r + size, c : c + size].sum() for c in range(1, 15, 3)] for r in range(1, 12, 3)]
    )
    assert ours.shape == (4, 5)
    assert np.allclose(ours, want)
