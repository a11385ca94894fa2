"""DeepDC: deep distance correlation between the VGG-19 features of two images (full reference, nothing trained).

Zhu, Chen, Zhu, Wang & Lin, "DeepDC: Deep Distance Correlation as a Perceptual Image Quality Evaluator",
arXiv:2211.04927, 2024.

Both images are standardised with the ImageNet mean/std and passed through torchvision's ImageNet VGG-19. At each
of five layers the C channels are C points (each the vector of its H·W responses); their pairwise Euclidean
distances, divided by C (distance² / C², + 1e-5 under the root, negative rounding clamped to 0), are double-centred
(row and column means subtracted, the grand mean added back). The distance correlation of the two images' centred
matrices A and B is (ΣA·B + 1e-6) / (√(ΣA²·ΣB²) + 1e-6); the score is 1 − its mean over the layers (lower is
better, 0 for identical images).

Layers as pyiqa 0.1.16 computes them: it names conv1_2, conv2_2, conv3_4, conv4_4 and conv5_4, but torchvision's
in-place ReLUs overwrite each stored map except the last one, so the first four are the rectified maps (relu1_2,
relu2_2, relu3_4, relu4_4) and only conv5_4 is taken before its ReLU.

Weights: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` (``vgg19-dcbb9e9d.pth``) only.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_deepdc.py); no
official values in the calibration table.
"""

from __future__ import annotations

import torch

from metrics.deep.common import DeepMetric
from metrics.deep.lpips import TappedTrunk
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
_VGG19 = "VGG19_Weights.IMAGENET1K_V1"
WEIGHT_FILES = {"deepdc": (WeightFile.torchvision(_VGG19),)}
#: Indices in VGG-19's ``features`` of relu1_2, relu2_2, relu3_4, relu4_4 and conv5_4 (see the module docstring).
TAPS = (3, 8, 17, 26, 34)
DISTANCE_EPS = 1e-5
CORRELATION_EPS = 1e-6


def centred_distances(features: torch.Tensor) -> torch.Tensor:
    """N×C×H×W → N×C×C: the double-centred matrix of distances between channels, each divided by C."""
    n, c = features.shape[:2]
    points = features.reshape(n, c, -1)
    gram = points @ points.transpose(1, 2)
    squared_norms = gram.diagonal(dim1=1, dim2=2)
    squared = (squared_norms[:, :, None] + squared_norms[:, None, :] - 2 * gram).clamp_min(0.0)
    distances = (squared / (c * c) + DISTANCE_EPS).sqrt()
    return (distances - distances.mean(dim=2, keepdim=True) - distances.mean(dim=1, keepdim=True)
            + distances.mean(dim=(1, 2), keepdim=True))


def distance_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(ΣA·B + ε) / (√(ΣA²·ΣB²) + ε) per item of two N×C×C batches."""
    cross = (a * b).sum(dim=(1, 2))
    return (cross + CORRELATION_EPS) / ((a * a).sum(dim=(1, 2)) * (b * b).sum(dim=(1, 2))).sqrt().add(CORRELATION_EPS)


class DeepDC(DeepMetric):
    """DeepDC on torchvision's ImageNet VGG-19."""

    min_size = 16  # four max-pools before conv5_4

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        from torchvision import models

        backbone = self.load_backbone(models.vgg19, _VGG19)
        self.trunk = TappedTrunk(backbone.features, TAPS).requires_grad_(False)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        n = dist.shape[0]
        with self.autocast(dist):
            layers = self.trunk((torch.cat([dist, ref]) - self.mean) / self.std)
        correlations = []
        for features in layers:
            centred = centred_distances(features.float())
            correlations.append(distance_correlation(centred[:n], centred[n:]))
        return 1 - torch.stack(correlations, dim=1).mean(dim=1)


SPECS = (
    MetricSpec(
        name="deepdc",
        mode="FR",
        lower_better=True,
        score_range=(0.0, 1.0),
        paper="Zhu, Chen, Zhu, Wang & Lin, DeepDC: Deep Distance Correlation as a Perceptual Image Quality "
              "Evaluator, arXiv:2211.04927, 2024",
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 on identical random weights (max rel. diff 1.6e-4 on a score of 3.7e-4, "
                           "i.e. 1.2e-7 absolute: two float32 steps of 1 − x; elsewhere <= 1e-4); no official values",
        factory=DeepDC,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=4000),
        ideal_score=0.0,
    ),
)
