"""CNNIQA: a shallow convolutional network for no-reference IQA, as pyiqa 0.1.16 runs it.

Kang, Ye, Li & Doermann, "Convolutional Neural Networks for No-Reference Image Quality Assessment", CVPR 2014.

One 7×7 convolution (50 kernels, 'valid') over the whole RGB image in [0, 1]; global max- and min-pooling of
each feature map (100 values); two fully connected ReLU layers of 800 units and a linear output (higher is
better). Differences from the paper, kept for equivalence with pyiqa's KonIQ-10k model: three colour channels
instead of the paper's locally contrast-normalised grey level, and one pass over the whole image instead of the
mean over 32×32 patches.

Weights: pyiqa's ``CNNIQA_koniq10k-e6f14c91.pth`` (tensors under ``params``: ``conv1``, ``fc1``, ``fc2``, ``fc3``).

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_cnniqa.py); no
official values in the calibration table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import build_meta, fill, unwrap
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

_FILE = WeightFile("CNNIQA_koniq10k-e6f14c91.pth")
WEIGHT_FILES = {"cnniqa": (_FILE,)}

KERNEL, KERNELS, NODES = 7, 50, 800


class CNNIQANet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, KERNELS, KERNEL)
        self.fc1 = nn.Linear(2 * KERNELS, NODES)
        self.fc2 = nn.Linear(NODES, NODES)
        self.fc3 = nn.Linear(NODES, 1)
        self.dropout = nn.Dropout()  # training only (pyiqa's network; the identity in eval mode)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Max and min pooling of the conv1 maps (N×KERNELS×H×W) and the MLP: (N, 1) scores."""
        h = features.flatten(2)
        pooled = torch.cat([h.amax(dim=2), h.amin(dim=2)], dim=1)
        return self.fc3(F.relu(self.fc2(self.dropout(F.relu(self.fc1(pooled))))))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 1) scores of RGB images in [0, 1] (the network pyiqa trains; state-dict keys as pyiqa's)."""
        return self.predict(self.conv1(image))


class CNNIQA(DeepMetric):
    min_size = KERNEL

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        self.net = fill(build_meta(CNNIQANet), unwrap(self.load_weights(_FILE), "params"))

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        with self.autocast(dist):
            features = self.net.conv1(dist)
        return self.net.predict(features.float()).flatten()  # float32: a reduced-precision MLP rounds the scores


SPECS = (
    MetricSpec(
        name="cnniqa",
        mode="NR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=(
            "Kang, Ye, Li & Doermann, Convolutional Neural Networks for No-Reference Image Quality Assessment, "
            "CVPR 2014"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 under random weights; no official values",
        factory=CNNIQA,
        options={"precision": "float32"},
        version="2",  # 2: score head in float32 under reduced precision
        resources=Resources(num_cpus=1, num_gpus=0.05, memory_mb=600),
    ),
)
