"""NIMA (VGG-16, AVA) equals pyiqa 0.1.16 on identical random weights.

pyiqa builds its trunk with ``timm.create_model(..., pretrained=True)`` before its checkpoint overwrites every
weight; here timm is told not to fetch its ImageNet file (nothing is downloaded). timm is a test-only dependency.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests._helpers.equivalence import check_equivalence as compare_with_reference


def test_same_function_as_reference(deep_env, tid_pairs, monkeypatch):
    timm = pytest.importorskip("timm")
    create = timm.create_model
    monkeypatch.setattr(timm, "create_model", lambda *args, **kwargs: create(*args, **{**kwargs, "pretrained": False}))
    gen = torch.Generator().manual_seed(13)
    dist, _ = tid_pairs
    inputs = [
        ("random 64x80 (upsampled)", torch.rand(2, 3, 64, 80, generator=gen), None),
        ("portrait odd 301x227", torch.rand(1, 3, 301, 227, generator=gen), None),
        ("calibration images /2", F.interpolate(dist, scale_factor=0.5, mode="area"), None),
        ("calibration images I03, I04 full size", dist[:2], None),
    ]
    compare_with_reference("nima-vgg16-ava", deep_env, inputs)


@pytest.mark.parametrize("name", ["nima", "nima-koniq", "nima-spaq"])
def test_inception_resnet_checkpoints_same_function(name, deep_env, monkeypatch):
    """Inception-ResNet-v2 trunk (resized to 299, centre-cropped, mean/std 0.5): the AVA checkpoint scores the
    mean rating of its softmax, the KonIQ and SPAQ ones their single output."""
    timm = pytest.importorskip("timm")
    create = timm.create_model
    monkeypatch.setattr(timm, "create_model", lambda *args, **kwargs: create(*args, **{**kwargs, "pretrained": False}))
    gen = torch.Generator().manual_seed(29)
    inputs = [
        ("random 64x80 (upsampled)", torch.rand(2, 3, 64, 80, generator=gen), None),
        ("portrait odd 331x301", torch.rand(1, 3, 331, 301, generator=gen), None),
    ]
    compare_with_reference(name, deep_env, inputs)
