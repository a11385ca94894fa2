"""DBCNN: deep bilinear convolutional neural network for no-reference IQA (KonIQ-10k model).

Zhang, Ma, Yan, Deng & Wang, "Blind Image Quality Assessment Using a Deep Bilinear Convolutional Neural Network",
IEEE TCSVT 30(1), 2020.

Two streams see the ImageNet-standardised RGB image: VGG-16's convolutional layers up to relu5_3 (512 channels,
authentic distortions) and S-CNN (nine 3×3 conv + BatchNorm + ReLU blocks, 48-48-64-64-64-64-128-128-128
channels, stride 2 in blocks 2, 4, 6 and 9; 128 channels, synthetic distortions). When their maps differ in size,
the S-CNN map is bilinearly resized (corners aligned) to the VGG map. Bilinear pooling averages the outer products
of the two feature vectors over all positions (512×128 values), followed by sqrt(· + 1e-8), L2 normalisation and a
linear layer to the score (higher is better).

Weights: pyiqa's ``DBCNN_KonIQ10k-2de81c0a.pth`` (tensors under ``params``: ``features1.*`` in torchvision VGG-16
indices, ``features2.*`` the S-CNN blocks, ``fc``). The ImageNet VGG-16 and the S-CNN pre-training file that the
reference implementation loads first are overwritten by this file, so they are not loaded here.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_dbcnn.py); no
official values in the calibration table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import VGG16_TO_RELU5_3, build_meta, conv_stack, fill, unwrap
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

_FILE = WeightFile("DBCNN_KonIQ10k-2de81c0a.pth")
WEIGHT_FILES = {"dbcnn": (_FILE,)}

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: S-CNN blocks: (in channels, out channels, stride)
SCNN = ((3, 48, 1), (48, 48, 2), (48, 64, 1), (64, 64, 2), (64, 64, 1), (64, 64, 2), (64, 128, 1), (128, 128, 1),
        (128, 128, 2))


def scnn_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    for cin, cout, stride in SCNN:
        layers += [nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*layers)


class DBCNNNet(nn.Module):
    """The DBCNN network with pyiqa's state-dict keys (``features1``: VGG-16 to relu5_3, ``features2``: S-CNN,
    ``fc``); ``forward`` takes RGB images in [0, 1] and returns (N, 1) scores."""

    def __init__(self) -> None:
        super().__init__()
        self.features1 = conv_stack(VGG16_TO_RELU5_3)
        self.features2 = scnn_features()
        self.fc = nn.Linear(512 * 128, 1)

    def streams(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two streams' feature maps of the standardised image."""
        mean = torch.tensor(MEAN, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        std = torch.tensor(STD, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        x = (image - mean) / std
        return self.features1(x), self.features2(x)

    def head(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Bilinear pooling of the two maps (S-CNN's resized to VGG's when they differ) and the linear score."""
        h, w = a.shape[-2:]
        if b.shape[-2:] != (h, w):
            b = F.interpolate(b, size=(h, w), mode="bilinear", align_corners=True)
        bilinear = torch.bmm(a.flatten(2), b.flatten(2).transpose(1, 2)) / (h * w)  # N×512×128
        pooled = F.normalize((bilinear.flatten(1) + 1e-8).sqrt(), dim=1)
        return self.fc(pooled)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(*self.streams(image))


class DBCNN(DeepMetric):
    min_size = 16  # four 2×2 max-pools in the VGG stream

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        self.net = fill(build_meta(DBCNNNet), unwrap(self.load_weights(_FILE), "params"))

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        with self.autocast(dist):
            a, b = self.net.streams(dist)
        return self.net.head(a.float(), b.float()).flatten()


SPECS = (
    MetricSpec(
        name="dbcnn",
        mode="NR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=(
            "Zhang, Ma, Yan, Deng & Wang, Blind Image Quality Assessment Using a Deep Bilinear Convolutional Neural "
            "Network, IEEE TCSVT 30(1), 2020"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 under random weights; no official values",
        factory=DBCNN,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.2, memory_mb=2500),
    ),
)
