"""GMSD: ideal score, monotonicity, sizes, and the whole computation against a NumPy transcription of GMSD.m."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metrics
from metrics import MetricInputError
from metrics.functional.color import rgb2gray


def _noisy(ref: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (ref + sigma * torch.randn(ref.shape, generator=g)).clamp(0, 1)


def _gmsd_numpy(ref: np.ndarray, dist: np.ndarray) -> float:
    """GMSD.m step by step on 0-255 grey images, with explicit index arithmetic instead of convolutions."""

    def magnitude(img: np.ndarray) -> np.ndarray:
        p = np.pad(img, ((0, 1), (0, 1)))  # conv2(., ones(2)/4, 'same') reaches one sample forward, zeros past
        avg = (p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]) / 4
        y = np.pad(avg[::2, ::2], 1)
        # Prewitt / 3: column (row) differences two samples apart, summed over three rows (columns); sign is moot
        gx = sum(y[r : r + y.shape[0] - 2, 2:] - y[r : r + y.shape[0] - 2, :-2] for r in range(3)) / 3
        gy = sum(y[2:, c : c + y.shape[1] - 2] - y[:-2, c : c + y.shape[1] - 2] for c in range(3)) / 3
        return np.sqrt(gx**2 + gy**2)

    m1, m2 = magnitude(ref), magnitude(dist)
    gms = (2 * m1 * m2 + 170) / (m1**2 + m2**2 + 170)
    return float(np.std(gms, ddof=1))


def test_identical_inputs_give_zero(tid_pairs):
    _, ref = tid_pairs
    assert metrics.create("gmsd")(ref[:2], ref[:2]).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("shape", [(67, 93), (3, 3), (40, 41)])
def test_matches_numpy_transcription_on_odd_sizes(rng, shape):
    ref = torch.from_numpy(rng.random((2, 3, *shape), dtype=np.float32))
    dist = _noisy(ref, 0.1)
    got = metrics.create("gmsd")(dist, ref)
    for i in range(2):
        r = rgb2gray(ref[i : i + 1], round_uint8=True)[0, 0].double().numpy() * 255
        d = rgb2gray(dist[i : i + 1], round_uint8=True)[0, 0].double().numpy() * 255
        assert got[i].item() == pytest.approx(_gmsd_numpy(r, d), rel=1e-5, abs=1e-7)


def test_too_small_raises():
    tiny = torch.rand(1, 3, 2, 50)
    with pytest.raises(MetricInputError, match="minimum"):
        metrics.create("gmsd")(tiny, tiny)
