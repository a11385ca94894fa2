"""HyperIQA: blind image quality assessment with a self-adaptive hyper network (KonIQ-10k model).

Su, Yan, Zhu, Zhang, Ge, Sun & Zhang, "Blindly Assess Image Quality in the Wild Guided by a Self-Adaptive Hyper
Network", CVPR 2020.

Images whose shorter side is at most 224 are first enlarged (bilinear, scale factor 225/shorter side). 25 crops of
224×224 on a 5×5 grid (steps ⌊(size − 224)/5⌋ from the top-left corner) are standardised with the ImageNet
mean/std and passed through a ResNet-50. Local distortion-aware features: stages 1–3 are reduced by 1×1
convolutions (16, 32, 64 channels), 7×7 average-pooled (stride 7), flattened and mapped to 16 values each; stage 4
is 7×7 average-pooled and mapped to 176 values: a 224-vector. The hyper network (1×1 convolutions 2048→1024→512→112
with ReLUs on stage 4) predicts the weights (3×3 convolutions, reshaped) and biases (global pool + linear) of a
four-layer target network 224→112→56→28→14 with sigmoids, followed by a linear 14→1 whose weights and bias come
from pooled linear layers too. The score is the mean over the 25 crops (higher is better).

Weights: pyiqa's ``HyperIQA-resnet50-koniq10k-c96c41b1.pth`` (tensors under ``params``: ``base_model.*`` in
torchvision/timm ResNet-50 names without ``fc``, ``lda_modules``, ``fc_w_modules``, ``fc_b_modules``, ``conv1``).
The ImageNet ResNet-50 that the reference implementation creates first is overwritten by this file.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_hyperiqa.py); no
official values in the calibration table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import build_meta, fill, resnet_stages, resnet_trunk, uniform_crops, unwrap
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

_FILE = WeightFile("HyperIQA-resnet50-koniq10k-c96c41b1.pth")
WEIGHT_FILES = {"hyperiqa": (_FILE,)}

CROP, CROPS = 224, 25  # 25 crops: a 5×5 grid
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
TARGET = (224, 112, 56, 28, 14, 1)  # target network widths, input to output
HYPER_IN, FEATURE = 112, 7
LDA = ((256, 16, 8), (512, 32, 4), (1024, 64, 2))  # stage channels, reduced channels, pooled side


def _pooled_linear(fan_in: int, fan_out: int) -> nn.Sequential:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(fan_in, fan_out))


class HyperHeads(nn.Module):
    """Local distortion-aware modules, the hyper network and its weight/bias generators, named as published."""

    def __init__(self) -> None:
        super().__init__()
        lda: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(c, r, 1, bias=False), nn.AvgPool2d(7, 7), nn.Flatten(), nn.Linear(r * s * s, 16))
            for c, r, s in LDA
        ]
        lda.append(nn.Sequential(nn.AvgPool2d(7, 7), nn.Flatten(), nn.Linear(2048, TARGET[0] - 16 * 3)))
        self.lda_modules = nn.ModuleList(lda)
        self.conv1 = nn.Sequential(nn.Conv2d(2048, 1024, 1), nn.ReLU(), nn.Conv2d(1024, 512, 1), nn.ReLU(),
                                   nn.Conv2d(512, HYPER_IN, 1), nn.ReLU())
        weights: list[nn.Module] = [
            nn.Conv2d(HYPER_IN, TARGET[i] * TARGET[i + 1] // FEATURE**2, 3, padding=1) for i in range(4)
        ]
        weights.append(_pooled_linear(HYPER_IN, TARGET[4]))
        self.fc_w_modules = nn.ModuleList(weights)
        self.fc_b_modules = nn.ModuleList([_pooled_linear(HYPER_IN, TARGET[i + 1]) for i in range(5)])

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([module(f) for module, f in zip(self.lda_modules, stages)], dim=1).unsqueeze(1)  # N×1×224
        hyper = self.conv1(stages[-1])
        n = hyper.shape[0]
        for i in range(5):
            weight = self.fc_w_modules[i](hyper).reshape(n, TARGET[i + 1], TARGET[i])
            x = torch.bmm(x, weight.transpose(1, 2)) + self.fc_b_modules[i](hyper).unsqueeze(1)
            if i < 4:
                x = torch.sigmoid(x)
        return x.flatten()


class HyperNet(HyperHeads):
    """The trainable network in pyiqa's state-dict layout (the heads at the top level, the ResNet-50 under
    ``base_model``). In training mode each input is one patch, resized to 224×224 (bicubic) when it is not, as
    pyiqa's training does, and gets one score; in eval mode an image is scored as the metric scores it (mean over
    the 5×5 grid of 224×224 crops). Scores are (N,)."""

    def __init__(self) -> None:
        super().__init__()
        self.base_model = resnet_trunk()

    def score_patches(self, patches: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(MEAN, dtype=patches.dtype, device=patches.device).view(1, 3, 1, 1)
        std = torch.tensor(STD, dtype=patches.dtype, device=patches.device).view(1, 3, 1, 1)
        return super().forward(resnet_stages(self.base_model, (patches - mean) / std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self.training:
            if x.shape[-2:] != (CROP, CROP):
                x = F.interpolate(x, (CROP, CROP), mode="bicubic", align_corners=False)
            return self.score_patches(x)
        return self.score_patches(uniform_crops(x, CROP, CROPS)).view(x.shape[0], CROPS).mean(dim=1)


class HyperIQA(DeepMetric):

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        loaded = unwrap(self.load_weights(_FILE), "params")
        self.backbone = fill(build_meta(resnet_trunk), loaded, prefix="base_model.")
        self.heads = fill(build_meta(HyperHeads), loaded, ignore=("base_model.",))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        n = dist.shape[0]
        crops = (uniform_crops(dist, CROP, CROPS) - self.mean) / self.std
        with self.autocast(crops):
            stages = resnet_stages(self.backbone, crops)
        # The hyper network and the target network it parametrises run in float32: in reduced precision the
        # generated weights and the target network's layers round the scores.
        per_crop = self.heads([stage.float() for stage in stages])
        return per_crop.view(n, CROPS).mean(dim=1)


SPECS = (
    MetricSpec(
        name="hyperiqa",
        mode="NR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=(
            "Su, Yan, Zhu, Zhang, Ge, Sun & Zhang, Blindly Assess Image Quality in the Wild Guided by a "
            "Self-Adaptive Hyper Network, CVPR 2020"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 under random weights; no official values",
        factory=HyperIQA,
        options={"precision": "float32"},
        version="2",  # 2: score head in float32 under reduced precision
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=2500),
    ),
)
