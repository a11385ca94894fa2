"""Peak signal-to-noise ratio.

PSNR = 10 log10(peak² / MSE), MSE over every pixel (and channel) of the image. ``psnr`` works on RGB exactly as
scikit-image's ``peak_signal_noise_ratio`` does for uint8 images (data range 255, i.e. 1.0 for inputs in
[0, 1]); ``psnry`` works on the luma channel of MATLAB's ``rgb2ycbcr`` (rounded as for uint8 input), the
convention of super-resolution papers. Identical images give +inf, as in scikit-image.

Paper: the classical definition; see e.g. Huynh-Thu & Ghanbari, "Scope of validity of PSNR in image/video
quality assessment", Electronics Letters 44(13), 2008.

Calibration (5 TID2013 pairs, ``official_scores.csv``, scikit-image on RGB): ``psnr`` matches the official
2-decimal values exactly (largest relative error below 2.5e-4, the rounding of the table). ``psnry`` has no
official values; it is checked against its definition computed independently in the tests.
"""

from __future__ import annotations

import torch

from metrics.base import IQAMetric
from metrics.functional.color import rgb2y
from metrics.registry import MetricSpec, Resources
from metrics.spec import above


class PSNR(IQAMetric):
    def __init__(self, channel: str = "rgb", data_range: float = 1.0) -> None:
        super().__init__()
        if channel not in ("rgb", "y"):
            raise ValueError(f"psnr: channel must be 'rgb' or 'y', got {channel!r}")
        if data_range <= 0:
            raise ValueError(f"psnr: data_range must be > 0, got {data_range}")
        self.channel = channel
        self.data_range = float(data_range)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        if self.channel == "y":
            dist, ref = rgb2y(dist, round_uint8=True), rgb2y(ref, round_uint8=True)
        # Differences and squares in float32 (in place, whatever the memory layout), accumulated in float64.
        squared = (dist - ref).square_()
        mse = squared.sum(dim=(1, 2, 3), dtype=torch.float64) / squared[0].numel()
        return (10.0 * torch.log10(self.data_range**2 / mse)).float()


_PAPER = "Huynh-Thu & Ghanbari, Scope of validity of PSNR in image/video quality assessment, Electron. Lett. 2008"
_LIGHT = Resources(num_cpus=0.5, num_gpus=0.05, memory_mb=200)

SPECS = (
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="psnr",
        mode="FR",
        lower_better=False,
        score_range=(0.0, float("inf")),
        paper=_PAPER,
        calibration="calibrated (scikit-image RGB, exact to 2 decimals)",
        ideal_score=float("inf"),
        factory=PSNR,
        option_choices={"channel": ("rgb", "y")},
        option_ranges={"data_range": above(0)},
        options={"channel": "rgb"},
        resources=_LIGHT,
        calibration_key="psnr",
    ),
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="psnry",
        mode="FR",
        lower_better=False,
        score_range=(0.0, float("inf")),
        paper=_PAPER,
        calibration="checked against its definition (no official values)",
        ideal_score=float("inf"),
        factory=PSNR,
        option_choices={"channel": ("rgb", "y")},
        option_ranges={"data_range": above(0)},
        options={"channel": "y"},
        resources=_LIGHT,
    ),
)
