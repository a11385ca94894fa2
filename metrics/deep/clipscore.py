"""CLIPScore: how well an image matches its caption, by CLIP ViT-B/32 (reference-free caption evaluation).

Hessel, Holtzman, Forbes, Le Bras & Choi, "CLIPScore: A Reference-free Evaluation Metric for Image Captioning",
EMNLP 2021.

The image is resized (bicubic, antialiased) so that its shorter side is 224 px, centre-cropped to 224×224 and
standardised with CLIP's mean/std; the caption is prefixed with "A photo depicts " and tokenised (truncated to
CLIP's 77 tokens). The score is ``2.5 · max(cos(image feature, caption feature), 0)`` (0…2.5, higher is better).

Weights: OpenAI's ``ViT-B-32.pt`` (:mod:`metrics.deep.clip_trunk`).

Each image needs its caption: :meth:`CLIPScore.score_captions` takes them, and :meth:`score` without captions
raises :class:`~metrics.base.MetricInputError`. A benchmark run hands each image's caption to it from the
dataset's meta-info column named by the dataset option ``caption_column`` or from a caption file in
``--metric_opt`` (``clipscore: {captions: FILE}``); a run where neither gives them is refused when it is planned
(``MetricSpec.needs_captions``, :mod:`orchestrator.run.captions`).

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_clip.py); no
official values in the calibration table.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from metrics.base import MetricInputError
from metrics.deep import clip_trunk
from metrics.deep.clip_trunk import load_clip, normalize, tokenize
from metrics.deep.common import DeepMetric
from metrics.registry import Calibration, MetricSpec, Resources

BACKBONE = "ViT-B/32"
CAPTION_PREFIX = "A photo depicts"
WEIGHT = 2.5
WEIGHT_FILES = {"clipscore": (clip_trunk.openai_file(BACKBONE),)}


class CLIPScore(DeepMetric):
    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        self.clip = load_clip(self.load_weights(clip_trunk.openai_file(BACKBONE))).requires_grad_(False)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        raise MetricInputError("clipscore compares each image with its caption: call score_captions(images, captions)")

    def score_captions(self, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        """One score per (image, caption) pair of N×3×H×W float32 images in [0, 1] and N captions."""
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        self._check(images, "images")
        if len(captions) != images.shape[0]:
            raise MetricInputError(f"clipscore: {images.shape[0]} images but {len(captions)} captions")
        size = self.clip.config.input_resolution
        x = TF.resize(images, size, interpolation=InterpolationMode.BICUBIC, antialias=True)
        x = normalize(TF.center_crop(x, size))
        with self.autocast(x):
            image_features = self.clip.encode_image(x, positional=True).float()
        tokens = tokenize([f"{CAPTION_PREFIX} {caption}" for caption in captions]).to(images.device)
        text_features = self.clip.encode_text(tokens)
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        return WEIGHT * torch.relu((image_features * text_features).sum(dim=-1))


#: measured by tests/deep/test_equivalence_clip.py (largest over random, odd-size and calibration inputs)
_MEASURED = "3.4e-6"

SPECS = (
    MetricSpec(
        name="clipscore",
        mode="NR",
        lower_better=False,
        score_range=(0.0, 2.5),
        paper="Hessel, Holtzman, Forbes, Le Bras & Choi, CLIPScore: A Reference-free Evaluation Metric for Image "
              "Captioning, EMNLP 2021",
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 under identical random weights (max rel. diff {_MEASURED}); "
                           "no official values",
        factory=CLIPScore,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=2000),
        in_default_set=False,
        needs_captions=True,
    ),
)
