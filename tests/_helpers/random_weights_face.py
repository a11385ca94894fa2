"""A random ``detection_Resnet50_Final.pth`` (facexlib's RetinaFace, ResNet-50) that finds one kind of face.

The key names and shapes are facts of the published file (``body.*``: a torchvision ResNet-50 up to ``layer4``,
no ``fc``; ``fpn.output{1,2,3}``/``fpn.merge{1,2}`` and ``ssh{1,2,3}.conv3X3``/``conv5X5_{1,2}``/``conv7X7_2``/
``conv7x7_3`` as conv + BatchNorm pairs ``.0``/``.1``; ``ClassHead``/``BboxHead``/``LandmarkHead.{0,1,2}.conv1x1``
with two anchors per position), written out here independently of our module, so that a strict load proves that
it fits the published layout. It is kept in ``$TORCH_HOME/hub/pyiqa``, where pyiqa 0.1.16 has facexlib look for it
and where our weight store reads it.

The ResNet's first convolution is scaled by 1/100 (the input is mean-centred 0…255) and its residual branches'
last BatchNorm scales by 0.3, so that activations stay of order 1 through the network. Random weights detect nothing (a face probability above 0.97 needs a trained classifier), so three head tensors
are set to make every image hold confident faces, deterministically and with distinct scores:

* class heads: random weights (logit differences of order 0.5 between positions) and biases that make the
  stride-32 level's first anchor (256 px) a face at logit difference ``FACE_LOGIT`` (probabilities about 0.997 to
  0.998, above 0.97, no two equal) and every other anchor background (difference −10);
* box heads: weights scaled by 0.1 (boxes within a few pixels of their anchors: heavily overlapping 256 px boxes,
  which NMS at IoU 0.4 thins to a grid of faces, of which the alignment keeps the central one);
* landmark heads: weights scaled by 0.02 and biases placing the five points as on a frontal face inside the anchor
  (eyes ±0.2 of the anchor's width beside and 0.1 above its centre, nose 0.1 below, mouth corners ±0.16 and 0.3
  below), so that each face's landmarks are a slightly perturbed, well-conditioned face and the similarity
  transform onto the FFHQ template is well defined (eyes about 100 px apart, far above the 5 px minimum).

Merged into ``random_weights.FILES``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torchvision import models

from tests._helpers.random_weights_b import _module_state, _random_state

PYRAMID = 256
BODY_LEVELS = (512, 1024, 2048)
ANCHORS = 2
FACE_LOGIT = 6.0
#: (x, y) of the five landmarks as fractions of the anchor's size, relative to its centre.
FACE_POINTS = ((-0.2, -0.1), (0.2, -0.1), (0.0, 0.1), (-0.16, 0.3), (0.16, 0.3))


def _conv_bn(prefix: str, cin: int, cout: int, k: int) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {f"{prefix}.0.weight": (cout, cin, k, k)}
    for name in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"{prefix}.1.{name}"] = (cout,)
    shapes[f"{prefix}.1.num_batches_tracked"] = ()
    return shapes


def _detector_layout() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for i, cin in enumerate(BODY_LEVELS, start=1):
        shapes.update(_conv_bn(f"fpn.output{i}", cin, PYRAMID, 1))
    for i in (1, 2):
        shapes.update(_conv_bn(f"fpn.merge{i}", PYRAMID, PYRAMID, 3))
    half, quarter = PYRAMID // 2, PYRAMID // 4
    for i in (1, 2, 3):
        for name, cin, cout in (("conv3X3", PYRAMID, half), ("conv5X5_1", PYRAMID, quarter),
                                ("conv5X5_2", quarter, quarter), ("conv7X7_2", quarter, quarter),
                                ("conv7x7_3", quarter, quarter)):
            shapes.update(_conv_bn(f"ssh{i}.{name}", cin, cout, 3))
    for head, values in (("ClassHead", 2), ("BboxHead", 4), ("LandmarkHead", 10)):
        for i in range(3):
            shapes[f"{head}.{i}.conv1x1.weight"] = (ANCHORS * values, PYRAMID, 1, 1)
            shapes[f"{head}.{i}.conv1x1.bias"] = (ANCHORS * values,)
    return shapes


def _retinaface(seed: int) -> dict[str, torch.Tensor]:
    body = _module_state(models.resnet50(weights=None), seed)
    for key in body:
        if key.endswith(("bn3.weight", "downsample.1.weight")):
            body[key] = body[key] * 0.3  # bounded activations through the 16 blocks
    body["conv1.weight"] = body["conv1.weight"] / 100  # the input is 0…255 (minus the mean), not standardised
    state = {f"body.{k}": v for k, v in body.items() if not k.startswith("fc.")}
    state.update(_random_state(_detector_layout(), seed + 1))
    for i in range(3):
        bias = torch.tensor([0.0, -10.0] * ANCHORS)  # (background, face) logits per anchor
        if i == 2:
            bias[1] = FACE_LOGIT  # stride 32, anchor 0 (256 px): a face
        state[f"ClassHead.{i}.conv1x1.bias"] = bias
        state[f"BboxHead.{i}.conv1x1.weight"] *= 0.1
        state[f"LandmarkHead.{i}.conv1x1.weight"] *= 0.02
        # offsets are in units of 0.1 anchor size (the centre variance)
        state[f"LandmarkHead.{i}.conv1x1.bias"] = torch.tensor(FACE_POINTS).flatten().repeat(ANCHORS) / 0.1
    return state


#: file name → (source, generator of its content); "pyiqa": kept in ``$TORCH_HOME/hub/pyiqa``.
FILES_FACE: dict[str, tuple[str, Callable[[], object]]] = {
    "detection_Resnet50_Final.pth": ("pyiqa", lambda: _retinaface(301)),
}
