"""Perception-based Image Quality Evaluator (PIQE).

Venkatanath N, Praneeth D, Maruthi Chandrasekhar Bh, Channappayya & Medasani, "Blind image quality evaluation
using perception based features", Twenty First National Conference on Communications (NCC), 2015.

As the official ``piqe`` of MATLAB's Image Processing Toolbox (the source of the calibration row) computes it:

- the image is padded ('replicate', after the image) to whole 16×16 blocks, converted with ``rgb2gray`` and
  brought to the grey levels ``round(255·im2double(·))`` (the uint8 levels 0..255);
- MSCN coefficients ``(I - mu) / (sigma + 1)`` with ``imgaussfilt(I, 7/6, 'FilterSize', 7, 'Padding',
  'replicate')``: a normalised 7×7 Gaussian with **replicate** borders (of the padded image);
- a block is spatially active when the unbiased variance v of its 256 coefficients exceeds 0.1;
- an active block shows a noticeable artifact when one of the 11 six-pixel segments of any of its four edges has
  an (unbiased) standard deviation below 0.1;
- it shows noise when sqrt(v) > 2·beta, beta = |sqrt(v) - r| / max(sqrt(v), r), r = std(centre) / std(surround)
  (NaN → 0). The centre is the block's columns 8 and 9 (1-based); the official ``centerSurDev`` builds the
  surround by deleting column 8 and then column 9 *of the already shrunk block*, so the surround is the 14
  columns other than 8 and **10** (column 9 counts in both); we reproduce that;
- distortion of an active block: (1 - v) for an artifact plus v for noise;
  PIQE = 100 · (sum of distortions + 1) / (active blocks + 1). Lower is better, range [0, 100].

Calibration (5 TID2013 images, ``official_scores.csv`` row ``piqe``, printed to 2 decimals): every image
within the row's printed precision (100.00, 21.62, 35.86, 41.15, 76.95; largest relative error 2.0e-4, I04), tolerance rtol 0.01
(``tests/metrics/test_piqe.py`` asserts 2.5e-3). The replicate borders and the shifted surround are pinned on
odd-size images against a straightforward per-block loop written from this definition in the test module.
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
#: 0-based columns of the centre (MATLAB's 8 and 9) and those left out of the surround (MATLAB's 8 and 10).
CENTRE_COLUMNS = (BLOCK // 2 - 1, BLOCK // 2)
SURROUND_EXCLUDED = (BLOCK // 2 - 1, BLOCK // 2 + 1)


def _std(x: torch.Tensor, dim: int | tuple[int, ...]) -> torch.Tensor:
    return torch.std(x, dim=dim, unbiased=True)


def surround_columns() -> list[int]:
    return [c for c in range(BLOCK) if c not in SURROUND_EXCLUDED]


class PIQE(IQAMetric):
    min_size = 1

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        gray = rgb2gray_uint8(dist)
        h, w = gray.shape[-2:]
        pad_h, pad_w = -h % BLOCK, -w % BLOCK
        if pad_h or pad_w:
            gray = torch.nn.functional.pad(gray, (0, pad_w, 0, pad_h), mode="replicate")
        coeff, _ = mscn(gray, "replicate", exact_flat=False)
        n, _, hp, wp = coeff.shape
        blocks = coeff[:, 0].reshape(n, hp // BLOCK, BLOCK, wp // BLOCK, BLOCK).permute(0, 1, 3, 2, 4)
        blocks = blocks.reshape(n, -1, BLOCK, BLOCK)  # N×B×16×16
        var = torch.var(blocks.flatten(2), dim=2, unbiased=True)
        active = var > ACTIVITY_THRESHOLD

        edges = torch.stack([blocks[..., 0, :], blocks[..., :, -1], blocks[..., -1, :], blocks[..., :, 0]], dim=2)
        segments = edges.unfold(-1, SEGMENT, 1)  # N×B×4×11×6
        artifact = (_std(segments, -1) < SEGMENT_THRESHOLD).flatten(2).any(dim=2)

        sigma = torch.sqrt(var)
        centre = blocks[..., :, list(CENTRE_COLUMNS)]
        surround = blocks[..., :, surround_columns()]
        ratio = _std(centre.flatten(-2), -1) / _std(surround.flatten(-2), -1)
        ratio = torch.nan_to_num(ratio, nan=0.0, posinf=torch.inf)
        beta = torch.abs(sigma - ratio) / torch.maximum(sigma, ratio)
        noise = sigma > 2 * beta

        distortion = artifact * (1 - var) + noise * var
        total = torch.where(active, distortion, 0).sum(dim=1)
        return (100 * (total + C) / (active.sum(dim=1) + C)).float()


SPECS = (
    MetricSpec(
        version="3",  # replicate MSCN borders and the official centre-surround columns (issue 17)
        name="piqe",
        mode="NR",
        lower_better=True,
        score_range=(0.0, 100.0),
        paper=(
            "Venkatanath N, Praneeth D, Maruthi Chandrasekhar Bh, Channappayya & Medasani, Blind image quality "
            "evaluation using perception based features, NCC 2015"
        ),
        calibration="calibrated (max rel. error 2.0e-4, I04; all five at the official row's printed precision)",
        factory=PIQE,
        resources=Resources(num_cpus=0.5, num_gpus=0.02, memory_mb=300),
        calibration_key="piqe",
    ),
)
