"""DMM (SVDs of 16×16 patches of L2-pooled VGG-16 features) equals pyiqa 0.1.16 on identical random VGG-16 weights.

Images of at most 128 pixels on the shorter side are scored as they are; larger ones are resized to a square (the
150×170 case: 128×128). Sizes stay small: every patch of every channel is one SVD.
"""

from __future__ import annotations

import pytest
import torch

import metrics
from metrics.base import MetricInputError
from metrics.deep.dmm import working_size
from tests._helpers.equivalence import check_equivalence, random_cases


def test_same_function_as_reference(deep_env):
    cases = random_cases([(2, 121, 124), (1, 150, 170)], seed=53)
    check_equivalence("dmm", deep_env, cases)


def test_working_size_is_a_square_above_128():
    assert working_size(128, 500) is None
    assert working_size(800, 1080) == 512 and working_size(1080, 800) == 512
    assert working_size(129, 129) == 128 and working_size(300, 270) == 160


def test_identical_images_score_zero_and_smaller_sizes_are_refused(deep_env):
    deep_env.ensure("vgg16-397923af.pth")
    model = metrics.create("dmm")
    x = torch.rand(1, 3, 121, 125, generator=torch.Generator().manual_seed(4))
    assert model(x, x).item() == 0.0
    assert model((x * 0.7).clamp(0, 1), x).item() > 0
    with pytest.raises(MetricInputError, match="121"):
        model(x[..., :120, :], x[..., :120, :])
