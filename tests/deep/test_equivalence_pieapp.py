"""PieAPP equals pyiqa 0.1.16 on identical random weights; patch grid and size limit."""

from __future__ import annotations

import pytest
import torch

import metrics
from metrics.deep.nets import grid_patches, grid_positions
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases


def test_pieapp_same_function_as_reference(deep_env, tid_pairs):
    # 64-px patches on a 27-px grid: the calibration pairs at 1/4 scale (96×128) hold 6 patches each
    cases = random_cases([(2, 96, 128), (1, 97, 131)]) + [calibration_case(tid_pairs, 0.25)]
    check_equivalence("pieapp", deep_env, cases)


def test_patch_grid_counts_and_positions():
    assert grid_positions(384, 64, 27) == 12 and grid_positions(512, 64, 27) == 17
    assert grid_positions(64, 64, 27) == 1 and grid_positions(63, 64, 27) == 0
    x = torch.arange(2 * 3 * 100 * 120, dtype=torch.float32).view(2, 3, 100, 120)
    rows, cols = grid_positions(100, 64, 27), grid_positions(120, 64, 27)
    patches = grid_patches(x, 64, 27, rows, cols).view(2, rows, cols, 3, 64, 64)
    assert torch.equal(patches[1, 1, 2], x[1, :, 27:91, 54:118])


def test_pieapp_rejects_images_smaller_than_a_patch(deep_env):
    deep_env.ensure("PieAPPv0.1-0937b014.pth")
    model = metrics.create("pieapp")
    with pytest.raises(metrics.MetricInputError, match="minimum 64"):
        model(torch.rand(1, 3, 63, 100), torch.rand(1, 3, 63, 100))
