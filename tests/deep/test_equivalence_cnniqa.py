"""CNNIQA equals pyiqa 0.1.16 on identical random weights; max/min pooling makes it translation invariant."""

from __future__ import annotations

import pytest
import torch

import metrics
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases


def test_cnniqa_same_function_as_reference(deep_env, tid_pairs):
    cases = random_cases([(2, 96, 128), (1, 97, 131)]) + [calibration_case(tid_pairs)]
    check_equivalence("cnniqa", deep_env, cases)


def test_smallest_size_works_and_smaller_raises(deep_env):
    """A 7×7 image has a single 7×7 response per kernel (max = min); 6×6 has none and is refused clearly."""
    deep_env.ensure("CNNIQA_koniq10k-e6f14c91.pth")
    model = metrics.create("cnniqa")
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        scores = model(torch.rand(3, 3, 7, 7, generator=gen))
    assert torch.isfinite(scores).all() and scores.std() > 0
    with pytest.raises(metrics.MetricInputError, match="minimum 7"):
        model(torch.rand(1, 3, 6, 20))
