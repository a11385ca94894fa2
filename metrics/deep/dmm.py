"""DMM: debiased mapping, comparing the singular values of local patches of VGG-16 features.

Chen, Zhu, Zhu, Wang, Pan & Wang, "Debiased Mapping for Full-Reference Image Quality Assessment", IEEE Transactions
on Multimedia, 2025.

Both images (sRGB in [0, 1], not standardised) whose shorter side s exceeds 128 are resized (bilinear, corners not
aligned, no antialiasing) to a *square* of side max(⌊s / 48⌋·32, 128). VGG-16 with its max-pools replaced by L2
pools (as in DISTS) gives relu3_3 and relu4_3. For each of the two, every channel's feature map is cut into 16×16
patches at stride 4 and each patch (a 16×16 matrix, taken transposed: rows are the feature map's columns) is
decomposed by an SVD, P = U·S·Vᵀ. Per channel and patch:

* the singular value difference Σᵢ (s_ref,i − s_dist,i)², weighted by
* how much the two images' singular vectors disagree: with a_r = Σ_j |U_ref[r, j]·U_dist[r, j]| per row r, the
  weight is std(a) / (mean(a) + 1e-9) (unbiased std over the 16 rows; sign flips of singular vectors cancel);

the weighted differences are averaged over patches and channels, and multiplied by exp(−2·g), where g is the mean
over channels of (2·μx·μy + 1e-6)/(μx² + μy² + 1e-6) of the feature maps' global means (the DISTS texture term).
The score is the sum over the two layers: 0 for identical images, growing with the distortion (lower is better;
pyiqa 0.1.16's model card does not set ``lower_better``).

Weights: only torchvision's ImageNet VGG-16 (``VGG16_Weights.IMAGENET1K_V1``); DMM trains nothing.

Calibration: equal to pyiqa 0.1.16 with identical random VGG-16 weights (tests/deep/test_equivalence_dmm.py, max
relative difference measured 0, bitwise equal); no official values in the calibration table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.deep.common import DeepMetric
from metrics.deep.nets import l2_pooled_layers
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

_VGG = "VGG16_Weights.IMAGENET1K_V1"
WEIGHT_FILES = {"dmm": (WeightFile.torchvision(_VGG),)}
TAPS = (15, 22)  # relu3_3, relu4_3 in torchvision's vgg16.features
PATCH, STRIDE = 16, 4
RESIZE_ABOVE, RESIZE_STEP, RESIZE_PER = 128, 32, 48
C1 = C2 = 1e-6


def working_size(height: int, width: int) -> int | None:
    """The side of the square both images are resized to, or None when the shorter side is at most 128."""
    short = min(height, width)
    if short <= RESIZE_ABOVE:
        return None
    return max(int(short / RESIZE_PER) * RESIZE_STEP, RESIZE_ABOVE)


def _patch_matrices(feature: torch.Tensor) -> torch.Tensor:
    """N×C×H×W → N×C×P×16×16: every 16×16 window at stride 4 (row-major positions), each transposed."""
    windows = feature.unfold(2, PATCH, STRIDE).unfold(3, PATCH, STRIDE)  # N,C,rows,cols,16(y),16(x)
    n, c = feature.shape[:2]
    return windows.reshape(n, c, -1, PATCH, PATCH).transpose(-1, -2)


def layer_distance(dist: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """One layer's term of DMM for N×C×H×W feature maps (H, W ≥ 16): N values."""
    u_dist, s_dist, _ = torch.linalg.svd(_patch_matrices(dist), full_matrices=False)
    u_ref, s_ref, _ = torch.linalg.svd(_patch_matrices(ref), full_matrices=False)
    agreement = (u_ref * u_dist).abs().sum(-1)  # N,C,P,16 (per row of U)
    weight = agreement.std(-1) / (agreement.mean(-1) + 1e-9)
    singular = ((s_ref - s_dist) ** 2).sum(-1)  # N,C,P
    local = (singular * weight).mean(-1).mean(-1)
    mean_dist, mean_ref = dist.mean(dim=(2, 3)), ref.mean(dim=(2, 3))
    texture = ((2 * mean_dist * mean_ref + C1) / (mean_dist**2 + mean_ref**2 + C2)).mean(1)
    return local * torch.exp(-2.0 * texture)


class DMM(DeepMetric):
    """DMM on VGG-16 relu3_3 and relu4_3 (full-reference; 0 for identical images)."""

    # relu4_3 (three L2 pools, each ceil(n / 2)) must hold a 16×16 patch
    min_size = 121

    def __init__(self, precision: str = "float32") -> None:
        from torchvision import models

        super().__init__(precision)
        vgg = self.load_backbone(models.vgg16, _VGG)
        self.layers = l2_pooled_layers(vgg.features, TAPS[-1])

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        side = working_size(*x.shape[-2:])
        if side is not None:
            x = F.interpolate(x, size=side, mode="bilinear", align_corners=False)
        taps = []
        with self.autocast(x):
            for index, layer in enumerate(self.layers):
                x = layer(x)
                if index in TAPS:
                    taps.append(x.float())
        return taps

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        total = torch.zeros(dist.shape[0], device=dist.device)
        for feature_dist, feature_ref in zip(self._features(dist), self._features(ref)):
            total = total + layer_distance(feature_dist, feature_ref)
        return total


SPECS = (
    MetricSpec(
        name="dmm",
        mode="FR",
        lower_better=True,
        score_range=(0.0, float("inf")),
        paper="Chen, Zhu, Zhu, Wang, Pan & Wang, Debiased Mapping for Full-Reference Image Quality Assessment, "
              "IEEE Transactions on Multimedia, 2025",
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 on identical random weights (max rel. diff 0, bitwise equal); no official values",
        factory=DMM,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.2, memory_mb=3000),
        ideal_score=0.0,
    ),
)
