"""NIMA: neural image assessment, a CNN trunk read out by one fully connected layer (VGG-16 and
Inception-ResNet-v2 trunks; AVA aesthetics, KonIQ-10k and SPAQ quality).

Talebi & Milanfar, "NIMA: Neural Image Assessment", IEEE TIP 27(8), 2018.

The image is resized (bilinear, antialiased) so that its shorter side is the trunk's input size (VGG-16: 224,
Inception-ResNet-v2: 299), centre-cropped to a square of that size and standardised (VGG-16: the ImageNet
mean/std; Inception-ResNet-v2: mean 0.5, std 0.5). The convolutional trunk (VGG-16: all five blocks through the
last max-pool, 512 channels; Inception-ResNet-v2: through ``conv2d_7b``, 1536 channels, see
:mod:`metrics.deep.inception_resnet`) is average-pooled globally and a fully connected layer follows:

* AVA checkpoints (``nima-vgg16-ava``, ``nima``): 10 outputs, a softmax over the ratings 1…10; the score is
  their mean Σ k·p_k (1…10, higher is better);
* ``nima-koniq``, ``nima-spaq``: one output, the score itself (trained on MOS rescaled to about 0…1).

(The paper's classifier replaces the trunk's last layer; the published checkpoints pool the convolutional
features instead, as their layout shows.)

Weights: pyiqa's ``NIMA_VGG16_ava-dc4e8265.pth``, ``NIMA_InceptionV2_ava-b0c77c00.pth``,
``NIMA_koniq-250367ae.pth`` and ``NIMA-spaq-46a7fcb7.pth`` (a ``params`` dict: the trunk under
``base_model.`` — VGG-16's ``features`` as ``base_model.features_<i>`` —, the classifier under ``classifier.2``).

Calibration: proved equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_nima.py,
max relative difference measured 1.7e-7 for ``nima-vgg16-ava``, see the spec of each for the others); no official
values in the calibration table (no ``calibration_key``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.inception_resnet import InceptionResNetV2Trunk
from metrics.deep.nets import VGG16_TO_RELU5_3, build_meta, conv_stack, fill, unwrap
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
BINS = 10


@dataclass(frozen=True)
class Trunk:
    """How one backbone is fed: input size (shorter-side resize, then centre crop) and standardisation."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channels: int


TRUNKS = {
    "vgg16": Trunk(224, IMAGENET_MEAN, IMAGENET_STD, 512),
    "inception_resnet_v2": Trunk(299, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), InceptionResNetV2Trunk.channels),
}


@dataclass(frozen=True)
class Checkpoint:
    weights: WeightFile
    trunk: str
    #: 10: a distribution over the ratings 1…10 (scored by its mean); 1: the score itself.
    classes: int


CHECKPOINTS = {
    "nima-vgg16-ava": Checkpoint(WeightFile("NIMA_VGG16_ava-dc4e8265.pth"), "vgg16", BINS),
    "nima": Checkpoint(WeightFile("NIMA_InceptionV2_ava-b0c77c00.pth"), "inception_resnet_v2", BINS),
    "nima-koniq": Checkpoint(WeightFile("NIMA_koniq-250367ae.pth"), "inception_resnet_v2", 1),
    "nima-spaq": Checkpoint(WeightFile("NIMA-spaq-46a7fcb7.pth"), "inception_resnet_v2", 1),
}
WEIGHT_FILES = {name: (checkpoint.weights,) for name, checkpoint in CHECKPOINTS.items()}


def vgg16_features() -> nn.Sequential:
    """VGG-16's convolutional part through its fifth max-pool, its modules named as timm's feature net names them
    (``features_<i>``), ReLUs not in place; PyTorch's default initialisation."""
    layers = conv_stack((*VGG16_TO_RELU5_3, "M"))
    return nn.Sequential(OrderedDict((f"features_{i}", layer) for i, layer in enumerate(layers)))


def mean_rating(distribution: torch.Tensor) -> torch.Tensor:
    """Σ k·p_k over the ratings k = 1…K of (N, K) distributions: the scores (N,)."""
    ratings = torch.arange(1, distribution.shape[-1] + 1, dtype=distribution.dtype, device=distribution.device)
    return distribution @ ratings


