"""PaQ-2-PiQ: the picture-level quality predictor of the "patches to pictures" model (ResNet-18, RoIPool).

Ying, Niu, Gupta, Mahajan, Ghadiyaram & Bovik, "From Patches to Pictures (PaQ-2-PiQ): Mapping the Perceptual
Space of Picture Quality", CVPR 2020.

The image (RGB in [0, 1], as the published checkpoint was trained on, no ImageNet standardisation) goes through
a ResNet-18 trunk without its pooling and classifier (stride 32, 512 channels). The whole-picture region of
interest (0, 0, W, H) is RoI-max-pooled to 2×2 bins on that map (coordinates scaled by 1/32 and rounded); the
head concatenates the global max- and average-pool of the 2×2 map (1024 values) and applies BatchNorm,
FC 1024→512, ReLU, BatchNorm, FC 512→1 (the dropouts are inactive at inference).

Weights: pyiqa's ``P2P_RoIPoolModel-fit.10.bs.120-ca69882e.pth`` (trunk under ``body.<index>``, head under
``head.{2,4,6,8}``).

Calibration: proved equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_paq2piq.py,
max relative difference measured 0: bit-identical scores); against the official values (``paq2piq`` row) only
when the published weights are cached — official values unverified here (no published weights could be downloaded).
"""

from __future__ import annotations

import torch
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.weights import WeightFile, load_module
from metrics.registry import Calibration, MetricSpec, Resources

_FILE = WeightFile("P2P_RoIPoolModel-fit.10.bs.120-ca69882e.pth")
WEIGHT_FILES = {"paq2piq": (_FILE,)}
STRIDE = 32


def _head() -> nn.Sequential:
    """The head with the published module indices: 2 BN(1024), 4 FC(1024→512), 6 BN(512), 8 FC(512→1)."""
    return nn.Sequential(
        nn.Identity(),  # 0: concat pooling (done in ``PaQ2PiQ.score``)
        nn.Flatten(),
        nn.BatchNorm1d(1024),
        nn.Identity(),  # 3: dropout
        nn.Linear(1024, 512),
        nn.ReLU(),
        nn.BatchNorm1d(512),
        nn.Identity(),  # 7: dropout
        nn.Linear(512, 1),
    )


class PaQ2PiQ(DeepMetric):
    min_size = 32  # at least one cell of the stride-32 feature map

    def __init__(self, precision: str = "float32") -> None:
        from torchvision import models

        super().__init__(precision)
        loaded = self.load_weights(_FILE)
        with torch.device("meta"):
            trunk = nn.Sequential(*list(models.resnet18(weights=None).children())[:-2])
            head = _head()
        load_module(trunk, loaded, prefix="body.", assign=True)
        load_module(head, loaded, prefix="head.", assign=True)
        self.body = trunk.float().requires_grad_(False)
        self.head = head.float().requires_grad_(False)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        from torchvision.ops import roi_pool

        n, _, h, w = dist.shape
        with self.autocast(dist):
            feats = self.body(dist).float()
        box = torch.tensor([0.0, 0.0, w, h], device=dist.device, dtype=feats.dtype)
        rois = torch.cat([torch.arange(n, device=dist.device, dtype=feats.dtype)[:, None], box.expand(n, 4)], dim=1)
        bins = roi_pool(feats, rois, output_size=(2, 2), spatial_scale=1 / STRIDE)
        pooled = torch.cat([bins.amax(dim=(2, 3)), bins.mean(dim=(2, 3))], dim=1)
        return self.head(pooled)[:, 0]


SPECS = (
    MetricSpec(
        name="paq2piq",
        mode="NR",
        lower_better=False,
        score_range=(0.0, 100.0),
        paper=(
            "Ying, Niu, Gupta, Mahajan, Ghadiyaram & Bovik, From Patches to Pictures (PaQ-2-PiQ): Mapping the "
            "Perceptual Space of Picture Quality, CVPR 2020"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 on identical random weights (max rel. diff 0, bit-identical); official values "
        "unverified here",
        factory=PaQ2PiQ,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=800),
        calibration_key="paq2piq",
    ),
)
