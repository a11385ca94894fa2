"""LAION-Aesthetics predictor (v2): an MLP on CLIP ViT-L/14 image embeddings, trained on aesthetic ratings.

Schuhmann et al., "LAION-5B: An open large-scale dataset for training next generation image-text models",
NeurIPS 2022 Datasets and Benchmarks (the LAION-Aesthetics subsets), with the predictor published at
github.com/christophschuhmann/improved-aesthetic-predictor (trained on SAC, LAION-Logos and AVA ratings; linear
layers fitted with an MSE loss). Score: a rating on the 1…10 scale, higher is better.

The image is resized so that its shorter side is 224 px (bicubic, antialiased; torchvision's ``resize``), centre
cropped to 224×224 and standardised with CLIP's mean and standard deviation, as pyiqa 0.1.16 does for tensors.
OpenAI's CLIP ViT-L/14 (:mod:`metrics.deep.clip_trunk`) encodes it; the 768-d embedding, L2-normalised, goes
through five linear layers 768 → 1024 → 128 → 64 → 16 → 1 with nothing between them (the published predictor's
activations are commented out; its dropouts are inactive at test time).

Weights: OpenAI's ``ViT-L-14.pt`` and pyiqa's ``sac+logos+ava1-l14-linearMSE.pth`` (the predictor's
``layers.{0,2,4,6,7}``).

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_laion_aes.py); no
official values in the calibration table.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep import clip_trunk
from metrics.deep.clip_trunk import load_clip, normalize
from metrics.deep.common import DeepMetric
from metrics.deep.nets import build_meta, fill
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

PREDICTOR = WeightFile("sac+logos+ava1-l14-linearMSE.pth")
WEIGHT_FILES = {"laion_aes": (clip_trunk.openai_file("ViT-L/14"), PREDICTOR)}
INPUT_SIZE = 224
WIDTHS = (768, 1024, 128, 64, 16, 1)
#: module index of each linear layer in the published ``layers`` (dropouts between the first four)
LINEAR_INDICES = (0, 2, 4, 6, 7)


class AestheticPredictor(nn.Module):
    """The published predictor's linear layers under its names (``layers.<index>``)."""

    def __init__(self) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        for index, (fan_in, fan_out) in zip(LINEAR_INDICES, itertools.pairwise(WIDTHS)):
            modules += [nn.Identity()] * (index - len(modules))  # where the dropouts sit
            modules.append(nn.Linear(fan_in, fan_out))
        self.layers = nn.Sequential(*modules)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.layers(embedding).flatten()


class LAIONAesthetics(DeepMetric):
    """The LAION-Aesthetics v2 predictor on CLIP ViT-L/14."""

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        self.clip = load_clip(self.load_weights(clip_trunk.openai_file("ViT-L/14"))).requires_grad_(False)
        self.predictor = fill(build_meta(AestheticPredictor), self.load_weights(PREDICTOR)).eval()

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        from torchvision.transforms import functional as TF

        x = TF.resize(dist, INPUT_SIZE, interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
        x = normalize(TF.center_crop(x, INPUT_SIZE))
        with self.autocast(x):
            embedding = self.clip.encode_image(x, positional=True)
        return self.predictor(F.normalize(embedding.float(), dim=-1))


#: measured by tests/deep/test_equivalence_laion_aes.py (largest over its inputs)
_MEASURED = "0 (bit-identical scores)"

SPECS = (
    MetricSpec(
        name="laion_aes",
        mode="NR",
        lower_better=False,
        score_range=(1.0, 10.0),
        paper="Schuhmann et al., LAION-5B: An open large-scale dataset for training next generation image-text "
              "models, NeurIPS 2022 (LAION-Aesthetics predictor v2, github.com/christophschuhmann/"
              "improved-aesthetic-predictor)",
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 under identical random weights"
                           + (f" (max rel. diff {_MEASURED})" if _MEASURED else "") + "; no official values",
        factory=LAIONAesthetics,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.5, memory_mb=6000),
    ),
)
