"""WaDIQaM: weighted average deep image quality measure, full-reference (WaDIQaM-FR) and no-reference (-NR).

Bosse, Maniry, Müller, Wiegand & Samek, "Deep Neural Networks for No-Reference and Full-Reference Image Quality
Assessment", IEEE TIP 27(1), 2018.

The image (RGB in [0, 1], no normalisation) is cut into non-overlapping 32×32 patches starting at 0, 32, …
strictly before ``size − 32`` (so, as in pyiqa, the last patch row/column that would end exactly at the border is
not used). A VGG-like trunk of ten 3×3 convolutions (32, 32, 64, 64, 128, 128, 256, 256, 512, 512 channels,
ReLUs, a 2×2 max-pool after every second one) maps a patch to a 512-vector. NR uses it directly; FR concatenates
(reference, distorted, distorted − reference) features (1536 values). Two MLPs (→512→1, ReLU) give the patch
quality q and, with a final ReLU plus 1e-8, the patch weight w; the score is Σ w·q / Σ w (higher is better).
``WaDIQaMNet`` is that network with pyiqa's module layout; in training mode (``iqabench train``) it scores random
patches instead of the grid, as the paper trains.

Weights: pyiqa's ``WaDIQaM-kadid-f7541ea5.pth`` (FR, trained on KADID-10k) and ``WaDIQaM-NR-koniq-aaffea29.pth``
(NR, trained on KonIQ-10k), tensors under ``params`` (``features.*``, ``fc_q.{0,3}``, ``fc_w.{0,3}``).

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_wadiqam.py); no
official values in the calibration table.
"""

from __future__ import annotations

import torch
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import build_meta, conv_stack, fill, grid_patches, grid_positions, unwrap
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

_FILES = {"FR": WeightFile("WaDIQaM-kadid-f7541ea5.pth"), "NR": WeightFile("WaDIQaM-NR-koniq-aaffea29.pth")}
WEIGHT_FILES = {"wadiqam_fr": (_FILES["FR"],), "wadiqam_nr": (_FILES["NR"],)}

