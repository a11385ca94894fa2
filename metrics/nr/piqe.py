"""Perception-based Image Quality Evaluator (PIQE).

Venkatanath N, Praneeth D, Maruthi Chandrasekhar Bh, Channappayya & Medasani, "Blind image quality evaluation
using perception based features", Twenty First National Conference on Communications (NCC), 2015.

On the grey levels of MATLAB ``rgb2gray`` (uint8), padded ('replicate', after the image) to whole 16×16 blocks:
MSCN coefficients (7×7 Gaussian, sigma 7/6, C = 1; 'symmetric' borders, which match the official values
best: 0.17 points at most, against 0.27 for 'replicate' and 4.7 for zeros); a block is spatially active when
the (unbiased) variance v of its MSCN coefficients exceeds 0.1. An active block shows a noticeable artifact
when one of the 11 six-pixel segments of any of its four edges has a standard deviation below 0.1, and noise
when sqrt(v) > 2·beta, beta = |sqrt(v) - r| / max(sqrt(v), r) with r the ratio of the standard deviations
of the two centre columns and of the other 14 columns. Its distortion is (1 - v) for an artifact plus v
for noise; PIQE = 100 · (sum of distortions + 1) / (active blocks + 1). Lower is better, range [0, 100].

Calibration (5 TID2013 images, ``official_scores.csv`` row ``piqe``): largest relative error 7.7e-3 (I03 0, I04 7.7e-3, I06
2.8e-3, I08 3.4e-4, I19 7.3e-4), within the default tolerance (rtol 0.01).
"""

from __future__ import annotations

import torch

from metrics.base import IQAMetric
from metrics.functional.color import rgb2gray_uint8
from metrics.functional.nss import mscn
from metrics.registry import MetricSpec, Resources

BLOCK = 16
SEGMENT = 6
ACTIVITY_THRESHOLD = 0.1
SEGMENT_THRESHOLD = 0.1
C = 1.0


def _std(x: torch.Tensor, dim: int | tuple[int, ...]) -> torch.Tensor:
    return torch.std(x, dim=dim, unbiased=True)


class PIQE(IQAMetric):
    min_size = 1

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        gray = rgb2gray_uint8(dist)
        h, w = gray.shape[-2:]
        pad_h, pad_w = -h % BLOCK, -w % BLOCK
        if pad_h or pad_w:
            gray = torch.nn.functional.pad(gray, (0, pad_w, 0, pad_h), mode="replicate")
        coeff, _ = mscn(gray, "symmetric", exact_flat=False)
        n, _, hp, wp = coeff.shape
        blocks = coeff[:, 0].reshape(n, hp // BLOCK, BLOCK, wp // BLOCK, BLOCK).permute(0, 1, 3, 2, 4)
        blocks = blocks.reshape(n, -1, BLOCK, BLOCK)  # N×B×16×16
        var = torch.var(blocks.flatten(2), dim=2, unbiased=True)
        active = var > ACTIVITY_THRESHOLD

        edges = torch.stack([blocks[..., 0, :], blocks[..., :, -1], blocks[..., -1, :], blocks[..., :, 0]], dim=2)
        segments = edges.unfold(-1, SEGMENT, 1)  # N×B×4×11×6
        artifact = (_std(segments, -1) < SEGMENT_THRESHOLD).flatten(2).any(dim=2)

        sigma = torch.sqrt(var)
        centre = blocks[..., :, BLOCK // 2 - 1 : BLOCK // 2 + 1]
        surround = torch.cat([blocks[..., :, : BLOCK // 2 - 1], blocks[..., :, BLOCK // 2 + 1 :]], dim=-1)
        ratio = _std(centre.flatten(-2), -1) / _std(surround.flatten(-2), -1)
        beta = torch.abs(sigma - ratio) / torch.maximum(sigma, ratio)
        noise = sigma > 2 * beta

        distortion = artifact * (1 - var) + noise * var
        total = torch.where(active, distortion, 0).sum(dim=1)
        return (100 * (total + C) / (active.sum(dim=1) + C)).float()


SPECS = (
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="piqe",
        mode="NR",
        lower_better=True,
        score_range=(0.0, 100.0),
        paper=(
            "Venkatanath N, Praneeth D, Maruthi Chandrasekhar Bh, Channappayya & Medasani, Blind image quality "
            "evaluation using perception based features, NCC 2015"
        ),
        calibration="calibrated (max rel. error 7.7e-3, I04)",
        factory=PIQE,
        resources=Resources(num_cpus=0.5, num_gpus=0.02, memory_mb=300),
        calibration_key="piqe",
    ),
)
