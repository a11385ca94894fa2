"""LPIPS: learned perceptual image patch similarity (v0.1, AlexNet and VGG-16 trunks), and LPIPS+.

Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR 2018. LPIPS+ (``lpips+``, ``lpips-vgg+``): Chen, Mo, Hou, Wu, Liao, Sun, Yan & Lin, "TOPIQ: A
Top-down Approach from Semantics to Distortions for Image Quality Assessment", IEEE TIP 33, 2024.

Both images are mapped from [0, 1] to [-1, 1] and standardised with the v0.1 shift/scale constants, passed
through the ImageNet trunk (AlexNet: the five conv-ReLU outputs; VGG-16: relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3), each feature map is unit-normalised along channels, and the squared difference is weighted per
channel by the learned non-negative linear layer, averaged over space and summed over the layers.

LPIPS+ weights that spatial average by semantics (TOPIQ's top-down idea): the weight map is the reference image's
activation at the third tap (``semantic_weight_layer=2``: AlexNet conv3, VGG relu3_3), resized bilinearly (corners
not aligned) to each layer's map and summed over its channels; each layer's distance map is averaged with it.
Same weight files as LPIPS.

Weights: the torchvision ImageNet trunk (``AlexNet_Weights.IMAGENET1K_V1`` / ``VGG16_Weights.IMAGENET1K_V1``) and
the linear layers of pyiqa's ``LPIPS_v0.1_{alex,vgg}-*.pth`` (keys ``lin{k}.model.1.weight``).

Calibration: proved equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence.py, max
relative difference measured there ~1e-6, see the report; LPIPS+ 1.7e-7 AlexNet, 7.4e-8 VGG); against the
official values (``lpips`` row) only when the published weights are in the cache — not verified here, no
published weights could be downloaded.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from metrics.deep.common import DeepMetric
from metrics.deep.weights import LoadedWeights, WeightFile, tensor
from metrics.registry import Calibration, MetricSpec, Resources

_TRUNKS = {
    # trunk: (torchvision constructor name, weight enum member, indices of the tapped ReLU outputs, channels)
    "alex": ("alexnet", "AlexNet_Weights.IMAGENET1K_V1", (1, 4, 7, 9, 11), (64, 192, 384, 256, 256)),
    "vgg": ("vgg16", "VGG16_Weights.IMAGENET1K_V1", (3, 8, 15, 22, 29), (64, 128, 256, 512, 512)),
}
_LINEAR = {"alex": WeightFile("LPIPS_v0.1_alex-df73285e.pth"), "vgg": WeightFile("LPIPS_v0.1_vgg-a78928a0.pth")}
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)

WEIGHT_FILES = {
    "lpips": (WeightFile.torchvision(_TRUNKS["alex"][1]), _LINEAR["alex"]),
    "lpips-vgg": (WeightFile.torchvision(_TRUNKS["vgg"][1]), _LINEAR["vgg"]),
}
WEIGHT_FILES["lpips+"], WEIGHT_FILES["lpips-vgg+"] = WEIGHT_FILES["lpips"], WEIGHT_FILES["lpips-vgg"]
#: The tap whose reference activations weight LPIPS+'s spatial averages.
SEMANTIC_LAYER = 2


class TappedTrunk(torch.nn.Module):
    """A torchvision ``features`` stack, cut after the last tap, returning the outputs at the tap indices."""

    def __init__(self, features: torch.nn.Sequential, taps: tuple[int, ...]) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(list(features)[: taps[-1] + 1])
        for layer in self.layers:
            if isinstance(layer, torch.nn.ReLU):
                layer.inplace = False
        self.taps = frozenset(taps)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.taps:
                outs.append(x)
        return outs


class LPIPS(DeepMetric):

    """LPIPS; ``semantic_weight_layer`` ≥ 0 (a tap index) weights the spatial averages as LPIPS+ does, -1 not."""

    def __init__(self, net: str = "alex", precision: str = "float32", semantic_weight_layer: int = -1) -> None:
        super().__init__(precision)
        if net not in _TRUNKS:
            raise ValueError(f"lpips: net must be one of {sorted(_TRUNKS)}, got {net!r}")
        if not -1 <= semantic_weight_layer < len(_TRUNKS[net][3]):
            last = len(_TRUNKS[net][3]) - 1
            raise ValueError(f"lpips: semantic_weight_layer must be -1 (off) or a tap index 0..{last}, "
                             f"got {semantic_weight_layer!r}")
        self.semantic_weight_layer = semantic_weight_layer
        channels = _TRUNKS[net][3]
        self.trunk, linear = self._trunk_and_linear(net)
        for k, c in enumerate(channels):
            self.register_buffer(f"w{k}", tensor(linear, f"lin{k}.model.1.weight", (1, c, 1, 1)).float().view(1, c, 1, 1))
        self.layers = len(channels)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    def _trunk_and_linear(self, net: str) -> tuple[TappedTrunk, LoadedWeights]:
        """The frozen ImageNet trunk and the file holding the linear layers (``lin{k}.model.1.weight``)."""
        from torchvision import models

        build, enum, taps, _ = _TRUNKS[net]
        # AlexNet's two max-pools before conv3 need >= 31 px; VGG's four pools before relu5_3 need >= 16 px.
        self.min_size = 32 if net == "alex" else 16
        backbone = self.load_backbone(getattr(models, build), enum)
        return TappedTrunk(backbone.features, taps).requires_grad_(False), self.load_weights(_LINEAR[net])

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        n = dist.shape[0]
        x = (2 * torch.cat([dist, ref]) - 1 - self.shift) / self.scale
        with self.autocast(x):
            feats = self.trunk(x)
        semantic = feats[self.semantic_weight_layer][n:].float() if self.semantic_weight_layer >= 0 else None
        total = torch.zeros(n, device=dist.device, dtype=torch.float32)
        for k, f in enumerate(feats):
            f = f.float()
            f = f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            fd, fr = f[:n], f[n:]
            weighted = ((fd - fr).pow(2) * getattr(self, f"w{k}")).sum(dim=1)
            if semantic is None:
                total = total + weighted.mean(dim=(1, 2))
                continue
            weight = F.interpolate(semantic, size=weighted.shape[-2:], mode="bilinear", align_corners=False).sum(dim=1)
            total = total + (weighted * weight).sum(dim=(1, 2)) / weight.sum(dim=(1, 2))
        return total


_PAPER = (
    "Zhang, Isola, Efros, Shechtman & Wang, The Unreasonable Effectiveness of Deep Features as a Perceptual "
    "Metric, CVPR 2018"
)
_CAL = "pyiqa 0.1.16 on identical random weights; official values unverified here (no published weights)"

SPECS = (
    MetricSpec(
        name="lpips",
        mode="FR",
        lower_better=True,
        score_range=(0.0, 1.0),
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=_CAL,
        factory=LPIPS,
        options={"net": "alex", "precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=1200),
        calibration_key="lpips",
        ideal_score=0.0,
        version="0.1",
    ),
    MetricSpec(
        name="lpips-vgg",
        mode="FR",
        lower_better=True,
        score_range=(0.0, 1.0),
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=_CAL,
        factory=LPIPS,
        options={"net": "vgg", "precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.2, memory_mb=2500),
        ideal_score=0.0,
        version="0.1",
    ),
)
_PLUS_PAPER = _PAPER + "; semantic weighting (LPIPS+): " + (
    "Chen, Mo, Hou, Wu, Liao, Sun, Yan & Lin, TOPIQ: A Top-down Approach from Semantics to Distortions for Image "
    "Quality Assessment, IEEE TIP 33, 2024"
)
#: Largest relative difference to pyiqa 0.1.16 measured by tests/deep/test_equivalence.py.
_PLUS_MEASURED = {"lpips+": "1.7e-7", "lpips-vgg+": "7.4e-8"}
SPECS += tuple(
    dataclasses.replace(
        base, name=base.name + "+", paper=_PLUS_PAPER, calibration_key=None,
        calibration_detail=f"pyiqa 0.1.16 on identical random weights (max rel. diff "
                           f"{_PLUS_MEASURED[base.name + '+']}); no official values",
        options={**base.options, "semantic_weight_layer": SEMANTIC_LAYER})
    for base in SPECS
)
