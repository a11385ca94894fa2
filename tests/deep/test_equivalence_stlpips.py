"""ST-LPIPS (shift-tolerant AlexNet / VGG-16 trunks with blur-pools) equals pyiqa 0.1.16 on identical random weights.

Nothing is sampled at random: both sides see the same images. Odd sizes check the reflection padding and the
stride-2 blur-pools; the smallest accepted size runs too.
"""

from __future__ import annotations

import pytest
import torch

import metrics
from metrics.deep.stlpips import BlurPool
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases


@pytest.mark.parametrize(("name", "sizes", "calibration_scale"), [
    ("stlpips", [(2, 64, 96), (1, 67, 93), (1, 21, 23)], 0.5),
    ("stlpips-vgg", [(2, 48, 56), (1, 51, 49), (1, 18, 19)], 0.25),
])
def test_same_function_as_reference(deep_env, tid_pairs, name, sizes, calibration_scale):
    cases = random_cases(sizes, seed=43) + [calibration_case(tid_pairs, calibration_scale, count=3)]
    check_equivalence(name, deep_env, cases)


def test_blur_pool_halves_and_keeps_a_constant():
    x = torch.full((1, 2, 9, 12), 0.7)
    out = BlurPool()(x)
    assert out.shape == (1, 2, 6, 7)  # reflection padding 2 each side, 3×3 window, stride 2: (9+4-3)//2+1
    assert torch.allclose(out, torch.full_like(out, 0.7))


def test_identical_images_are_at_distance_zero(deep_env):
    deep_env.ensure("alex_shift_tolerant.pth")
    model = metrics.create("stlpips")
    x = torch.rand(1, 3, 40, 44, generator=torch.Generator().manual_seed(2))
    assert model(x, x).abs().max() < 1e-6
    with pytest.raises(ValueError):
        model(x[..., :20, :30], x[..., :20, :30])  # under the smallest size, 21
