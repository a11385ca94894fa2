"""MS-SWD (learned projections of CIELab, sorted per projection) equals pyiqa 0.1.16 on identical random weights.

pyiqa 0.1.16's MS-SWD (``MS_SWD_learned``) scores with the trained projection convolutions only: no projection is
drawn at random at test time, so no seeding of the sampling is needed (the global torch seed is still fixed before
each side is built and run, so that a random draw, were one added, would be the same on both sides). Sizes above
256 on the shorter side check the antialiased resize; odd sizes the reflect padding.
"""

from __future__ import annotations

import torch

import metrics
from metrics.deep.msswd import srgb_to_cielab
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases


def test_same_function_as_reference(deep_env, tid_pairs):
    torch.manual_seed(0)
    cases = random_cases([(2, 48, 64), (1, 7, 9), (1, 258, 263)], seed=41)
    check_equivalence("msswd", deep_env, cases + [calibration_case(tid_pairs, 0.25)])


def test_lab_of_white_black_and_grey():
    rgb = torch.tensor([1.0, 0.0, 0.5]).view(3, 1, 1, 1).expand(3, 3, 1, 1)
    lab = srgb_to_cielab(rgb).flatten(1)
    assert torch.allclose(lab[0], torch.tensor([100.0, 0.0, 0.0]), atol=2e-3)
    assert torch.allclose(lab[1], torch.zeros(3), atol=1e-4)
    assert abs(lab[2, 0] - 53.39) < 0.01 and lab[2, 1:].abs().max() < 2e-3  # CIELab L* of sRGB mid-grey


def test_identical_images_are_at_distance_zero_and_a_change_is_not(deep_env):
    deep_env.ensure("msswd_weights.pth")
    model = metrics.create("msswd")
    x = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(2))
    assert model(x, x).item() == 0.0
    assert model((x * 0.8).clamp(0, 1), x).item() > 0
