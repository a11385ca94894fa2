"""The face metrics' default pipeline (``align_crop_face=True``: RetinaFace detection, central face, warp onto the
FFHQ 512×512 template, TOPIQ on the crop) equals pyiqa 0.1.16's (CFANet with facexlib's ``FaceRestoreHelper``) on
identical random weights, step by step: the five landmarks, the similarity transform, the crop and the score.

Both sides load the same seeded ``detection_Resnet50_Final.pth`` (tests/_helpers/random_weights_face.py), whose
class-head biases make the 256 px anchors of the stride-32 level confident faces (probabilities about 0.997–0.998,
all distinct) and whose landmark-head biases give each a frontal-face layout, so that every image holds several
detections of which both sides must keep the same central one. The reference is pyiqa with the real facexlib
(installed without its dependencies, next to pyiqa); facexlib's face-parsing network, which its helper builds but
the alignment never uses, is replaced by a stand-in that fails if it is used.

Tolerances: the landmarks (same network, same operations) and the transform (the same OpenCV estimate on them) are
compared to 1e-4 relatively; the crop and the score too (max relative difference ≤ 1e-4, float32). The warp is the
same OpenCV call on the same pixels, so no rounding difference is expected; the measured differences are printed.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import metrics
from metrics.deep.face_align import NoFaceError, central_face, similarity_to_template, warp_face
from metrics.deep.retinaface import Faces
from metrics.deep.topiq import FACE_CHECKPOINTS
from metrics.deep.weights import weight_files
from tests._helpers.equivalence import RTOL, max_relative_difference
from tests._helpers.topiq_reference import offline_topiq_reference

NAME = "topiq_nr-face"


class UnusedParser:
    """Stands in for facexlib's face-parsing network, which ``FaceRestoreHelper`` builds (downloading its weights)
    but the detection and alignment never call."""

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the face parser is not part of the aligned scoring path")


def _files(name: str) -> set[str]:
    return {wf.name for wf in weight_files(name)}


@pytest.fixture()
def aligned_reference(monkeypatch, deep_env):
    """A builder of pyiqa's face metric with its default face alignment (real facexlib), offline."""
    helper = pytest.importorskip("facexlib.utils.face_restoration_helper")
    monkeypatch.setattr(helper, "init_parsing_model", lambda *args, **kwargs: UnusedParser())
    make = offline_topiq_reference(monkeypatch)  # align_crop_face left at pyiqa's default (True)
    monkeypatch.setattr(importlib.import_module("pyiqa.archs.topiq_arch"), "FaceRestoreHelper",
                        helper.FaceRestoreHelper)

    def build(name: str):
        deep_env.ensure(*_files(name))
        return make(name)()

    return build


def _image(seed: int, height: int, width: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(1, 3, height, width, generator=gen) * 0.6 + torch.rand(1, 3, 1, 1, generator=gen) * 0.4)


def _close(ours: np.ndarray | torch.Tensor, theirs: np.ndarray | torch.Tensor, what: str) -> float:
    ours_t, theirs_t = torch.as_tensor(np.asarray(ours), dtype=torch.float64), torch.as_tensor(
        np.asarray(theirs), dtype=torch.float64)
    assert ours_t.shape == theirs_t.shape, what
    diff = max_relative_difference(ours_t, theirs_t)
    assert diff <= RTOL, f"{what}: max relative difference {diff:.2e}"
    return diff


@pytest.mark.parametrize("name", FACE_CHECKPOINTS)
def test_aligned_face_pipeline_same_function(name, aligned_reference):
    theirs_model = aligned_reference(name)
    ours_model = metrics.create(name)
    assert set(ours_model.weight_sha256) == _files(name) and len(_files(name)) == 2
    image = _image(41, 300, 380)
    with torch.inference_mode():
        theirs = theirs_model(image).flatten().float()
        ours = ours_model(image)
    helper = theirs_model.net.face_helper
    assert len(helper.all_landmarks_5) == 1 and len(helper.cropped_faces) == 1
    with torch.inference_mode():
        faces = ours_model.aligner.detector.detect(image[0])
        landmarks = ours_model.aligner.locate(image[0])
    assert len(faces) > 1, "the seeded detector should find several faces, of which the central one is kept"
    kept = central_face(faces, *image.shape[-2:])
    assert kept is not None
    _close(torch.cat([faces.boxes[kept], faces.scores[kept, None]]), helper.det_faces, "central face (box, score)")
    matrix = similarity_to_template(landmarks)
    crop = warp_face(image[0], matrix)
    diffs = {
        "landmarks": _close(landmarks, helper.all_landmarks_5[0], "landmarks"),
        "transform": _close(matrix, helper.affine_matrices[0], "similarity transform"),
        "crop": _close(crop, torch.from_numpy(helper.cropped_faces[0][..., ::-1].copy()).permute(2, 0, 1) / 255.0,
                       "aligned crop"),
        "score": _close(ours, theirs, "score"),
    }
    # the crop is a real warp of the image (rotated/scaled, partly outside it: the grey border shows)
    assert crop.shape == (3, 512, 512) and not np.allclose(matrix[:, :2], np.eye(2))
    print(f"\n{name} aligned vs pyiqa 0.1.16: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))

    # no face: pyiqa stops with an assertion, ours with NoFaceError (both detectors made to see background only)
    for head in (ours_model.aligner.detector.ClassHead[2], theirs_model.net.face_helper.face_det.ClassHead[2]):
        head.conv1x1.bias.data[1] = -10.0
    with pytest.raises(AssertionError, match="No face detected"), torch.inference_mode():
        theirs_model(image)
    with pytest.raises(NoFaceError, match="no face detected"), torch.inference_mode():
        ours_model(image)


def test_a_batch_is_aligned_image_by_image(deep_env):
    """pyiqa aligns one image per call; ours aligns each image of a batch on its own: the same scores."""
    deep_env.ensure(*_files(NAME))
    model = metrics.create(NAME)
    first, second = _image(43, 96, 128), _image(47, 96, 128)
    with torch.inference_mode():
        batch = model(torch.cat([first, second]))
        alone = torch.cat([model(first), model(second)])
    assert torch.allclose(batch, alone, rtol=1e-6, atol=0) and batch[0] != batch[1]  # batched TOPIQ: last-bit noise


def test_the_central_face_with_eyes_apart_is_kept():
    """Faces whose eyes are under 5 px apart are dropped before the one nearest the image centre is chosen."""
    def face(x1: float, y1: float, eye_gap: float) -> tuple[list[float], list[list[float]]]:
        eyes = [[x1 + 10, y1 + 10], [x1 + 10 + eye_gap, y1 + 10]]
        return [x1, y1, x1 + 40, y1 + 40], eyes + [[x1 + 20, y1 + 20], [x1 + 12, y1 + 30], [x1 + 28, y1 + 30]]

    layout = [face(80, 60, 3.0), face(10, 10, 20.0), face(100, 70, 20.0), face(150, 120, 20.0)]
    faces = Faces(torch.tensor([b for b, _ in layout]), torch.tensor([0.99, 0.995, 0.98, 0.985]),
                  torch.tensor([p for _, p in layout]))
    assert central_face(faces, height=200, width=200) == 2  # face 0 is central but its eyes are 3 px apart
    narrow = Faces(faces.boxes[:1], faces.scores[:1], faces.landmarks[:1])
    assert central_face(narrow, height=200, width=200) is None
