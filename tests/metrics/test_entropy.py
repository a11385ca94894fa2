"""Entropy: values derived by hand from the histogram definition."""

from __future__ import annotations

import math

import pytest
import torch

import metrics
from metrics import MetricInputError


def _entropy(x: torch.Tensor) -> list[float]:
    return metrics.create("entropy")(x).tolist()


def test_constant_image_is_zero():
    assert _entropy(torch.full((1, 3, 9, 9), 0.3)) == [0.0]


def test_two_equal_levels_is_one_bit_and_uniform_is_eight():
    x = torch.zeros(1, 3, 4, 4)
    x[..., :2, :] = 1.0  # half black, half white
    levels = torch.arange(256, dtype=torch.float32).reshape(1, 1, 16, 16).expand(1, 3, 16, 16) / 255
    assert _entropy(torch.cat([x, torch.zeros(1, 3, 4, 4)]))[0] == pytest.approx(1.0)
    assert _entropy(levels.contiguous()) == [pytest.approx(8.0)]


def test_unequal_histogram():
    x = torch.zeros(1, 3, 1, 4)
    x[..., 0] = 1.0  # p = (3/4, 1/4)
    want = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert _entropy(x) == [pytest.approx(want, abs=1e-6)]


def test_batch_and_nan():
    x = torch.rand(3, 3, 17, 23)
    together = _entropy(x)
    assert together == pytest.approx([_entropy(x[i : i + 1])[0] for i in range(3)], abs=1e-6)
    x[1, 0, 0, 0] = float("nan")
    with pytest.raises(MetricInputError, match="NaN"):
        _entropy(x)
