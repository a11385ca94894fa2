"""MANIQA: multi-dimension attention network for no-reference IQA (ViT-B/8 features, transposed attention, Swin
blocks), with the KonIQ-10k, PIPAL and KADID-10k checkpoints.

Yang, Wu, Shi, Lao, Gong, Cao, Wang & Yang, "MANIQA: Multi-dimension Attention Network for No-Reference Image
Quality Assessment", CVPR Workshops (NTIRE) 2022.

The image is standardised with mean = std = 0.5 and cut into ``crops`` (20) 224×224 crops on a regular grid
(:func:`metrics.deep.nets.uniform_crops`; an image whose shorter side is at most 224 is first enlarged). Each crop:

* ViT-B/8 (:mod:`metrics.deep.vit`, 28×28 patches): the patch tokens (class token dropped) of blocks 7–10
  (0-based 6–9), concatenated per token → 784 tokens × 3072 channels. Blocks 11–12, the final norm and the
  classifier are never used and not built.
* Stage 1: two transposed-attention blocks (TAB: attention between channels, the 784 token positions being the
  features: q, k, v = linear maps of length 784, softmax(q·kᵀ/√784) · v; the result, C×784, is transposed to
  784×C and read back as C×784 — a reshape, not a transpose — then added to the input), a 1×1 convolution
  3072 → 768, and a Swin stage (below).
* Stage 2: two more TABs, a 1×1 convolution 768 → 384, a Swin stage of width 384.
* Per token: a score MLP (Linear, ReLU, Linear → 1, ReLU) and a weight MLP (same, Sigmoid). The image's score is
  the weighted mean of the scores of all its tokens over all its crops: Σ w·s / (Σ w + 1e-8).

Swin stage (Liu et al., "Swin Transformer", ICCV 2021, as MANIQA configures it): two layers, each two Swin blocks
of the shared builder (:class:`metrics.deep.swin.SwinBlock`: window 4, 4 heads, the second block's windows shifted
by 2, MLP of 768 hidden units) followed by a 3×3 convolution and a ReLU on the 28×28 map; each layer is residual
with a scale: x ← scale · layer(x) + x (0.8 for the KonIQ and KADID checkpoints, 0.13 for PIPAL, as
pyiqa sets them). The stage's unused ``downsample`` convolution, and the index/mask buffers, which are computed
here, are in the checkpoints and are not read.

Test-time crops: the authors' code scores random crops; pyiqa 0.1.16 (whose numbers this reproduces) takes them
on a regular grid, so the score is deterministic.

Weights: pyiqa's ``ckpt_koniq10k.pt`` (``maniqa``), ``MANIQA_PIPAL-ae6d356b.pth`` (``maniqa-pipal``),
``ckpt_kadid10k.pt`` (``maniqa-kadid``): the whole model as one state dict (``vit.*`` in timm's names,
``tablock1/2``, ``conv1/2``, ``swintransformer1/2``, ``fc_score``, ``fc_weight``).

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_maniqa.py); no
official values in the calibration table.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import build_meta, fill, uniform_crops
from metrics.deep.swin import SwinBlock
from metrics.deep.vit import VisionTransformer, ViTShape
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

#: name → (checkpoint, Swin layer scale)
VARIANTS: dict[str, tuple[WeightFile, float]] = {
    "maniqa": (WeightFile("ckpt_koniq10k.pt"), 0.8),
    "maniqa-pipal": (WeightFile("MANIQA_PIPAL-ae6d356b.pth"), 0.13),
    "maniqa-kadid": (WeightFile("ckpt_kadid10k.pt"), 0.8),
}
WEIGHT_FILES = {name: (checkpoint,) for name, (checkpoint, _) in VARIANTS.items()}

CROP = 224
TEST_CROPS = 20
MEAN = STD = 0.5
VIT_BLOCKS = (6, 7, 8, 9)  # 0-based blocks whose patch tokens are the features
GRID = 28  # 224 / 8 patches per side
WIDTH = 768
WINDOW, SHIFT, SWIN_HEADS, SWIN_MLP = 4, 2, 4, 768
WEIGHT_EPS = 1e-8


class TransposedAttention(nn.Module):
    """MANIQA's TAB: attention between the C channels of C×L features (L = ``length`` positions as features)."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self.c_q, self.c_k, self.c_v = (nn.Linear(length, length) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, channels, length = x.shape
        weights = (self.c_q(x) @ self.c_k(x).transpose(1, 2) * length ** -0.5).softmax(dim=-1)
        mixed = (weights @ self.c_v(x)).transpose(1, 2).reshape(n, channels, length)
        return mixed + x


