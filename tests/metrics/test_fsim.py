"""FSIMc: ideal score, monotonicity, sizes, the chromatic term, and the shared similarity-map helpers."""

from __future__ import annotations

import math

import pytest
import torch

import metrics
from metrics import MetricInputError
from metrics.calibration import CALIBRATION_IMAGES
from metrics.functional.similarity_maps import (
    auto_downsample,
    downsample_factor,
    real_power,
    scharr_magnitude,
    similarity,
)


def _score(name: str, dist: torch.Tensor, ref: torch.Tensor, **options) -> torch.Tensor:
    with torch.inference_mode():
        return metrics.create(name, **options)(dist, ref)


def _noisy(ref: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (ref + sigma * torch.randn(ref.shape, generator=g)).clamp(0, 1)


# --- helpers ---------------------------------------------------------------------------------------------


def test_downsample_factor_rounds_like_matlab():
    assert downsample_factor(384, 512) == 2  # round(1.5) = 2
    assert downsample_factor(640, 900) == 3  # round(2.5) = 3 in MATLAB (Python's round would give 2)
    assert downsample_factor(100, 100) == 1  # max(1, round(0.39))
    assert downsample_factor(383, 2000) == 1  # round(1.496) = 1


def test_auto_downsample_is_block_mean_with_zero_padding():
    x = torch.arange(1.0, 21.0, dtype=torch.float64).view(1, 1, 4, 5)
    out = auto_downsample(x, factor=2)
    # conv2(x, ones(2)/4, 'same') averages x(i:i+1, j:j+1), zero beyond the last row/column; keep 1:2:end.
    padded = torch.nn.functional.pad(x, (0, 1, 0, 1))
    expected = torch.stack(
        [torch.stack([padded[0, 0, i : i + 2, j : j + 2].mean() for j in (0, 2, 4)]) for i in (0, 2)]
    )
    assert out.shape == (1, 1, 2, 3)
    assert torch.allclose(out[0, 0], expected)
    assert auto_downsample(x) is x  # 4×5 → F = 1


def test_auto_downsample_factor_three_is_centred():
    x = torch.zeros(1, 1, 9, 9, dtype=torch.float64)
    x[0, 0, 4, 4] = 9.0  # a single spike at the centre of the middle 3×3 block
    out = auto_downsample(x, factor=3)
    expected = torch.zeros(3, 3, dtype=torch.float64)
    # Output i (0-based) is centred on pixel 3i and averages pixels 3i-1 .. 3i+1: only output 1 sees pixel 4.
    expected[1, 1] = 1.0
    assert torch.allclose(out[0, 0], expected)


def test_scharr_on_a_ramp_and_zero_padding():
    x = (torch.arange(10, dtype=torch.float64) * 2.0).expand(1, 1, 8, 10)  # slope 2 along columns
    g = scharr_magnitude(x)[0, 0]
    # Interior: (3 + 10 + 3) / 16 · (x[j+1] - x[j-1]) = 2 · slope.
    assert torch.allclose(g[1:-1, 1:-1], torch.full((6, 8), 4.0, dtype=torch.float64))
    assert g[0, 5] != 4.0  # the zero padding shows at the border, as in conv2 'same'


def test_similarity_and_real_power():
    a = torch.tensor([2.0, 0.0, 3.0])
    assert torch.allclose(similarity(a, a, 1.0), torch.ones(3))
    assert similarity(torch.tensor(1.0), torch.tensor(0.0), 1.0).item() == pytest.approx(0.5)
    z = torch.tensor([0.25, 0.0, -0.25], dtype=torch.float64)
    expected = [0.25**0.03, 0.0, 0.25**0.03 * math.cos(0.03 * math.pi)]  # MATLAB: real((-0.25)^0.03)
    assert real_power(z, 0.03).tolist() == pytest.approx(expected, abs=1e-15)


# --- the metric ------------------------------------------------------------------------------------------


def test_identical_inputs_score_one(tid_pairs):
    _, ref = tid_pairs
    assert _score("fsim", ref, ref).tolist() == pytest.approx([1.0] * 5, abs=1e-6)


def test_monotonic_in_blur(tid_pairs):
    _, ref = tid_pairs
    ref = ref[2:3]
    blurred = [torch.nn.functional.avg_pool2d(ref, k, stride=1, padding=k // 2) for k in (3, 5, 9)]
    scores = [_score("fsim", b, ref).item() for b in blurred]
    assert scores[0] > scores[1] > scores[2]


def test_chroma_term_equals_fsim_on_grey_images(tid_pairs):
    # R = G = B gives I = Q = 0 in both images, so S_I = S_Q = 1 and FSIMc equals the luminance-only FSIM.
    dist, ref = tid_pairs
    grey_ref = ref[:2].mean(dim=1, keepdim=True).expand(-1, 3, -1, -1).contiguous()
    grey_dist = dist[:2].mean(dim=1, keepdim=True).expand(-1, 3, -1, -1).contiguous()
    fsimc = _score("fsim", grey_dist, grey_ref)
    fsim_lum = _score("fsim", grey_dist, grey_ref, chromatic=False)
    assert torch.allclose(fsimc, fsim_lum, atol=1e-6)


def test_chroma_only_change_lowers_fsimc_only():
    g = torch.Generator().manual_seed(3)
    ref = torch.rand(1, 3, 64, 80, generator=g) * 0.5 + 0.25
    # Swap R and B: luminance barely changes, chrominance does.
    dist = ref.flip(1)
    fsimc = _score("fsim", dist, ref).item()
    fsim_lum = _score("fsim", dist, ref, chromatic=False).item()
    assert fsimc < fsim_lum <= 1.0


def test_symmetric_in_its_arguments(tid_pairs):
    dist, ref = tid_pairs
    assert torch.allclose(_score("fsim", dist[:2], ref[:2]), _score("fsim", ref[:2], dist[:2]), atol=1e-6)


@pytest.mark.parametrize("shape", [(37, 53), (601, 515), (8, 8)])
def test_odd_sizes(shape):
    g = torch.Generator().manual_seed(4)
    ref = torch.rand(1, 3, *shape, generator=g)
    dist = _noisy(ref, 0.05)
    s = _score("fsim", dist, ref)
    assert s.shape == (1,) and torch.isfinite(s).all() and 0 < s.item() < 1


def test_too_small_raises():
    with pytest.raises(MetricInputError, match="smaller than the metric's minimum"):
        _score("fsim", torch.rand(1, 3, 7, 40), torch.rand(1, 3, 7, 40))


def test_flat_images_are_defined():
    flat = torch.full((1, 3, 32, 32), 0.5)
    assert _score("fsim", flat, flat).item() == pytest.approx(1.0, abs=1e-6)


def test_calibration_tight(tid_pairs, official_scores):
    dist, ref = tid_pairs
    ours = _score("fsim", dist, ref)
    official = official_scores.loc["fsim", list(CALIBRATION_IMAGES)].to_numpy(dtype=float)
    official = torch.tensor(official, dtype=torch.float32)
    # The official values have 4 decimals; ours agree to within their rounding (plus a hair).
    assert torch.allclose(ours, official, atol=6e-5, rtol=0)
