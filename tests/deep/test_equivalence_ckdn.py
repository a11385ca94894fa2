"""CKDN equals pyiqa 0.1.16 on identical random weights (upscaled small inputs, the full-size calibration pairs)."""

from __future__ import annotations

import torch

import metrics
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases


def test_ckdn_same_function_as_reference(deep_env, tid_pairs):
    cases = random_cases([(2, 96, 128), (1, 131, 97)]) + [calibration_case(tid_pairs)]
    # the reference builds an ImageNet ResNet-50 (old torchvision URL) that the CKDN checkpoint then overwrites
    check_equivalence("ckdn", deep_env, cases, reference_only_files=("resnet50-19c8e357.pth",))


def test_ckdn_input_roles_and_range(deep_env):
    """Distorted and reference images play different roles (two different branches); scores lie in (0, 1)."""
    deep_env.ensure("CKDN_model_best-38b27dc6.pth")
    model = metrics.create("ckdn")
    (_, dist, ref), = random_cases([(2, 64, 80)], seed=3)
    with torch.inference_mode():
        forward, swapped = model(dist, ref), model(ref, dist)
    assert ((forward > 0) & (forward < 1)).all()
    assert not torch.allclose(forward, swapped)
