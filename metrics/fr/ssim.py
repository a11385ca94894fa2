"""Structural similarity (SSIM).

Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to structural similarity",
IEEE Trans. Image Processing 13(4), 2004.

As in the authors' ``ssim_index.m``: an 11×11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, dynamic range
L = 255, local statistics over the 'valid' part of the image (no padding) and the mean of the SSIM map. No
automatic down-sampling. ``ssim`` works on the luma of MATLAB's ``rgb2gray`` (NTSC weights, rounded to uint8 as
MATLAB does for uint8 input): that is the input the official values were computed on, and it matches them to
all four published decimals, whereas the BT.601 ``rgb2ycbcr`` luma (option ``channel='y'``) is up to 5% off
them (0.7339 vs 0.6993 on I03). ``ssimc`` averages SSIM over the R, G and B channels.

Calibration (5 TID2013 pairs, ``official_scores.csv``): ``ssim`` is within 1e-4 absolute of the official
4-decimal values (see ``docs/calibration.md``); ``ssimc`` has no official values and is checked against its
definition in the tests. The local moments are computed in float32 (E[x²] - E[x]² loses a few digits there on
flat regions): against float64 the scores move by at most 7e-6 relative (largest error vs the table 5.2e-5 in
both).
"""

from __future__ import annotations

import torch

from metrics.base import IQAMetric
from metrics.functional.color import CHANNELS, check_channel, luma
from metrics.functional.filters import filter2, gaussian_kernel_1d, separable_filter2
from metrics.registry import Calibration, MetricSpec, Resources
from metrics.spec import above, at_least

K1, K2 = 0.01, 0.03


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, data_range: float = 1.0):
    """SSIM map and contrast-structure map of two N×C×H×W images ('valid' filtering).

    ``window`` is either a 2-D window or the 1-D factor of a separable one (``outer(w, w)``), which is faster.
    """
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    n = x.shape[0]
    stacked = torch.cat([x, y, x * x, y * y, x * y])  # one filtering call for all five local moments
    moments = separable_filter2(stacked, window) if window.dim() == 1 else filter2(stacked, window)
    mu_x, mu_y, e_xx, e_yy, e_xy = moments.split(n)
    mu_x2, mu_y2, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    sigma_x2 = e_xx - mu_x2
    sigma_y2 = e_yy - mu_y2
    sigma_xy = e_xy - mu_xy
    cs = (2 * sigma_xy + c2) / (sigma_x2 + sigma_y2 + c2)
    luminance = (2 * mu_xy + c1) / (mu_x2 + mu_y2 + c1)
    return luminance * cs, cs




class SSIM(IQAMetric):
    min_size = 11

    def __init__(self, channel: str = "gray", window_size: int = 11, sigma: float = 1.5) -> None:
        super().__init__()
        self.channel = check_channel("ssim", channel, CHANNELS)
        self.min_size = window_size
        self.register_buffer("kernel", gaussian_kernel_1d(window_size, sigma, dtype=torch.float64), persistent=False)

    #: Precision of the local moments (see the module docstring for what float32 costs).
    compute_dtype: torch.dtype = torch.float32

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        dist, ref = luma(dist, self.channel), luma(ref, self.channel)
        smap, _ = ssim_map(dist.to(self.compute_dtype), ref.to(self.compute_dtype), self.kernel)
        return smap.flatten(1).mean(dim=1, dtype=torch.float64).float()


_PAPER = (
    "Wang, Bovik, Sheikh & Simoncelli, Image quality assessment: from error visibility to structural "
    "similarity, IEEE TIP 13(4), 2004"
)

SPECS = (
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="ssim",
        mode="FR",
        lower_better=False,
        score_range=(-1.0, 1.0),
        paper=_PAPER,
        calibration=Calibration.CALIBRATED,
        calibration_detail="authors' ssim_index.m on rgb2gray luma; max rel. error < 1e-4",
        ideal_score=1.0,
        factory=SSIM,
        option_choices={"channel": ("gray", "y", "rgb")},
        option_ranges={"window_size": at_least(1), "sigma": above(0)},
        options={"channel": "gray"},
        resources=Resources(num_cpus=0.5, num_gpus=0.05, memory_mb=300),
        calibration_key="ssim",
    ),
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="ssimc",
        mode="FR",
        lower_better=False,
        score_range=(-1.0, 1.0),
        paper=_PAPER,
        calibration=Calibration.UNVERIFIED,
        calibration_detail="checked against its definition; no official values",
        ideal_score=1.0,
        factory=SSIM,
        option_choices={"channel": ("gray", "y", "rgb")},
        option_ranges={"window_size": at_least(1), "sigma": above(0)},
        options={"channel": "rgb"},
        resources=Resources(num_cpus=0.5, num_gpus=0.05, memory_mb=300),
    ),
)
