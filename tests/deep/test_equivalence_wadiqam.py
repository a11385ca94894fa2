"""WaDIQaM-FR and -NR equal pyiqa 0.1.16 on identical random weights; the patch grid as published."""

from __future__ import annotations

import pytest
import torch

import metrics
from metrics.deep.nets import grid_positions
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases


@pytest.mark.parametrize("name", ["wadiqam_fr", "wadiqam_nr"])
def test_wadiqam_same_function_as_reference(name, deep_env, tid_pairs):
    cases = random_cases([(2, 96, 128), (1, 97, 131)]) + [calibration_case(tid_pairs, 0.5)]
    check_equivalence(name, deep_env, cases)


def test_grid_stops_before_the_last_full_patch():
    assert grid_positions(384, 32, 32, include_last=False) == 11  # starts 0..320, not 352
    assert grid_positions(33, 32, 32, include_last=False) == 1
    assert grid_positions(32, 32, 32, include_last=False) == 0


def test_pixels_outside_the_grid_do_not_count(deep_env):
    deep_env.ensure("WaDIQaM-NR-koniq-aaffea29.pth")
    model = metrics.create("wadiqam_nr")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 96, 96, generator=gen)
    y = x.clone()
    y[..., 64:, :] = torch.rand(1, 3, 32, 96, generator=gen)  # the last patch row is not on the grid
    z = x.clone()
    z[..., :32, :32] = torch.rand(1, 3, 32, 32, generator=gen)
    with torch.inference_mode():
        sx, sy, sz = model(x), model(y), model(z)
    assert sx.item() == sy.item()
    assert sx.item() != sz.item()
    with pytest.raises(metrics.MetricInputError, match="minimum 33"):
        model(torch.rand(1, 3, 32, 64))
