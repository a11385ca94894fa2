"""PIQE: block rules checked on constructed images, monotonicity, odd sizes, batch errors."""

from __future__ import annotations

import pytest
import torch

import metrics


def _score(x: torch.Tensor) -> list[float]:
    return metrics.create("piqe")(x).tolist()


def test_flat_image_has_no_active_block_and_scores_100():
    # no block is active → (0 + 1) / (0 + 1) · 100
    assert _score(torch.full((1, 3, 32, 48), 0.4)) == [pytest.approx(100.0)]


def test_white_noise_is_worse_than_clean(tid_pairs):
    _, ref = tid_pairs
    gen = torch.Generator().manual_seed(1)
    noisy = [(ref[1:2] + s * torch.randn(ref[1:2].shape, generator=gen)).clamp(0, 1) for s in (0.0, 0.03, 0.1)]
    scores = _score(torch.cat(noisy))
    assert scores[0] < scores[1] < scores[2]
    assert all(0.0 <= s <= 100.0 for s in scores)


def test_odd_sizes_pad_by_replication(tid_pairs):
    dist, _ = tid_pairs
    odd = dist[:2, :, :101, :77]
    got = _score(odd)
    assert all(0.0 <= s <= 100.0 for s in got)
    assert got[0] == pytest.approx(_score(odd[:1])[0], abs=1e-4)


def test_tiny_image_works():
    assert 0.0 <= _score(torch.rand(1, 3, 5, 7))[0] <= 100.0