class SwinLayer(nn.Module):
    """A plain and a shifted Swin block, then a 3×3 convolution + ReLU on the token map."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([SwinBlock(width, (GRID, GRID), SWIN_HEADS, WINDOW, shift, SWIN_MLP)
                                     for shift in (0, SHIFT)])
        self.conv = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        n, _, width = x.shape
        y = F.relu(self.conv(x.transpose(1, 2).reshape(n, width, GRID, GRID)))
        return y.flatten(2).transpose(1, 2)


class SwinStage(nn.Module):
    """Two Swin layers on N×C×GRID×GRID maps, each residual with a scale: x ← scale · layer(x) + x."""

    def __init__(self, width: int, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.layers = nn.ModuleList([SwinLayer(width) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, channels = x.shape[:2]
        tokens = x.flatten(2).transpose(1, 2)
        for layer in self.layers:
            tokens = self.scale * layer(tokens) + tokens
        return tokens.transpose(1, 2).reshape(n, channels, GRID, GRID)


def _head(width: int, last: nn.Module) -> nn.Sequential:
    # indices 0 and 3 as in the checkpoints (2: a dropout, inactive at test time)
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Identity(), nn.Linear(width, 1), last)


class ManiqaHead(nn.Module):
    """Everything after the ViT, named as in the published checkpoints."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        tokens, half = GRID * GRID, WIDTH // 2
        self.tablock1 = nn.ModuleList([TransposedAttention(tokens) for _ in range(2)])
        self.conv1 = nn.Conv2d(WIDTH * len(VIT_BLOCKS), WIDTH, 1)
        self.swintransformer1 = SwinStage(WIDTH, scale)
        self.tablock2 = nn.ModuleList([TransposedAttention(tokens) for _ in range(2)])
        self.conv2 = nn.Conv2d(WIDTH, half, 1)
        self.swintransformer2 = SwinStage(half, scale)
        self.fc_score = _head(half, nn.ReLU())
        self.fc_weight = _head(half, nn.Sigmoid())

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features: crops×784×3072 → (per-token scores, per-token weights), each crops×784."""
        x = features.transpose(1, 2)
        for stage in ((self.tablock1, self.conv1, self.swintransformer1),
                      (self.tablock2, self.conv2, self.swintransformer2)):
            tabs, conv, swin = stage
            for tab in tabs:
                x = tab(x)
            x = swin(conv(x.reshape(x.shape[0], x.shape[1], GRID, GRID))).flatten(2)
        tokens = x.transpose(1, 2)
        return self.fc_score(tokens).squeeze(-1), self.fc_weight(tokens).squeeze(-1)


class MANIQA(DeepMetric):
    """MANIQA with one of the published checkpoints (``variant`` = a key of ``VARIANTS``), scored on ``crops``
    test crops (pyiqa's ``test_sample``, 20)."""

    def __init__(self, variant: str = "maniqa", crops: int = TEST_CROPS, precision: str = "float32") -> None:
        super().__init__(precision)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        if crops < 1:
            raise ValueError(f"crops must be at least 1, got {crops}")
        checkpoint, scale = VARIANTS[variant]
        self.crops = crops
        loaded = self.load_weights(checkpoint)
        shape = ViTShape.of(loaded.state_dict, checkpoint.filename, prefix="vit.").first(max(VIT_BLOCKS) + 1)
        unused_vit = tuple(f"vit.blocks.{i}." for i in range(shape.depth, 64)) + ("vit.norm.", "vit.head.")
        self.vit = fill(build_meta(lambda: VisionTransformer(shape, final_norm=False)), loaded, prefix="vit.",
                        ignore=tuple(key[len("vit."):] for key in unused_vit))
        # the index and mask buffers are computed from the geometry (swin.py), the downsample convolutions never used
        head_tensors = {key: value for key, value in loaded.state_dict.items()
                        if not key.endswith(("relative_position_index", "attn_mask")) and ".downsample." not in key}
        self.head = fill(build_meta(lambda: ManiqaHead(scale)), dataclasses.replace(loaded, state_dict=head_tensors),
                         ignore=("vit.",))
        self.eval()

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        crops = uniform_crops((dist - MEAN) / STD, CROP, self.crops)
        with self.autocast(crops):
            outputs = self.vit.block_outputs(crops)
            features = torch.cat([outputs[i][:, 1:] for i in VIT_BLOCKS], dim=2)
            scores, weights = self.head(features)
        scores, weights = scores.float().view(dist.shape[0], -1), weights.float().view(dist.shape[0], -1)
        return (weights * scores).sum(dim=1) / (weights.sum(dim=1) + WEIGHT_EPS)


_PAPER = ("Yang, Wu, Shi, Lao, Gong, Cao, Wang & Yang, MANIQA: Multi-dimension Attention Network for No-Reference "
          "Image Quality Assessment, CVPR Workshops 2022")
_TRAINED_ON = {"maniqa": "KonIQ-10k", "maniqa-pipal": "PIPAL", "maniqa-kadid": "KADID-10k"}
#: measured by tests/deep/test_equivalence_maniqa.py (largest over its inputs)
_MEASURED = {"maniqa": "1.6e-6", "maniqa-pipal": "8.5e-8", "maniqa-kadid": "1.4e-7"}


def _spec(name: str) -> MetricSpec:
    measured = f" (max rel. diff {_MEASURED[name]})" if name in _MEASURED else ""
    return MetricSpec(
        name=name,
        mode="NR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=f"{_PAPER}; checkpoint trained on {_TRAINED_ON[name]}",
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 under identical random weights{measured}; no official values",
        factory=MANIQA,
        options={"variant": name, "crops": TEST_CROPS, "precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=3000),
    )


SPECS = tuple(_spec(name) for name in VARIANTS)
