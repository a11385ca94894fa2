"""LIQE: blind image quality as CLIP's correspondence with quality-level prompts (CLIP ViT-B/32).

Zhang, Zhai, Wei, Yang & Ma, "Blind Image Quality Assessment via Vision-Language Correspondence: A Multitask
Learning Perspective", CVPR 2023.

The image (both sides at least 224 px) is standardised with CLIP's mean/std and cut into 224×224 windows with a
stride of 32 px (row-major); of the P windows, 15 evenly spaced ones (indices 0, s, 2s, … with
s = max(1, P // 15); all when P < 15) are encoded by the fine-tuned CLIP ViT-B/32 (positional embedding as
trained). Each window's cosine similarity with every prompt's text feature, times CLIP's logit scale, is averaged
over the windows; a softmax over the prompts gives probabilities, summed per quality level, and the score is the
expected level Σ k·p_k over bad, poor, fair, good, perfect = 1…5 (higher is better).

* ``liqe`` (KonIQ-10k): prompts "a photo with {q} quality" for the five levels q.
* ``liqe_mix`` (multitask, six datasets): prompts "a photo of a {scene} with {distortion} artifacts, which is of
  {q} quality" for every level × 9 scenes × 11 distortion types (495 prompts).

The prompts' text features are computed once, when the metric is built, from the checkpoint's text encoder.

Weights: pyiqa's ``liqe_koniq.pt`` and ``liqe_mix.pt``: the whole fine-tuned CLIP under ``params``/``clip_model.``
(OpenAI's ViT-B/32 file, which the reference reads first and then overwrites, is not needed).

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_clip.py); no
official values in the calibration table.
"""

from __future__ import annotations

from itertools import product

import torch

from metrics.deep.clip_trunk import cosine_logits, load_clip, normalize, tokenize
from metrics.deep.common import DeepMetric
from metrics.deep.nets import grid_positions, unwrap
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

QUALITIES = ("bad", "poor", "fair", "good", "perfect")
SCENES = ("animal", "cityscape", "human", "indoor", "landscape", "night", "plant", "still_life", "others")
DISTORTIONS = ("jpeg2000 compression", "jpeg compression", "noise", "blur", "color", "contrast", "overexposure",
               "underexposure", "spatial", "quantization", "other")
PATCH, STRIDE, PATCHES = 224, 32, 15

_FILES = {"liqe": WeightFile("liqe_koniq.pt"), "liqe_mix": WeightFile("liqe_mix.pt")}
WEIGHT_FILES = {name: (wf,) for name, wf in _FILES.items()}


def prompts(multitask: bool) -> list[str]:
    """The prompt texts, quality level outermost (then scene, then distortion)."""
    if not multitask:
        return [f"a photo with {q} quality" for q in QUALITIES]
    return [f"a photo of a {c} with {d} artifacts, which is of {q} quality"
            for q, c, d in product(QUALITIES, SCENES, DISTORTIONS)]


class LIQE(DeepMetric):
    """LIQE with the KonIQ-10k (``checkpoint='liqe'``) or the multitask (``'liqe_mix'``) checkpoint."""

    min_size = PATCH

    def __init__(self, checkpoint: str = "liqe", precision: str = "float32") -> None:
        super().__init__(precision)
        if checkpoint not in _FILES:
            raise ValueError(f"checkpoint must be one of {sorted(_FILES)}, got {checkpoint!r}")
        loaded = unwrap(self.load_weights(_FILES[checkpoint]), "params")
        self.clip = load_clip(loaded, prefix="clip_model.").requires_grad_(False)
        with torch.inference_mode():
            features = self.clip.encode_text(tokenize(prompts(checkpoint == "liqe_mix")))
        self.register_buffer("text_features", features / features.norm(dim=-1, keepdim=True), persistent=False)

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        """The selected 224×224 windows of each image, image-major: (N·k)×3×224×224."""
        rows = grid_positions(x.shape[-2], PATCH, STRIDE)
        cols = grid_positions(x.shape[-1], PATCH, STRIDE)
        count = min(PATCHES, rows * cols)
        step = max(1, rows * cols // count)
        crops = []
        for index in range(0, step * count, step):
            r, c = divmod(index, cols)
            crops.append(x[:, :, r * STRIDE:r * STRIDE + PATCH, c * STRIDE:c * STRIDE + PATCH])
        return torch.stack(crops, dim=1).flatten(0, 1)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        windows = self._windows(normalize(dist))
        with self.autocast(windows):
            features = self.clip.encode_image(windows, positional=True)
        logits = cosine_logits(features.float(), self.text_features, self.clip.logit_scale)
        probs = logits.view(dist.shape[0], -1, logits.shape[-1]).mean(dim=1).softmax(dim=-1)
        per_level = probs.view(dist.shape[0], len(QUALITIES), -1).sum(dim=-1)
        return per_level @ torch.arange(1.0, len(QUALITIES) + 1, device=per_level.device)


_PAPER = ("Zhang, Zhai, Wei, Yang & Ma, Blind Image Quality Assessment via Vision-Language Correspondence: A "
          "Multitask Learning Perspective, CVPR 2023")
#: measured by tests/deep/test_equivalence_clip.py (largest over random, odd-size and calibration inputs)
_MEASURED = {"liqe": "3.8e-7", "liqe_mix": "1.7e-7"}


def _spec(name: str) -> MetricSpec:
    return MetricSpec(
        name=name,
        mode="NR",
        lower_better=False,
        score_range=(1.0, 5.0),
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 under identical random weights (max rel. diff {_MEASURED[name]}); "
                           "no official values",
        factory=LIQE,
        options={"checkpoint": name, "precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=2000),
    )


SPECS = tuple(_spec(name) for name in _FILES)
