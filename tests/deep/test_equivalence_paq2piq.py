"""PaQ-2-PiQ equals pyiqa 0.1.16 on identical random weights; the RoI pooling of the whole picture."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import metrics
from metrics import MetricInputError
from tests._helpers.equivalence import check_equivalence as compare_with_reference


def test_same_function_as_reference(deep_env, tid_pairs):
    gen = torch.Generator().manual_seed(12)
    dist, _ = tid_pairs
    inputs = [
        ("random 64x80", torch.rand(2, 3, 64, 80, generator=gen), None),
        ("odd 67x93", torch.rand(1, 3, 67, 93, generator=gen), None),
        ("smallest 32x45", torch.rand(1, 3, 32, 45, generator=gen), None),
        ("calibration images /2", F.interpolate(dist, scale_factor=0.5, mode="area"), None),
        ("calibration image I03 full size", dist[:1], None),
    ]
    # pyiqa builds its trunk from torchvision's ImageNet ResNet-18 file before the checkpoint overwrites it
    compare_with_reference("paq2piq", deep_env, inputs, reference_only_files=("resnet18-f37072fd.pth",))


def test_too_small_raises(deep_env):
    deep_env.ensure("P2P_RoIPoolModel-fit.10.bs.120-ca69882e.pth")
    model = metrics.create("paq2piq")
    with pytest.raises(MetricInputError, match="minimum 32"):
        model(torch.rand(1, 3, 31, 64))
    assert torch.isfinite(model(torch.rand(1, 3, 32, 32))).all()
