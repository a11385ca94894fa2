"""DBCNN equals pyiqa 0.1.16 on identical random weights, including sizes where the two streams' maps differ."""

from __future__ import annotations

import pytest
import torch

import metrics
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases


def test_dbcnn_same_function_as_reference(deep_env, tid_pairs):
    # 97×131: VGG gives 6×8, S-CNN 7×9 → the S-CNN map is resized; 96×128 (multiples of 16): no resize
    cases = random_cases([(2, 96, 128), (1, 97, 131)]) + [calibration_case(tid_pairs, 0.25)]
    check_equivalence("dbcnn", deep_env, cases, reference_only_files=("vgg16-397923af.pth", "DBCNN_scnn-7ea73d75.pth"))


def test_dbcnn_minimum_size(deep_env):
    deep_env.ensure("DBCNN_KonIQ10k-2de81c0a.pth")
    model = metrics.create("dbcnn")
    with torch.inference_mode():
        assert torch.isfinite(model(torch.rand(1, 3, 16, 17))).all()
    with pytest.raises(metrics.MetricInputError, match="minimum 16"):
        model(torch.rand(1, 3, 15, 40))
