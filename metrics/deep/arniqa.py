"""ARNIQA: a ResNet-50 that embeds the distortion manifold, read out by a linear regressor per dataset.

Agnolucci, Galteri, Bertini & Del Bimbo, "ARNIQA: Learning Distortion Manifold for Image Quality Assessment",
WACV 2024.

The image and a half-size copy (bilinear, corners not aligned, ``scale_factor=0.5``: each side floor(n / 2)) are
standardised with the ImageNet mean/std and encoded by a ResNet-50 up to its global average pool (2048 values
each); each embedding is L2-normalised, the two are concatenated (full size first) and a linear regressor trained
on one dataset (ridge regression, exported as a TorchScript module ``weights`` 1×4096, ``biases``) maps them to
that dataset's MOS scale. The score is then rescaled to [0, 1] from the dataset's MOS range as pyiqa's dataset
options give it, and flipped for datasets whose MOS is lower-better (LIVE, CSIQ), so that higher is better.

``arniqa`` uses the KonIQ-10k regressor; ``arniqa-<dataset>`` the one of LIVE, CSIQ, TID2013, KADID-10k, LIVE
Challenge (``clive``), FLIVE or SPAQ.

Weights: pyiqa's ``ARNIQA.pth`` (the encoder: a ResNet-50 whose children up to the average pool are
``model.0`` … ``model.8`` — conv1, bn1, relu, maxpool, layer1…4, avgpool; other keys are not used) and
``regressor_<dataset>.pth`` (TorchScript archives whose tensors are read without loading their code). The
reference first builds the ImageNet ResNet-50, which the encoder file then overwrites: that file is not loaded.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_arniqa.py; every
regressor bitwise equal, max relative difference 0); no official values in the calibration table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import build_meta, fill, resnet_trunk
from metrics.deep.weights import WeightFile, WeightIntegrityError, tensor
from metrics.registry import Calibration, MetricSpec, Resources

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
FEATURES = 2048
ENCODER = WeightFile("ARNIQA.pth")


@dataclass(frozen=True)
class Regressor:
    """One dataset's regressor file and that dataset's MOS scale (pyiqa's dataset options)."""

    filename: str
    mos_range: tuple[float, float]
    lower_better: bool = False


#: Metric name → regressor. MOS ranges and directions are those of pyiqa's default dataset options.
REGRESSORS = {
    "arniqa": Regressor("regressor_koniq10k.pth", (1.0, 100.0)),
    "arniqa-live": Regressor("regressor_live.pth", (1.0, 100.0), lower_better=True),
    "arniqa-csiq": Regressor("regressor_csiq.pth", (0.0, 1.0), lower_better=True),
    "arniqa-tid": Regressor("regressor_tid2013.pth", (0.0, 9.0)),
    "arniqa-kadid": Regressor("regressor_kadid10k.pth", (1.0, 5.0)),
    "arniqa-clive": Regressor("regressor_clive.pth", (1.0, 100.0)),
    "arniqa-flive": Regressor("regressor_flive.pth", (0.0, 100.0)),
    "arniqa-spaq": Regressor("regressor_spaq.pth", (1.0, 100.0)),
}
WEIGHT_FILES = {name: (ENCODER, WeightFile(r.filename, torchscript=True)) for name, r in REGRESSORS.items()}


def _encoder() -> nn.Sequential:
    """The shared ResNet-50 as the sequence of its children up to the global average pool (``model.<i>``)."""
    return nn.Sequential(*list(resnet_trunk().children())[:-1])


class ARNIQA(DeepMetric):
    """ARNIQA with the regressor of ``regressor`` (a key of ``REGRESSORS``)."""

    min_size = 2  # the half-size copy must keep a pixel

    def __init__(self, regressor: str = "arniqa", precision: str = "float32") -> None:
        super().__init__(precision)
        if regressor not in REGRESSORS:
            raise ValueError(f"regressor must be one of {sorted(REGRESSORS)}, got {regressor!r}")
        self.scale = REGRESSORS[regressor]
        encoder_file, regressor_file = WEIGHT_FILES[regressor]
        self.encoder = fill(build_meta(_encoder), self.load_weights(encoder_file), prefix="model.")
        linear = self.load_weights(regressor_file)
        self.register_buffer("weights", tensor(linear, "weights", (1, 2 * FEATURES)).detach().float())
        biases = tensor(linear, "biases")
        if biases.numel() != 1:
            raise WeightIntegrityError(f"weight file {regressor_file.filename}: 'biases' has shape "
                                       f"{tuple(biases.shape)}, expected one value")
        self.register_buffer("biases", biases.detach().float().reshape(1))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        with self.autocast(x):
            features = self.encoder((x - self.mean) / self.std).flatten(1)
        return F.normalize(features.float(), dim=1)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        half = F.interpolate(dist, scale_factor=0.5, mode="bilinear", align_corners=False)
        embedding = torch.cat([self._embed(dist), self._embed(half)], dim=1)
        mos = (embedding @ self.weights.T + self.biases).flatten()
        low, high = self.scale.mos_range
        unit = (mos - low) * (1.0 / (high - low))
        return 1.0 - unit if self.scale.lower_better else unit


_PAPER = (
    "Agnolucci, Galteri, Bertini & Del Bimbo, ARNIQA: Learning Distortion Manifold for Image Quality Assessment, "
    "WACV 2024"
)


def _spec(name: str) -> MetricSpec:
    return MetricSpec(
        name=name,
        mode="NR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 under random weights (max rel. diff 0, bitwise equal); no official values",
        factory=ARNIQA,
        options={"regressor": name, "precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.2, memory_mb=2000),
    )


SPECS = tuple(_spec(name) for name in REGRESSORS)
