"""NIMA (VGG-16, AVA): neural image assessment as a predicted distribution of 1–10 aesthetic ratings.

Talebi & Milanfar, "NIMA: Neural Image Assessment", IEEE TIP 27(8), 2018.

The image is resized (bilinear, antialiased) so that its shorter side is 224 px, centre-cropped to 224×224 and
standardised with the ImageNet mean/std; the VGG-16 convolutional trunk (all five blocks, through the last
max-pool: 512 channels at stride 32) is average-pooled globally and a fully connected layer with a softmax gives
the probabilities of the ratings 1…10; the score is their mean Σ k·p_k. (The paper's classifier replaces VGG's
last layer; the published checkpoint used here pools the convolutional features instead, as its layout shows.)

Weights: pyiqa's ``NIMA_VGG16_ava-dc4e8265.pth`` (a ``params`` dict: the trunk under ``base_model.features_<i>``,
the classifier under ``classifier.2``).

Calibration: proved equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_nima.py,
max relative difference measured 1.7e-7); no official values in the calibration table (no ``calibration_key``).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.weights import WeightFile, WeightIntegrityError, load_module, tensor
from metrics.registry import Calibration, MetricSpec, Resources

_FILE = WeightFile("NIMA_VGG16_ava-dc4e8265.pth")
WEIGHT_FILES = {"nima-vgg16-ava": (_FILE,)}
SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BINS = 10


class NIMA(DeepMetric):

    def __init__(self, precision: str = "float32") -> None:
        from torchvision import models

        super().__init__(precision)
        loaded = self.load_weights(_FILE)
        params = loaded.state_dict.get("params")
        if not isinstance(params, dict):
            raise WeightIntegrityError(f"weight file {_FILE.filename} ({loaded.path}) has no 'params' state dict")
        loaded = dataclasses.replace(loaded, state_dict=params)
        with torch.device("meta"):
            trunk = models.vgg16(weights=None).features  # 31 modules: through the fifth max-pool
        load_module(trunk, loaded, prefix="base_model.features_", assign=True)
        for layer in trunk:
            if isinstance(layer, nn.ReLU):
                layer.inplace = False
        self.trunk = trunk.float().requires_grad_(False)
        self.register_buffer("fc_weight", tensor(loaded, "classifier.2.weight", (BINS, 512)).float())
        self.register_buffer("fc_bias", tensor(loaded, "classifier.2.bias", (BINS,)).float())
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("ratings", torch.arange(1.0, BINS + 1), persistent=False)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        x = TF.resize(dist, SIZE, interpolation=InterpolationMode.BILINEAR, antialias=True)
        x = (TF.center_crop(x, SIZE) - self.mean) / self.std
        with self.autocast(x):
            feats = self.trunk(x).float()
        probs = torch.softmax(feats.mean(dim=(2, 3)) @ self.fc_weight.T + self.fc_bias, dim=-1)
        return probs @ self.ratings


SPECS = (
    MetricSpec(
        name="nima-vgg16-ava",
        mode="NR",
        lower_better=False,
        score_range=(1.0, 10.0),
        paper="Talebi & Milanfar, NIMA: Neural Image Assessment, IEEE Transactions on Image Processing 27(8), 2018",
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 on identical random weights (max rel. diff 1.7e-7); no official values",
        factory=NIMA,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=1200),
    ),
)
