"""PieAPP: perceptual image-error assessment through pairwise preference (v0.1).

Prashnani, Cai, Mostofi & Sen, "PieAPP: Perceptual Image-Error Assessment through Pairwise Preference",
CVPR 2018.

Both images (as BGR in [0, 255], the authors' convention) are cut into 64×64 patches on a 27-px grid (no padding).
A shared 11-layer 3×3-convolution network (ReLUs; 2×2 max-pools after conv 2, 4, 6, 8, 10) gives per patch the
concatenation of the flattened (C, H, W) outputs of conv 3, 5, 7, 9, 11 (120 832 values) and the coarse conv-11
output (2 048 values). The reference-minus-distorted difference of the multi-scale features is mapped by a
120 832→512→1 MLP to a patch error (scaled by 0.01, then an affine ``ref_score_subtract``), that of the coarse
features by a 2048→512→1 MLP (+1e-6) to a patch weight; PieAPP is the weighted mean of the patch errors (lower is
better). As in pyiqa, the patches are taken once on the whole image rather than over the authors' sub-images.

Weights: pyiqa's ``PieAPPv0.1-0937b014.pth`` (keys ``conv1``…``conv11``, ``fc1_score``, ``fc2_score``,
``fc1_weight``, ``fc2_weight``, ``ref_score_subtract``).

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_pieapp.py); no
official values in the calibration table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import build_meta, fill, grid_patches, grid_positions
from metrics.deep.weights import WeightFile, tensor
from metrics.registry import Calibration, MetricSpec, Resources

_FILE = WeightFile("PieAPPv0.1-0937b014.pth")
WEIGHT_FILES = {"pieapp": (_FILE,)}

PATCH, STRIDE = 64, 27
CHANNELS = (64, 64, 64, 128, 128, 128, 256, 256, 256, 512, 512)
_POOL_AFTER = (2, 4, 6, 8, 10)  # 1-based conv indices followed by a 2×2 max-pool
_TAPS = (3, 5, 7, 9, 11)
CHUNK = 64  # patches per forward pass (bounds memory: ~1 MB of activations per patch)


class PieAPPNet(nn.Module):
    """The convolution trunk and the two MLP heads, named as in the published file."""

    def __init__(self) -> None:
        super().__init__()
        cin = 3
        for k, cout in enumerate(CHANNELS, start=1):
            setattr(self, f"conv{k}", nn.Conv2d(cin, cout, 3, padding=1))
            cin = cout
        self.fc1_score = nn.Linear(120832, 512)
        self.fc2_score = nn.Linear(512, 1)
        self.fc1_weight = nn.Linear(2048, 512)
        self.fc2_weight = nn.Linear(512, 1)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(multi-scale features, coarse features), each flattened in (C, H, W) order."""
        taps = []
        for k in range(1, len(CHANNELS) + 1):
            x = F.relu(getattr(self, f"conv{k}")(x))
            if k in _TAPS:
                taps.append(x.flatten(1))
            if k in _POOL_AFTER:
                x = F.max_pool2d(x, 2, 2)
        return torch.cat(taps, dim=1), taps[-1]


class PieAPP(DeepMetric):
    min_size = PATCH

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        loaded = self.load_weights(_FILE)
        self.net = fill(build_meta(PieAPPNet), loaded, ignore=("ref_score_subtract.",))
        self.register_buffer("affine_w", tensor(loaded, "ref_score_subtract.weight", (1,)).float().clone())
        self.register_buffer("affine_b", tensor(loaded, "ref_score_subtract.bias", (1,)).float().clone())

    def _patch_terms(self, dist: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per patch (error, weight) for matching patch batches."""
        with self.autocast(dist):
            ms_d, coarse_d = self.net.features(dist)
            ms_r, coarse_r = self.net.features(ref)
        # Feature differences and the MLP heads in float32: in reduced precision they would round the scores.
        ms, coarse = ms_r.float() - ms_d.float(), coarse_r.float() - coarse_d.float()
        error = self.net.fc2_score(F.relu(self.net.fc1_score(ms)))
        weight = self.net.fc2_weight(F.relu(self.net.fc1_weight(coarse)))
        error = (0.01 * error) * self.affine_w + self.affine_b
        return error.flatten(), weight.flatten() + 1e-6

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        n, _, h, w = dist.shape
        rows, cols = grid_positions(h, PATCH, STRIDE), grid_positions(w, PATCH, STRIDE)
        bgr = [2, 1, 0]
        dist_p = grid_patches(dist[:, bgr] * 255.0, PATCH, STRIDE, rows, cols)
        ref_p = grid_patches(ref[:, bgr] * 255.0, PATCH, STRIDE, rows, cols)
        errors, weights = [], []
        for start in range(0, dist_p.shape[0], CHUNK):
            e, wt = self._patch_terms(dist_p[start : start + CHUNK], ref_p[start : start + CHUNK])
            errors.append(e)
            weights.append(wt)
        error = torch.cat(errors).view(n, rows * cols)
        weight = torch.cat(weights).view(n, rows * cols)
        return (weight * error).sum(dim=1) / weight.sum(dim=1)


SPECS = (
    MetricSpec(
        name="pieapp",
        mode="FR",
        lower_better=True,
        score_range=(0.0, 5.0),
        paper=(
            "Prashnani, Cai, Mostofi & Sen, PieAPP: Perceptual Image-Error Assessment through Pairwise Preference, "
            "CVPR 2018"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 under random weights; no official values",
        factory=PieAPP,
        options={"precision": "float32"},
        version="2",  # 2: score head in float32 under reduced precision
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=2500),
    ),
)
