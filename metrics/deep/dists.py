"""DISTS: deep image structure and texture similarity.

Ding, Ma, Wang & Simoncelli, "Image Quality Assessment: Unifying Structure and Texture Similarity", IEEE TPAMI
44(5), 2022.

The VGG-16 trunk with every max-pool replaced by an L2 pool (a 3×3 Hann window [1/4, 1/2, 1/4]⊗[1/4, 1/2, 1/4]
applied to the squared features, stride 2, then the square root) gives six representations: the input image
itself and relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (ImageNet mean/std standardisation before the trunk).
Per channel, texture similarity compares global means, (2·μx·μy + c1)/(μx² + μy² + c1), and structure similarity
compares global (co)variances, (2·σxy + c2)/(σx² + σy² + c2), with c1 = c2 = 1e-6; DISTS = 1 − Σ (α·texture +
β·structure) with the learned α, β (1475 each) divided by their joint sum.

Weights: ``VGG16_Weights.IMAGENET1K_V1`` and pyiqa's ``DISTS_weights-f5e65c96.pth`` (keys ``alpha``, ``beta``).

Calibration: proved equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence.py);
against the official values (``dists`` row) only when the published weights are cached — not verified here.
"""

from __future__ import annotations

import torch

from metrics.deep.common import DeepMetric
from metrics.deep.nets import l2_pooled_layers
from metrics.deep.weights import WeightFile, tensor
from metrics.registry import Calibration, MetricSpec, Resources

_VGG = "VGG16_Weights.IMAGENET1K_V1"
_FILE = WeightFile("DISTS_weights-f5e65c96.pth")
WEIGHT_FILES = {"dists": (WeightFile.torchvision(_VGG), _FILE)}

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CHANNELS = (3, 64, 128, 256, 512, 512)
_TAPS = (3, 8, 15, 22, 29)  # relu1_2 … relu5_3 in torchvision's vgg16.features


class DISTS(DeepMetric):
    min_size = 16

    def __init__(self, precision: str = "float32") -> None:
        from torchvision import models

        super().__init__(precision)
        vgg = self.load_backbone(models.vgg16, _VGG)
        self.layers = l2_pooled_layers(vgg.features, _TAPS[-1])
        loaded = self.load_weights(_FILE)
        alpha = tensor(loaded, "alpha", (1, sum(CHANNELS), 1, 1)).float().flatten()
        beta = tensor(loaded, "beta", (1, sum(CHANNELS), 1, 1)).float().flatten()
        total = alpha.sum() + beta.sum()
        self.register_buffer("alpha", alpha / total)
        self.register_buffer("beta", beta / total)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [x]
        h = (x - self.mean) / self.std
        with self.autocast(h):
            for i, layer in enumerate(self.layers):
                h = layer(h)
                if i in _TAPS:
                    feats.append(h.float())
        return feats

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        n = dist.shape[0]
        texture, structure = [], []
        c1 = c2 = 1e-6
        for f in self.features(torch.cat([dist, ref])):
            x, y = f[:n].flatten(2), f[n:].flatten(2)
            mx, my = x.mean(dim=2), y.mean(dim=2)
            vx = (x - mx[..., None]).pow(2).mean(dim=2)
            vy = (y - my[..., None]).pow(2).mean(dim=2)
            cov = (x * y).mean(dim=2) - mx * my
            texture.append((2 * mx * my + c1) / (mx * mx + my * my + c1))
            structure.append((2 * cov + c2) / (vx + vy + c2))
        similarity = torch.cat(texture, dim=1) @ self.alpha + torch.cat(structure, dim=1) @ self.beta
        return 1 - similarity


SPECS = (
    MetricSpec(
        name="dists",
        mode="FR",
        lower_better=True,
        score_range=(0.0, 1.0),
        paper=(
            "Ding, Ma, Wang & Simoncelli, Image Quality Assessment: Unifying Structure and Texture Similarity, "
            "IEEE TPAMI 44(5), 2022"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 on identical random weights; official values unverified here",
        factory=DISTS,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.2, memory_mb=2500),
        calibration_key="dists",
        ideal_score=0.0,
    ),
)
