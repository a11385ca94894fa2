"""TOPIQ with a Swin-B backbone (``topiq_iaa``, ``topiq_nr_swin-face``) and the ResNet-50 face checkpoints
(``topiq_nr-face``, ``topiq_nr-face-v1``) equal pyiqa 0.1.16 on identical random weights.

The reference is built offline by ``tests/_helpers/topiq_reference.py``. The face checkpoints are compared here with
face alignment off (``align_crop_face=False`` on both sides): both score the image as given. The default (alignment
on: RetinaFace detection, warp onto the FFHQ template) is compared in tests/deep/test_equivalence_face_align.py.

A Swin-B input is always resized to 384×384, so the input size does not change the cost: a few images only.
"""

from __future__ import annotations

import pytest
import torch

import metrics
from metrics.deep.topiq import FACE_CHECKPOINTS
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases
from tests._helpers.topiq_reference import offline_topiq_reference

UNALIGNED = {"align_crop_face": False}


@pytest.fixture()
def reference(monkeypatch):
    return offline_topiq_reference(monkeypatch)


@pytest.fixture()
def face_reference(monkeypatch):
    return offline_topiq_reference(monkeypatch, align_crop_face=False)


def test_swin_aesthetic_same_function(deep_env, tid_pairs, reference):
    """``topiq_iaa``: Swin-B/384 levels (256, 512, 1024, 1024 channels), D = 512, the expected rating 1…10. Odd
    sizes and aspect ratios are squashed to 384×384 (antialiased), as in the reference."""
    cases = random_cases([(1, 83, 117)], seed=17) + [calibration_case(tid_pairs, 0.25, count=1)]
    check_equivalence("topiq_iaa", deep_env, cases, make_reference=reference("topiq_iaa"))


def test_swin_face_same_function(deep_env, face_reference):
    cases = random_cases([(2, 401, 385)], seed=19)
    check_equivalence("topiq_nr_swin-face", deep_env, cases, make_reference=face_reference("topiq_nr_swin-face"),
                      options=UNALIGNED)


@pytest.mark.parametrize("name", ["topiq_nr-face", "topiq_nr-face-v1"])
def test_resnet_face_same_function(name, deep_env, face_reference):
    """The shorter side is resized to 512 first: a small crop is enlarged, a larger one reduced."""
    sizes = [(2, 48, 40), (1, 530, 600)] if name == "topiq_nr-face" else [(2, 40, 52)]
    check_equivalence(name, deep_env, random_cases(sizes, seed=23), make_reference=face_reference(name),
                      options=UNALIGNED)


def test_face_metrics_are_registered_with_their_range():
    for name in FACE_CHECKPOINTS:
        spec = metrics.get_spec(name)
        assert spec.mode == "NR" and spec.score_range == (0.0, 1.0) and not spec.lower_better
        assert "RetinaFace" in spec.paper and spec.options["align_crop_face"] is True
    assert metrics.get_spec("topiq_iaa").score_range == (1.0, 10.0)


def test_swin_scores_any_input_size(deep_env):
    """The 384×384 resize comes first, so a 1×1 image is scored (as in the reference)."""
    deep_env.ensure("topiq_nr_gfiqa_swin-7bb80a60.pth", "detection_Resnet50_Final.pth")
    model = metrics.create("topiq_nr_swin-face", **UNALIGNED)
    with torch.inference_mode():
        score = model(torch.rand(1, 3, 1, 1, generator=torch.Generator().manual_seed(3)))
    assert model.min_size == 1 and score.shape == (1,) and torch.isfinite(score).all()
