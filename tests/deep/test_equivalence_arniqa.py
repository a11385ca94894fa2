"""ARNIQA (ResNet-50 encoder + per-dataset TorchScript regressor) equals pyiqa 0.1.16 on identical random weights.

The reference builds torchvision's ImageNet ResNet-50 (seeded at random here, read by the reference only) before
the encoder file overwrites it, and runs the regressor archives' code with ``torch.jit.load``; ours reads only
their tensors. Odd sizes check the half-size copy (``scale_factor=0.5``, floor of each side).
"""

from __future__ import annotations

import pytest
import torch

import metrics
from metrics.deep.arniqa import REGRESSORS
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases

REFERENCE_ONLY = ("resnet50-0676ba61.pth",)


def test_koniq_regressor_same_function_as_reference(deep_env, tid_pairs):
    cases = random_cases([(2, 64, 96), (1, 67, 93), (1, 5, 9)], seed=17) + [calibration_case(tid_pairs, 0.25)]
    check_equivalence("arniqa", deep_env, cases, reference_only_files=REFERENCE_ONLY)


@pytest.mark.parametrize("name", sorted(set(REGRESSORS) - {"arniqa"}))
def test_other_regressors_same_function(name, deep_env):
    """Each dataset's regressor and its MOS scale (LIVE and CSIQ are lower-better: flipped)."""
    check_equivalence(name, deep_env, random_cases([(2, 48, 71)], seed=19), reference_only_files=REFERENCE_ONLY)


def test_scores_are_rescaled_to_the_dataset_range(deep_env):
    """The regressor's MOS mapped to [0, 1] by the dataset's range, flipped when it is lower-better."""
    deep_env.ensure("ARNIQA.pth", "regressor_live.pth", "regressor_csiq.pth")
    x = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(23))
    model = metrics.create("arniqa-live")
    with torch.inference_mode():
        half = torch.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        embedding = torch.cat([model._embed(x), model._embed(half)], dim=1)
        mos = embedding @ model.weights.T + model.biases
        assert torch.allclose(model(x), 1 - (mos.flatten() - 1) / 99, rtol=1e-6)
    with pytest.raises(ValueError, match="regressor must be one of"):
        metrics.create("arniqa", regressor="pipal")
