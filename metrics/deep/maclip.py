"""MA-CLIP: CLIP-IQA's cosine cue fused with the magnitude of CLIP's image feature (training-free, CLIP RN50).

Liao, Wu, Shi, Mai, Zhu, Zhu, Jiang & Chen, "Beyond Cosine Similarity: Magnitude-Aware CLIP for No-Reference
Image Quality Assessment", AAAI 2026 (arXiv 2511.09948).

The paper observes that the magnitude of CLIP's (unnormalised) image feature tracks perceived quality, a cue the
cosine similarity with quality prompts discards. For each view of the image (below) OpenAI's CLIP RN50 (no
positional embedding in the attention pool, as pyiqa runs it) gives:

* the cosine cue c: CLIP-IQA's score, the mean over the five antonym prompt pairs of :mod:`metrics.deep.clipiqa`
  of the softmax probability of the positive prompt (logits: CLIP's logit scale × cosine similarity);
* the magnitude cue m: the absolute feature |f| (1024 values) is divided by its standard deviation over the
  channels (unbiased, + 1e-6), Box-Cox transformed with λ = 0.5 (((|f|/σ + 1)^0.5 − 1) / 0.5) and averaged;
* an adaptive fusion: with d = c − m, weights softmax(1 + d, 0.6 − d) and the view's score w_c·c + w_m·m.

Views: the CLIP-standardised image cut into 224×224 windows with a stride of 128 px (row-major; the right and
bottom margins that no whole window reaches are left out), plus the whole standardised image resized to 224×224
(bilinear, corners not aligned, no antialiasing). The score is the mean over the views (higher is better; the
magnitude cue is not bounded by 1, so neither is the score). Both sides of the image must be at least 224 px.

The prompts' text features are computed once, when the metric is built.

Weights: OpenAI's ``RN50.pt`` (:mod:`metrics.deep.clip_trunk`), nothing trained for MA-CLIP.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_clip.py, image by
image: the reference takes one image at a time and runs on CUDA only); no official values in the calibration
table.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from metrics.deep import clip_trunk
from metrics.deep.clip_trunk import (
    antonym_preference,
    cosine_logits,
    load_clip,
    normalize,
    tokenize,
)
from metrics.deep.clipiqa import PROMPT_PAIRS
from metrics.deep.common import DeepMetric
from metrics.deep.nets import grid_patches, grid_positions
from metrics.registry import Calibration, MetricSpec, Resources

BACKBONE = "RN50"
WINDOW, STRIDE = 224, 128
BOX_COX_LAMBDA = 0.5
STD_EPSILON = 1e-6
BASE_COSINE, BASE_MAGNITUDE, ADAPTATION = 1.0, 0.6, 1.0
WEIGHT_FILES = {"maclip": (clip_trunk.openai_file(BACKBONE),)}


def magnitude_cue(features: torch.Tensor) -> torch.Tensor:
    """The Box-Cox transformed, scale-normalised absolute feature, averaged over channels: V×D → V."""
    magnitude = features.abs()
    magnitude = magnitude / (magnitude.std(dim=1, keepdim=True) + STD_EPSILON)
    return (((magnitude + 1) ** BOX_COX_LAMBDA - 1) / BOX_COX_LAMBDA).mean(dim=-1)


def fuse(cosine: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """Each view's cues weighted by a softmax that favours the larger cue."""
    gap = cosine - magnitude
    weights = torch.stack([BASE_COSINE + ADAPTATION * gap, BASE_MAGNITUDE - ADAPTATION * gap], dim=-1).softmax(-1)
    return weights[..., 0] * cosine + weights[..., 1] * magnitude


class MACLIP(DeepMetric):
    """MA-CLIP on OpenAI's CLIP RN50."""

    min_size = WINDOW

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        self.clip = load_clip(self.load_weights(clip_trunk.openai_file(BACKBONE))).requires_grad_(False)
        with torch.inference_mode():
            features = self.clip.encode_text(tokenize(PROMPT_PAIRS))
        self.register_buffer("text_features", features / features.norm(dim=-1, keepdim=True), persistent=False)

    def _views(self, x: torch.Tensor) -> torch.Tensor:
        """Each image's windows then its resized whole, image-major: (N·(windows + 1))×3×224×224."""
        rows, cols = grid_positions(x.shape[-2], WINDOW, STRIDE), grid_positions(x.shape[-1], WINDOW, STRIDE)
        windows = grid_patches(x, WINDOW, STRIDE, rows, cols).view(x.shape[0], rows * cols, 3, WINDOW, WINDOW)
        whole = F.interpolate(x, size=(WINDOW, WINDOW), mode="bilinear", align_corners=False)
        return torch.cat([windows, whole[:, None]], dim=1).flatten(0, 1)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        views = self._views(normalize(dist))
        with self.autocast(views):
            features = self.clip.encode_image(views, positional=False).float()
        cosine = antonym_preference(cosine_logits(features, self.text_features, self.clip.logit_scale))
        return fuse(cosine, magnitude_cue(features)).view(dist.shape[0], -1).mean(dim=1)


#: measured by tests/deep/test_equivalence_clip.py (largest over random, odd-size and calibration inputs)
_MEASURED = "2.2e-7"

SPECS = (
    MetricSpec(
        name="maclip",
        mode="NR",
        lower_better=False,
        score_range=(0.0, math.inf),  # pyiqa writes "0, 1"; the magnitude cue has no upper bound
        paper="Liao, Wu, Shi, Mai, Zhu, Zhu, Jiang & Chen, Beyond Cosine Similarity: Magnitude-Aware CLIP for "
              "No-Reference Image Quality Assessment, AAAI 2026 (arXiv 2511.09948)",
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 under identical random weights (max rel. diff {_MEASURED}); "
                           "no official values",
        factory=MACLIP,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=2000),
    ),
)
