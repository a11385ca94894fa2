"""AHIQ (``ahiq``) equals pyiqa 0.1.16 on identical random weights.

pyiqa builds AHIQ's backbones with ``timm.create_model('resnet50' / 'vit_base_patch8_224', pretrained=True)``,
which downloads timm's ImageNet files; the test builds them with ``pretrained=False`` and fills them, strictly,
from the same seeded ``model.safetensors`` files that ours loads through the weight store (timm's published layout,
in the Hugging Face cache folders of ``timm/resnet50.a1_in1k`` and ``timm/vit_base_patch8_224.augreg2_in21k_ft_in1k``).

pyiqa 0.1.16 takes AHIQ's test crops (``num_crop``, 20) on a regular grid, as for MANIQA (the grid itself is
compared at 20 crops in test_equivalence_maniqa.py); a crop pair costs about 400 GFLOP here, so the networks are
compared on fewer crops (``crops``/``num_crop`` set alike on both sides).
"""

from __future__ import annotations

import pytest
import torch

import metrics
from metrics.deep.weights import weight_files
from tests._helpers.equivalence import (
    RTOL,
    calibration_case,
    max_relative_difference,
    random_cases,
)
from tests._helpers.random_weights_vit import AHIQ_RESNET, AHIQ_VIT


@pytest.fixture()
def reference(monkeypatch, deep_env):
    timm = pytest.importorskip("timm")
    pytest.importorskip("pyiqa")
    from safetensors.torch import load_file

    real = timm.create_model
    monkeypatch.setattr(timm, "create_model", lambda name, pretrained=False, **kw: real(name, pretrained=False, **kw))

    def make(crops: int):
        import pyiqa

        model = pyiqa.create_metric("ahiq", device="cpu", num_crop=crops)
        model.net.resnet50.load_state_dict(load_file(deep_env.written[AHIQ_RESNET]), strict=True)
        model.net.vit.load_state_dict(load_file(deep_env.written[AHIQ_VIT]), strict=True)
        return model

    return make


@pytest.mark.timeout(1500)
def test_ahiq_same_function_as_reference(deep_env, tid_pairs, reference):
    """A random pair of odd size larger than a crop (2 grid crops: the second one shifted) and a calibration pair
    smaller than a crop in height (enlarged first); each score is the mean over its 2 crops."""
    deep_env.ensure(*[wf.name for wf in weight_files("ahiq")])
    ours, theirs = metrics.create("ahiq", crops=2), reference(2)
    assert set(ours.weight_sha256) == {"AHIQ_vit_p8_epoch33-da3ea303.pth", AHIQ_RESNET, AHIQ_VIT}
    cases = random_cases([(1, 230, 241)]) + [calibration_case(tid_pairs, 0.5, count=1)]
    worst, scores = 0.0, []
    for label, dist, ref in cases:
        with torch.inference_mode():
            got, want = ours(dist, ref), theirs(dist, ref).flatten()
        assert got.shape == want.shape == (1,) and torch.isfinite(got).all(), label
        scores += got.tolist()
        diff = max_relative_difference(got, want)
        worst = max(worst, diff)
        assert diff <= RTOL, f"{label}: ours {got.tolist()} vs pyiqa {want.tolist()}"
    assert len(set(scores)) == len(scores), scores
    print(f"\nahiq (2 crops): max relative difference vs pyiqa 0.1.16 = {worst:.2e}")


def test_crops_option_is_checked(deep_env):
    with pytest.raises(ValueError, match="crops must be at least 1"):
        metrics.create("ahiq", crops=0)
