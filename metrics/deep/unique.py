"""UNIQUE: a ResNet-34 whose last feature map is pooled bilinearly (second-order statistics) and read out linearly.

Zhang, Ma, Zhai & Yang, "Uncertainty-aware Blind Image Quality Assessment in the Laboratory and Wild",
IEEE Transactions on Image Processing 30, 2021.

The whole image (no resize, no crop) is standardised with the ImageNet mean/std and run through a ResNet-34 up to
its last stage (512 channels, stride 32). The feature map X (512 × HW) is pooled into its Gram matrix X·Xᵀ / HW,
each entry square-rooted with its sign kept (sign(g)·sqrt(|g| + 1e-8)), flattened (512² values) and L2-normalised;
a fully connected layer gives two outputs, the predicted quality and its uncertainty (the paper's Thurstone model
trains both). The score is the first, the mean quality (higher is better, about -3 … 3).

Weights: pyiqa's ``UNIQUE.pt`` (the trained model trained on six databases, "mix": the ResNet-34 under
``backbone.`` — its ImageNet classifier ``backbone.fc`` is in the file but unused —, the read-out under ``fc.``,
2 × 262144). The reference first builds the ImageNet ResNet-34, which this file then overwrites: that file is not
loaded here.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_unique.py, max
relative difference measured 2.1e-6); no official values in the calibration table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.deep.common import DeepMetric
from metrics.deep.nets import build_meta, fill, resnet_feature_map, resnet_trunk
from metrics.deep.weights import WeightFile, tensor
from metrics.registry import Calibration, MetricSpec, Resources

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CHANNELS = 512  # ResNet-34's last stage
SQRT_EPS = 1e-8
CHECKPOINT = WeightFile("UNIQUE.pt")
WEIGHT_FILES = {"unique": (CHECKPOINT,)}


def bilinear_pool(features: torch.Tensor) -> torch.Tensor:
    """N×C×H×W → N×C²: the Gram matrix over positions (divided by H·W), signed square root, L2-normalised."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    gram = flat @ flat.transpose(1, 2) / (h * w)
    rooted = gram.sign() * (gram.abs() + SQRT_EPS).sqrt()
    return F.normalize(rooted.reshape(n, c * c), dim=1)


class UNIQUE(DeepMetric):
    """UNIQUE with the published "mix" checkpoint; the score is the predicted mean quality."""

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        loaded = self.load_weights(CHECKPOINT)
        self.backbone = fill(build_meta(lambda: resnet_trunk(34)), loaded, prefix="backbone.", ignore=("fc.",))
        readout = tensor(loaded, "fc.weight", (2, CHANNELS * CHANNELS))
        # only the first output (the mean quality) is a score; the second (its uncertainty) is not read
        self.register_buffer("fc_weight", readout[0].detach().float().clone())
        self.register_buffer("fc_bias", tensor(loaded, "fc.bias", (2,))[0].detach().float().clone())
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        with self.autocast(dist):
            features = resnet_feature_map(self.backbone, (dist - self.mean) / self.std)
        return bilinear_pool(features.float()) @ self.fc_weight + self.fc_bias


SPECS = (
    MetricSpec(
        name="unique",
        mode="NR",
        lower_better=False,
        score_range=(-3.0, 3.0),
        paper="Zhang, Ma, Zhai & Yang, Uncertainty-aware Blind Image Quality Assessment in the Laboratory and Wild, "
              "IEEE Transactions on Image Processing 30, 2021",
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 on identical random weights (max rel. diff 2.1e-6); no official values",
        factory=UNIQUE,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=1500),
    ),
)