class NIMANet(nn.Module):
    """The network in pyiqa's state-dict layout: ``base_model`` (the trunk) and ``classifier`` (flatten, dropout,
    linear: ``classifier.2``). ``forward`` gives (N, classes): a softmax distribution over the ratings (classes
    > 1) or the score. In training mode the input is only standardised (the crop comes from the data
    augmentation, as in pyiqa's training); in eval mode it is first resized and centre-cropped to the trunk's
    input size."""

    def __init__(self, trunk: str = "vgg16", classes: int = BINS, dropout: float = 0.0) -> None:
        super().__init__()
        if trunk not in TRUNKS:
            raise ValueError(f"NIMA trunk must be one of {sorted(TRUNKS)}, got {trunk!r}")
        self.input = TRUNKS[trunk]
        self.base_model = vgg16_features() if trunk == "vgg16" else InceptionResNetV2Trunk()
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(self.input.channels, classes))

    def fit_input(self, x: torch.Tensor) -> torch.Tensor:
        """Shorter side to the input size (bilinear, antialiased), centre crop to a square of it."""
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        size = self.input.size
        x = TF.resize(x, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
        return TF.center_crop(x, size)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.input.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.input.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Trunk features (N×C×h×w) → global average pool → classifier (softmax for a distribution)."""
        out = self.classifier(features.mean(dim=(2, 3)))
        return torch.softmax(out, dim=-1) if out.shape[-1] > 1 else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            x = self.fit_input(x)
        return self.head(self.base_model(self.standardise(x)))


class NIMA(DeepMetric):
    """NIMA with one of the published checkpoints (``checkpoint`` = a key of ``CHECKPOINTS``)."""

    def __init__(self, checkpoint: str = "nima-vgg16-ava", precision: str = "float32") -> None:
        super().__init__(precision)
        if checkpoint not in CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {sorted(CHECKPOINTS)}, got {checkpoint!r}")
        layout = CHECKPOINTS[checkpoint]
        loaded = unwrap(self.load_weights(layout.weights), "params")
        self.net = fill(build_meta(lambda: NIMANet(layout.trunk, layout.classes)), loaded).eval()

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        x = self.net.standardise(self.net.fit_input(dist))
        with self.autocast(x):
            feats = self.net.base_model(x).float()
        out = self.net.head(feats)
        return out.flatten() if out.shape[-1] == 1 else mean_rating(out)


_PAPER = "Talebi & Milanfar, NIMA: Neural Image Assessment, IEEE Transactions on Image Processing 27(8), 2018"
_INCEPTION = (
    "; trunk: Szegedy, Ioffe, Vanhoucke & Alemi, Inception-v4, Inception-ResNet and the Impact of Residual "
    "Connections on Learning, AAAI 2017"
)
#: Largest relative difference to pyiqa 0.1.16 on identical random weights (tests/deep/test_equivalence_nima.py).
_MEASURED = {"nima-vgg16-ava": "1.7e-7", "nima": "1.1e-7", "nima-koniq": "0, bitwise equal",
             "nima-spaq": "0, bitwise equal"}


def _spec(name: str) -> MetricSpec:
    layout = CHECKPOINTS[name]
    vgg = layout.trunk == "vgg16"
    return MetricSpec(
        name=name,
        mode="NR",
        lower_better=False,
        score_range=(1.0, 10.0) if layout.classes > 1 else (0.0, 1.0),
        paper=_PAPER if vgg else _PAPER + _INCEPTION,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 on identical random weights (max rel. diff {_MEASURED[name]}); "
                           "no official values",
        factory=NIMA,
        # the factory's default checkpoint is nima-vgg16-ava: its options (and cached cells) stay as they were
        options={"precision": "float32"} if name == "nima-vgg16-ava" else {"checkpoint": name, "precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=1200 if vgg else 1500),
    )


SPECS = tuple(_spec(name) for name in CHECKPOINTS)