PATCH = 32
TRUNK = (32, 32, "M", 64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M")
CHUNK = 1024  # patches per trunk pass


def _mlp(fan_in: int, final_relu: bool) -> nn.Sequential:
    # The dropout (index 2, as in the published file's module indices) acts in training only.
    layers: list[nn.Module] = [nn.Linear(fan_in, 512), nn.ReLU(), nn.Dropout(), nn.Linear(512, 1)]
    return nn.Sequential(*layers, nn.ReLU()) if final_relu else nn.Sequential(*layers)


class WaDIQaMNet(nn.Module):
    """The WaDIQaM network with pyiqa's state-dict keys (``features``, ``fc_q``, ``fc_w``).

    ``forward`` (the network pyiqa trains) takes RGB images in [0, 1] (and the references for FR) and returns
    (N, 1) scores: in training mode from ``train_patch_num`` random 32×32 patches (the same positions for every
    image of the batch, drawn from torch's generator, as the paper trains), in eval mode from the patch grid.
    """

    def __init__(self, mode: str = "FR", train_patch_num: int = 32) -> None:
        super().__init__()
        if mode not in _FILES:
            raise ValueError(f"wadiqam: mode must be 'FR' or 'NR', got {mode!r}")
        self.mode, self.train_patch_num = mode, train_patch_num
        fan_in = 512 * 3 if mode == "FR" else 512
        self.features = conv_stack(TRUNK)
        self.fc_q = _mlp(fan_in, final_relu=False)
        self.fc_w = _mlp(fan_in, final_relu=True)

    def weighted_average(self, feat: torch.Tensor, n: int) -> torch.Tensor:
        """Σ w·q / Σ w over each image's patches; ``feat``: (N·patches)×fan-in features, image-major."""
        q = self.fc_q(feat).view(n, -1)
        wt = self.fc_w(feat).view(n, -1) + 1e-8
        return (q * wt).sum(dim=1) / wt.sum(dim=1)

    def quality_features(self, dist_feat: torch.Tensor, ref_feat: torch.Tensor | None) -> torch.Tensor:
        """The MLPs' input: the distorted features (NR) or (reference, distorted, difference) (FR)."""
        if self.mode == "NR":
            return dist_feat
        assert ref_feat is not None, "wadiqam_fr needs the reference images"
        return torch.cat([ref_feat, dist_feat, dist_feat - ref_feat], dim=1)

    def _random_patches(self, x: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor) -> torch.Tensor:
        crops = [x[:, :, t : t + PATCH, s : s + PATCH] for t, s in zip(tops.tolist(), lefts.tolist())]
        return torch.stack(crops, dim=1).reshape(-1, x.shape[1], PATCH, PATCH)  # image-major

    def forward(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        n, _, h, w = dist.shape
        if self.training:
            tops = torch.randint(0, h - PATCH + 1, (self.train_patch_num,))
            lefts = torch.randint(0, w - PATCH + 1, (self.train_patch_num,))
            images = [dist] + ([ref] if ref is not None and self.mode == "FR" else [])
            feats = [self.features(self._random_patches(x, tops, lefts)).flatten(1) for x in images]
        else:
            rows = grid_positions(h, PATCH, PATCH, include_last=False)
            cols = grid_positions(w, PATCH, PATCH, include_last=False)
            images = [dist] + ([ref] if ref is not None and self.mode == "FR" else [])
            feats = [self.features(grid_patches(x, PATCH, PATCH, rows, cols)).flatten(1) for x in images]
        feat = self.quality_features(feats[0], feats[1] if len(feats) > 1 else None)
        return self.weighted_average(feat, n).view(n, 1)


class WaDIQaM(DeepMetric):
    min_size = PATCH + 1

    def __init__(self, mode: str = "FR", precision: str = "float32") -> None:
        super().__init__(precision)
        net = build_meta(lambda: WaDIQaMNet(mode))  # checks the mode
        self.net = fill(net, unwrap(self.load_weights(_FILES[mode]), "params"))
        self.mode = mode

    def _trunk(self, patches: torch.Tensor) -> torch.Tensor:
        with self.autocast(patches):
            out = [self.net.features(patches[s : s + CHUNK]).flatten(1) for s in range(0, patches.shape[0], CHUNK)]
        return torch.cat(out).float()

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        n, _, h, w = dist.shape
        rows = grid_positions(h, PATCH, PATCH, include_last=False)
        cols = grid_positions(w, PATCH, PATCH, include_last=False)
        feat = self._trunk(grid_patches(dist, PATCH, PATCH, rows, cols))
        feat_ref = self._trunk(grid_patches(ref, PATCH, PATCH, rows, cols)) if self.mode == "FR" else None
        # The MLP heads run in float32 (outside autocast): in reduced precision they would round the scores.
        return self.net.weighted_average(self.net.quality_features(feat, feat_ref), n)


_PAPER = (
    "Bosse, Maniry, Müller, Wiegand & Samek, Deep Neural Networks for No-Reference and Full-Reference Image Quality "
    "Assessment, IEEE TIP 27(1), 2018"
)
_CAL = "pyiqa 0.1.16 under random weights; no official values"

SPECS = (
    MetricSpec(
        name="wadiqam_fr",
        mode="FR",
        lower_better=False,
        score_range=(-1.0, 0.1),
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=_CAL,
        factory=WaDIQaM,
        options={"mode": "FR", "precision": "float32"},
        version="2",  # 2: score head in float32 under reduced precision
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=900),
    ),
    MetricSpec(
        name="wadiqam_nr",
        mode="NR",
        lower_better=False,
        score_range=(-1.0, 0.1),
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=_CAL,
        factory=WaDIQaM,
        options={"mode": "NR", "precision": "float32"},
        version="2",  # 2: score head in float32 under reduced precision
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=900),
    ),
)
