"""HyperIQA equals pyiqa 0.1.16 on identical random weights (25 crops of 224 px: ~1 s per crop batch on one core).

The reference builds its backbone with ``timm.create_model('resnet50', pretrained=True)``, which would download
ImageNet weights that the HyperIQA checkpoint then overwrites in full (strict load); the test builds it with
``pretrained=False`` instead, so nothing is downloaded. timm is a test-only dependency of the reference.
"""

from __future__ import annotations

import pytest
import torch

from metrics.deep.nets import uniform_crops
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases


def test_hyperiqa_same_function_as_reference(deep_env, tid_pairs, monkeypatch):
    timm = pytest.importorskip("timm")
    real = timm.create_model
    monkeypatch.setattr(timm, "create_model", lambda name, pretrained=False, **kw: real(name, pretrained=False, **kw))

    def reference():
        import pyiqa

        return pyiqa.create_metric("hyperiqa", device="cpu")

    # 96×128 is enlarged (shorter side ≤ 224); 2 calibration pairs at full size take the crop grid as is
    cases = random_cases([(1, 96, 128)]) + [calibration_case(tid_pairs, 1.0, count=2)]
    check_equivalence("hyperiqa", deep_env, cases, make_reference=reference)


def test_crop_grid():
    x = torch.arange(384 * 512, dtype=torch.float32).view(1, 1, 384, 512).expand(2, 3, 384, 512)
    crops = uniform_crops(x, 224, 25)
    assert crops.shape == (50, 3, 224, 224)
    # steps (384-224)//5 = 32 and (512-224)//5 = 57; crop (i=4, j=3) of image 1 starts at (128, 171)
    assert torch.equal(crops[25 + 4 * 5 + 3], x[1, :, 128:352, 171:395])
    small = uniform_crops(torch.rand(1, 3, 100, 150), 224, 25)  # enlarged by 225/100 to 225×337
    assert small.shape == (25, 3, 224, 224)
