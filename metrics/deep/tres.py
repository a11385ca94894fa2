"""TReS: no-reference quality from a ResNet-50 and a transformer over its multi-scale features.

Golestaneh, Dadsetan & Kitani, "No-Reference Image Quality Assessment via Transformers, Relative Ranking, and
Self-Consistency", WACV 2022.

The image is standardised with the ImageNet mean/std and cut into 50 crops of 224×224 (pyiqa's deterministic
test-time grid, :func:`~metrics.deep.nets.uniform_crops`; images whose shorter side is at most 224 are enlarged
first). Each crop goes through a ResNet-50; the output of each of its four stages (56², 28², 14², 7² positions) is
unit-normalised along channels, L2-pooled (Hann 3×3, stride 1) and average-pooled to 7×7 (windows 8, 4, 2, 1);
the four maps concatenated give 3840 channels on 49 positions. A two-layer pre-norm transformer encoder (16 heads,
feed-forward width 64, ReLU, a final LayerNorm) reads those 49 tokens, with DETR's normalised sine positions
(1920 channels for rows, then 1920 for columns) added to its queries and keys only. Its output, averaged over
positions and mapped 3840 → 2048, is concatenated with the average of the last stage (2048) and read out linearly;
the score is the mean over the crops (higher is better, about 0…100 for the KonIQ-10k model).

The paper's relative-ranking and flip self-consistency terms are training losses only: they do not change a score.

Weights: pyiqa's ``tres_koniq-f0502926.pth`` (``tres``) and ``tres_flive-09b0de5b.pth`` (``tres-flive``), the
whole model's state dict: the ResNet-50 under ``model.`` (its ImageNet classifier ``model.fc`` is unused), the
encoder under ``transformer.encoder.``, ``fc2``, ``fc``, and the fixed Hann windows of the four L2 poolings
(``L2pooling_l{1..4}.filter``, not read: they are constants). The reference first builds the ImageNet ResNet-50
(``resnet50-0676ba61.pth``), which the checkpoint overwrites; that file is not loaded here.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_tres.py); no
official values in the calibration table.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import (
    Attention,
    L2Pool,
    build_meta,
    fill,
    resnet_stages,
    resnet_trunk,
    uniform_crops,
)
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources
from metrics.spec import at_least

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CROP, CROPS = 224, 50
GRID = 7  # positions per side of the pooled maps (ResNet-50's last stage on a 224 crop)
STAGE_POOLS = (8, 4, 2, 1)  # average-pool windows bringing the four stages to 7×7
DIM, HEADS, FEED_FORWARD, LAYERS = 3840, 16, 64, 2
LAST_STAGE = 2048
SINE_TEMPERATURE = 10000.0

CHECKPOINTS = {"tres": WeightFile("tres_koniq-f0502926.pth"), "tres-flive": WeightFile("tres_flive-09b0de5b.pth")}
WEIGHT_FILES = {name: (wf,) for name, wf in CHECKPOINTS.items()}


def sine_positions(rows: int, cols: int, channels: int) -> torch.Tensor:
    """DETR's normalised sine positions: (rows·cols)×channels, the first half for rows, the second for columns.

    Coordinates 1…n are scaled to (0, 2π] (divided by n + 1e-6); channel pair (2m, 2m+1) holds sin and cos of
    coordinate / 10000^(2m / (channels/2)).
    """
    half = channels // 2
    frequencies = SINE_TEMPERATURE ** (2 * (torch.arange(half) // 2) / half)

    def encode(n: int) -> torch.Tensor:
        coordinate = torch.arange(1, n + 1, dtype=torch.float32) / (n + 1e-6) * (2 * math.pi)
        angles = coordinate[:, None] / frequencies  # n × half
        return torch.stack([angles[:, 0::2].sin(), angles[:, 1::2].cos()], dim=-1).flatten(1)

    y, x = encode(rows), encode(cols)
    return torch.cat([y[:, None, :].expand(rows, cols, half), x[None, :, :].expand(rows, cols, half)], dim=-1
                     ).reshape(rows * cols, channels)


class EncoderLayer(nn.Module):
    """Pre-norm self-attention (positions on queries and keys) + ReLU feed-forward, both residual."""

    def __init__(self) -> None:
        super().__init__()
        self.self_attn = Attention(DIM, HEADS)
        self.linear1, self.linear2 = nn.Linear(DIM, FEED_FORWARD), nn.Linear(FEED_FORWARD, DIM)
        self.norm1, self.norm2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        keyed = y + positions
        x = x + self.self_attn(keyed, keyed, value=y)
        return x + self.linear2(F.relu(self.linear1(self.norm2(x))))


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer() for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(DIM)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, positions)
        return self.norm(x)


class TresHeads(nn.Module):
    """Everything after the multi-scale pooling, named as in the published checkpoints (``transformer.encoder``,
    ``fc2``, ``fc``)."""

    def __init__(self) -> None:
        super().__init__()
        self.transformer = nn.Module()
        self.transformer.encoder = Encoder()
        self.fc2 = nn.Linear(DIM, LAST_STAGE)
        self.fc = nn.Linear(2 * LAST_STAGE, 1)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, last_stage: torch.Tensor) -> torch.Tensor:
        """crops × 49 × 3840 tokens, their 49 × 3840 positions and the last stage (crops × 2048 × 7 × 7)."""
        encoded = self.transformer.encoder(tokens, positions)
        features = torch.cat([self.fc2(encoded.mean(dim=1)), last_stage.mean(dim=(2, 3))], dim=1)
        return self.fc(features).flatten()


class TReS(DeepMetric):
    """TReS with the KonIQ-10k (``tres``) or FLIVE (``tres-flive``) checkpoint, averaged over ``crops`` crops."""

    def __init__(self, checkpoint: str = "tres", crops: int = CROPS, precision: str = "float32") -> None:
        super().__init__(precision)
        if checkpoint not in CHECKPOINTS:
            raise ValueError(f"tres: checkpoint must be one of {sorted(CHECKPOINTS)}, got {checkpoint!r}")
        self.crops = crops
        loaded = self.load_weights(CHECKPOINTS[checkpoint])
        self.backbone = fill(build_meta(lambda: resnet_trunk(50)), loaded, prefix="model.", ignore=("fc.",))
        self.heads = fill(build_meta(TresHeads), loaded, ignore=("model.", "L2pooling_l"))
        self.l2pool = L2Pool(stride=1)
        self.register_buffer("positions", sine_positions(GRID, GRID, DIM), persistent=False)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def _tokens(self, stages: list[torch.Tensor]) -> torch.Tensor:
        """The four stages unit-normalised, L2-pooled and average-pooled to 7×7, as crops × 49 × 3840 tokens."""
        pooled = [F.avg_pool2d(self.l2pool(F.normalize(stage, dim=1)), window)
                  for stage, window in zip(stages, STAGE_POOLS)]
        return torch.cat(pooled, dim=1).flatten(2).transpose(1, 2)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        n = dist.shape[0]
        # standardised before cropping, as the reference does (the enlargement of small images sees those values)
        crops = uniform_crops((dist - self.mean) / self.std, CROP, self.crops)
        with self.autocast(crops):
            stages = resnet_stages(self.backbone, crops)
            tokens = self._tokens(stages)
            per_crop = self.heads(tokens, self.positions.to(tokens.dtype), stages[-1])
        return per_crop.float().view(n, self.crops).mean(dim=1)


_PAPER = ("Golestaneh, Dadsetan & Kitani, No-Reference Image Quality Assessment via Transformers, Relative Ranking, "
          "and Self-Consistency, WACV 2022")
#: Largest relative difference to pyiqa 0.1.16 measured by tests/deep/test_equivalence_tres.py.
_MEASURED = "1.7e-7"

SPECS = tuple(
    MetricSpec(
        name=name,
        mode="NR",
        lower_better=False,
        score_range=(0.0, 100.0),
        paper=_PAPER + ("; FLIVE model" if name == "tres-flive" else "; KonIQ-10k model"),
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 on identical random weights (max rel. diff {_MEASURED}); "
                           "no official values",
        factory=TReS,
        options={"checkpoint": name, "crops": CROPS, "precision": "float32"},
        option_ranges={"crops": at_least(1)},
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=4000),
    )
    for name in CHECKPOINTS
)
