"""MS-SSIM: ideal score, monotonicity, sizes, the 5-scale rule, and its pieces against independent definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics
from metrics import MetricInputError
from metrics.fr import ms_ssim as ms
from metrics.fr.ssim import ssim_map
from metrics.functional.color import rgb2gray
from metrics.functional.filters import gaussian_window


def _noisy(ref: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (ref + sigma * torch.randn(ref.shape, generator=g)).clamp(0, 1)


def test_identical_inputs_give_one(tid_pairs):
    _, ref = tid_pairs
    assert metrics.create("ms_ssim")(ref[:2], ref[:2]).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_too_small_for_five_scales_raises():
    model = metrics.create("ms_ssim")
    assert model.min_size == 176  # min(H, W) / 2^4 >= 11, the authors' rule
    small = torch.rand(1, 3, 175, 300)
    with pytest.raises(MetricInputError, match="5 scales"):
        model(small, small)
    bad = torch.rand(1, 3, 64, 64)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(MetricInputError, match="NaN"):  # content errors are reported before size
        model(bad, bad)


def test_separable_terms_match_the_2d_ssim_map(rng):
    x = torch.from_numpy(rng.random((2, 1, 40, 37))) * 255
    y = (x + 20 * torch.from_numpy(rng.standard_normal((2, 1, 40, 37)))).clamp(0, 255)
    mssim, mcs = ms.ssim_terms(x, y, ms.gaussian_1d(11, 1.5), data_range=255.0)
    smap, cs = ssim_map(x, y, gaussian_window(11, 1.5, dtype=torch.float64), data_range=255.0)
    torch.testing.assert_close(mssim, smap.flatten(1).mean(1), atol=1e-12, rtol=0)
    torch.testing.assert_close(mcs, cs.flatten(1).mean(1), atol=1e-12, rtol=0)


def test_score_is_the_weighted_product_over_a_2x2_mean_pyramid(rng):
    ref = torch.from_numpy(rng.random((1, 3, 180, 190), dtype=np.float32))
    dist = _noisy(ref, 0.1)
    x = rgb2gray(ref, round_uint8=True)[0, 0].double().numpy() * 255
    y = rgb2gray(dist, round_uint8=True)[0, 0].double().numpy() * 255
    window = gaussian_window(11, 1.5, dtype=torch.float64)
    expect = 1.0
    for scale, weight in enumerate(ms.WEIGHTS):
        tx, ty = torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None]
        smap, cs = ssim_map(tx, ty, window, data_range=255.0)
        expect *= float((smap if scale == 4 else cs).mean()) ** weight

        def halve(a: np.ndarray) -> np.ndarray:  # imfilter(ones(2)/4, 'symmetric') then (1:2:end, 1:2:end)
            p = np.pad(a, ((0, 1), (0, 1)), mode="symmetric")
            return ((p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]) / 4)[::2, ::2]

        x, y = halve(x), halve(y)
    assert metrics.create("ms_ssim")(dist, ref).item() == pytest.approx(expect, abs=1e-6)
