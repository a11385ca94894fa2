"""CKDN: conditional knowledge distillation network for degraded-reference IQA.

Zheng, Yang, Fu, Zha & Luo, "Learning Conditional Knowledge Distillation for Degraded-Reference Image Quality
Assessment", ICCV 2021 (the brief cites ACM MM 2021; the paper appeared at ICCV 2021).

Two ResNet-50 stems (7×7/2 convolution without normalisation, 3×3/2 max-pool, then the first ResNet-50 stage of
three bottlenecks) encode the distorted image (the "qse" branch) and the reference image (the "dte" branch); the
difference of their 256-channel maps goes through the second ResNet-50 stage (four bottlenecks, stride 2, 512
channels), a global average pool and a 512→2048→2048→1 MLP with ReLUs; a sigmoid gives the score (higher is
better). Inputs as in the authors' test transform: the distorted image is resized (shorter side 329 = ⌊288/0.875⌋,
bicubic, antialiased), the reference image likewise with nearest-neighbour interpolation, both centre-cropped to
288×288 and standardised with the ImageNet mean/std.

Weights: pyiqa's ``CKDN_model_best-38b27dc6.pth`` (keys ``net.qse_1``, ``net.qse_2``, ``net.dte_1``, ``net.dte_2``,
``net.csp``, ``net.fc_``; the training-only ``net.aux_csp`` and ``net.fc1_`` are not used). The ImageNet ResNet-50
that the reference implementation builds first is entirely overwritten by this file, so it is not loaded here.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_ckdn.py: largest
relative difference 0.0 measured: bit-identical); against the official values (``ckdn`` row) only when
the published weights are cached — official values unverified here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import bottleneck_stage, build_meta, fill
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

_FILE = WeightFile("CKDN_model_best-38b27dc6.pth")
WEIGHT_FILES = {"ckdn": (_FILE,)}

CROP = 288
RESIZE = int(math.floor(CROP / 0.875))  # 329
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _branch() -> nn.Sequential:
    """7×7/2 conv (no norm, no ReLU, as published), 3×3/2 max-pool, ResNet-50 stage 1."""
    return nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.MaxPool2d(3, 2, 1),
                         bottleneck_stage(64, 64, 3))


def _head() -> nn.Sequential:
    # Identity where the published MLP has its (inference-inactive) dropouts, so the module indices match.
    return nn.Sequential(nn.Linear(512, 2048), nn.ReLU(), nn.Identity(), nn.Linear(2048, 2048), nn.ReLU(),
                         nn.Identity(), nn.Linear(2048, 1))


def resize_shorter(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Resize so the shorter side is ``size`` and the longer ⌊size·long/short⌋ (torchvision's Resize(int) rule)."""
    h, w = x.shape[-2:]
    if h <= w:
        out = (size, int(size * w / h))
    else:
        out = (int(size * h / w), size)
    if mode == "bicubic":
        return F.interpolate(x, size=out, mode="bicubic", align_corners=False, antialias=True)
    return F.interpolate(x, size=out, mode="nearest")


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central size×size window; offsets rounded half-to-even as torchvision's ``center_crop`` does."""
    h, w = x.shape[-2:]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return x[..., top : top + size, left : left + size]


class CKDN(DeepMetric):

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        loaded = self.load_weights(_FILE)
        self.qse = build_meta(_branch)
        self.dte = build_meta(_branch)
        for name, branch in (("qse", self.qse), ("dte", self.dte)):
            fill(branch[0], loaded, prefix=f"net.{name}_1.")
            fill(branch[2], loaded, prefix=f"net.{name}_2.")
        self.csp = fill(build_meta(lambda: bottleneck_stage(256, 128, 4, stride=2)), loaded, prefix="net.csp.")
        self.fc = fill(build_meta(_head), loaded, prefix="net.fc_.")
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def _prepare(self, x: torch.Tensor, mode: str) -> torch.Tensor:
        x = center_crop(resize_shorter(x, RESIZE, mode), CROP)
        return (x - self.mean) / self.std

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        d, r = self._prepare(dist, "bicubic"), self._prepare(ref, "nearest")
        with self.autocast(d):
            diff = self.qse(d) - self.dte(r)
            features = self.csp(diff)
        # Pooling and MLP head in float32: in reduced precision they would round the scores.
        out = self.fc(features.float().mean(dim=(2, 3)))
        return torch.sigmoid(out).flatten()


SPECS = (
    MetricSpec(
        name="ckdn",
        mode="FR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=(
            "Zheng, Yang, Fu, Zha & Luo, Learning Conditional Knowledge Distillation for Degraded-Reference Image "
            "Quality Assessment, ICCV 2021"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 under random weights; official values unverified here",
        factory=CKDN,
        options={"precision": "float32"},
        version="2",  # 2: score head in float32 under reduced precision
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=1200),
        calibration_key="ckdn",
    ),
)
