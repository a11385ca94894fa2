"""UNIQUE (ResNet-34, bilinear pooling, linear read-out) equals pyiqa 0.1.16 on identical random weights.

The reference builds torchvision's ImageNet ResNet-34 (seeded at random here, read by the reference only) before
``UNIQUE.pt`` overwrites it. The whole image is scored (no resize): odd sizes check the strides.
"""

from __future__ import annotations

import torch

import metrics
from metrics.deep.unique import bilinear_pool
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases

REFERENCE_ONLY = ("resnet34-b627a593.pth",)


def test_same_function_as_reference(deep_env, tid_pairs):
    cases = random_cases([(2, 64, 96), (1, 67, 93), (1, 9, 5)], seed=31) + [calibration_case(tid_pairs, 0.25)]
    check_equivalence("unique", deep_env, cases, reference_only_files=REFERENCE_ONLY)


def test_bilinear_pool_is_a_unit_vector_of_the_signed_root_gram_matrix():
    features = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(5))
    pooled = bilinear_pool(features)
    flat = features.reshape(2, 4, 15)
    gram = torch.einsum("nci,ndi->ncd", flat, flat) / 15
    expected = (gram.sign() * (gram.abs() + 1e-8).sqrt()).reshape(2, 16)
    assert torch.allclose(pooled, expected / expected.norm(dim=1, keepdim=True), atol=1e-6)
    assert torch.allclose(pooled.norm(dim=1), torch.ones(2))


def test_score_is_the_first_output(deep_env):
    deep_env.ensure("UNIQUE.pt")
    model = metrics.create("unique")
    assert model.fc_weight.shape == (512 * 512,)
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(3))
    assert model(x).shape == (1,)
