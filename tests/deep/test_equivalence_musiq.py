"""MUSIQ (all four checkpoints) equals pyiqa 0.1.16 on identical random weights; its multi-scale input pieces."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from metrics.deep import musiq
from tests._helpers.equivalence import check_equivalence as compare_with_reference


def _inputs(tid_pairs, full: bool):
    gen = torch.Generator().manual_seed(11)
    cases = [("random 64x80", torch.rand(2, 3, 64, 80, generator=gen), None)]
    if full:  # the calibration images /4 (their 224/384 scales are the full-size ones; only the native scale shrinks)
        dist, _ = tid_pairs
        cases += [
            ("portrait odd 90x41", torch.rand(1, 3, 90, 41, generator=gen), None),
            ("calibration images /4", F.interpolate(dist, scale_factor=0.25, mode="area"), None),
        ]
    return cases


@pytest.mark.parametrize("name", ["musiq", "musiq-ava", "musiq-paq2piq", "musiq-spaq"])
def test_same_function_as_reference(name, deep_env, tid_pairs):
    # both head types (score, 10-bin distribution) on every input; the other two checkpoints share the score head
    compare_with_reference(name, deep_env, _inputs(tid_pairs, full=name in ("musiq", "musiq-ava")))


def test_hashed_positions_cover_the_grid():
    # a 10×10 patch grid maps one-to-one onto the 10×10 embedding grid; a 5×20 grid to every other row, each column twice
    assert musiq.hashed_positions(10, 10, torch.device("cpu")).tolist() == list(range(100))
    pos = musiq.hashed_positions(5, 20, torch.device("cpu")).view(5, 20)
    assert (pos // 10)[:, 0].tolist() == [0, 2, 4, 6, 8]
    assert (pos % 10)[0].tolist() == [c // 2 for c in range(20)]


def test_patches_pad_like_tensorflow_same():
    x = torch.arange(40 * 70, dtype=torch.float32).view(1, 1, 40, 70).expand(1, 3, 40, 70) + 1
    p = musiq.patchify(x)  # 64×96 after padding 24 rows (12 above, 12 below) and 26 columns (13 left, 13 right)
    assert p.shape == (1, 2 * 3, 3, 32, 32)
    assert p[0, 0, :, :12].abs().sum() == 0 and p[0, 0, :, :, :13].abs().sum() == 0
    assert p[0, 0, 0, 12, 13] == 1 and p[0, 0, 0, 12, 14] == 2 and p[0, 0, 0, 13, 13] == 71
    assert p[0, 4, 0, 0, 0] == 20 * 70 + 19 + 1  # patch (1, 1) starts at padded (32, 32) = original (20, 19)
    assert p[0, 5, :, 20:].abs().sum() == 0 and p[0, 5, :, :, 19:].abs().sum() == 0  # bottom and right padding
    assert p[0, 5, 0, 19, 18] == 40 * 70  # the last original pixel (39, 69) at padded (51, 82)
