"""WaDIQaM: weighted average deep image quality measure, full-reference (WaDIQaM-FR) and no-reference (-NR).

Bosse, Maniry, Müller, Wiegand & Samek, "Deep Neural Networks for No-Reference and Full-Reference Image Quality
Assessment", IEEE TIP 27(1), 2018.

The image (RGB in [0, 1], no normalisation) is cut into non-overlapping 32×32 patches starting at 0, 32, …
strictly before ``size − 32`` (so, as in pyiqa, the last patch row/column that would end exactly at the border is
not used). A VGG-like trunk of ten 3×3 convolutions (32, 32, 64, 64, 128, 128, 256, 256, 512, 512 channels,
ReLUs, a 2×2 max-pool after every second one) maps a patch to a 512-vector. NR uses it directly; FR concatenates
(reference, distorted, distorted − reference) features (1536 values). Two MLPs (→512→1, ReLU) give the patch
quality q and, with a final ReLU plus 1e-8, the patch weight w; the score is Σ w·q / Σ w (higher is better).

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
    # Identity in place of the published (inference-inactive) dropout keeps the module indices of the file.
    layers: list[nn.Module] = [nn.Linear(fan_in, 512), nn.ReLU(), nn.Identity(), nn.Linear(512, 1)]
    return nn.Sequential(*layers, nn.ReLU()) if final_relu else nn.Sequential(*layers)


class WaDIQaM(DeepMetric):
    min_size = PATCH + 1

    def __init__(self, mode: str = "FR", precision: str = "float32") -> None:
        super().__init__(precision)
        if mode not in _FILES:
            raise ValueError(f"wadiqam: mode must be 'FR' or 'NR', got {mode!r}")
        self.mode = mode
        loaded = unwrap(self.load_weights(_FILES[mode]), "params")
        fan_in = 512 * 3 if mode == "FR" else 512
        self.features = fill(build_meta(lambda: conv_stack(TRUNK)), loaded, prefix="features.")
        self.fc_q = fill(build_meta(lambda: _mlp(fan_in, final_relu=False)), loaded, prefix="fc_q.")
        self.fc_w = fill(build_meta(lambda: _mlp(fan_in, final_relu=True)), loaded, prefix="fc_w.")

    def _trunk(self, patches: torch.Tensor) -> torch.Tensor:
        with self.autocast(patches):
            out = [self.features(patches[s : s + CHUNK]).flatten(1) for s in range(0, patches.shape[0], CHUNK)]
        return torch.cat(out).float()

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        n, _, h, w = dist.shape
        rows = grid_positions(h, PATCH, PATCH, include_last=False)
        cols = grid_positions(w, PATCH, PATCH, include_last=False)
        feat = self._trunk(grid_patches(dist, PATCH, PATCH, rows, cols))
        if self.mode == "FR":
            assert ref is not None
            feat_ref = self._trunk(grid_patches(ref, PATCH, PATCH, rows, cols))
            feat = torch.cat([feat_ref, feat, feat - feat_ref], dim=1)
        # The MLP heads run in float32 (outside autocast): in reduced precision they would round the scores.
        q = self.fc_q(feat).view(n, rows * cols)
        wt = self.fc_w(feat).view(n, rows * cols) + 1e-8
        return (q * wt).sum(dim=1) / wt.sum(dim=1)


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
