"""Peak signal-to-noise ratio.

PSNR = 10 log10(peak² / MSE), MSE over every pixel (and channel) of the image. ``psnr`` works on RGB exactly as
scikit-image's ``peak_signal_noise_ratio`` does for uint8 images (data range 255, i.e. 1.0 for inputs in
[0, 1]); ``psnry`` works on the luma of NTSC YIQ (0.299 R + 0.587 G + 0.114 B, unrounded), which is what pyiqa's
``psnry`` (``PSNR(test_y_channel=True)``) computes. ``channel="y"`` gives the super-resolution papers' convention
instead: the luma of MATLAB's ``rgb2ycbcr``, rounded as for uint8 input. Identical images give +inf, as in
scikit-image.

Paper: the classical definition; see e.g. Huynh-Thu & Ghanbari, "Scope of validity of PSNR in image/video
quality assessment", Electronics Letters 44(13), 2008.

Calibration (5 TID2013 pairs, ``official_scores.csv``, scikit-image on RGB): ``psnr`` matches the official
2-decimal values exactly (largest relative error below 2.5e-4, the rounding of the table). ``psnry`` has no
official values; it is checked against its definition computed independently and against pyiqa 0.1.16's
``psnry`` in the tests.
"""

from __future__ import annotations

import torch

from metrics.base import IQAMetric
from metrics.functional.color import check_channel, luma, rgb2yiq
from metrics.registry import Calibration, MetricSpec, Resources
from metrics.spec import above


#: ``rgb`` every channel; ``yiq`` NTSC luma, unrounded (pyiqa's ``test_y_channel``); ``y`` MATLAB ``rgb2ycbcr``
#: luma rounded to 8-bit levels.
CHANNELS = ("rgb", "yiq", "y")


class PSNR(IQAMetric):
    def __init__(self, channel: str = "rgb", data_range: float = 1.0) -> None:
        super().__init__()
        check_channel("psnr", channel, CHANNELS)
        if data_range <= 0:
            raise ValueError(f"psnr: data_range must be > 0, got {data_range}")
        self.channel = channel
        self.data_range = float(data_range)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        if self.channel == "yiq":
            dist, ref = rgb2yiq(dist)[:, :1], rgb2yiq(ref)[:, :1]
        elif self.channel == "y":
            dist, ref = luma(dist, "y"), luma(ref, "y")
        return (10.0 * torch.log10(self.data_range**2 / mean_squared_error(dist, ref))).float()


#: Elements per chunk of :func:`mean_squared_error` (1 MiB of float32: the difference stays in cache).
CHUNK = 1 << 18


def _flat_views(dist: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-image 1-D views of ``dist`` and ``ref`` that pair the same elements (both contiguous, or both
    channels-last), or None."""
    for memory_format, order in ((torch.contiguous_format, (0, 1, 2, 3)), (torch.channels_last, (0, 2, 3, 1))):
        if dist.is_contiguous(memory_format=memory_format) and ref.is_contiguous(memory_format=memory_format):
            return dist.permute(order).reshape(dist.shape[0], -1), ref.permute(order).reshape(ref.shape[0], -1)
    return None


def mean_squared_error(dist: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-image mean of (dist - ref)² over every element, float64 (N).

    The squared differences are formed and summed (float32 cascade sums) one cache-sized chunk at a time in a
    reused buffer, the chunk sums added in float64: no image-size temporary (whose allocation and page faults
    cost more than the arithmetic). Relative error ~1e-7 at worst, as the float32 image-wide sum.
    """
    flat = _flat_views(dist, ref) if dist.device.type == "cpu" and dist.dtype == ref.dtype else None
    if flat is None:
        squared = (dist - ref).square_()
        return squared.sum(dim=(1, 2, 3), dtype=torch.float64) / squared[0].numel()
    d, r = flat
    count = d.shape[1]
    buffer = torch.empty(min(CHUNK, count), dtype=d.dtype)
    totals = []
    for i in range(d.shape[0]):
        total = 0.0
        for start in range(0, count, CHUNK):
            stop = min(start + CHUNK, count)
            diff = torch.sub(d[i, start:stop], r[i, start:stop], out=buffer[: stop - start])
            total += float(diff.square_().sum())
        totals.append(total / count)
    return torch.tensor(totals, dtype=torch.float64)


_PAPER = "Huynh-Thu & Ghanbari, Scope of validity of PSNR in image/video quality assessment, Electron. Lett. 2008"
_LIGHT = Resources(num_cpus=0.5, num_gpus=0.05, memory_mb=200)

SPECS = (
    MetricSpec(
        version="3",  # chunked float32 sums (issue 17): <= 1e-7 relative, none seen on the calibration pairs
        name="psnr",
        mode="FR",
        lower_better=False,
        score_range=(0.0, float("inf")),
        paper=_PAPER,
        calibration=Calibration.CALIBRATED,
        calibration_detail="scikit-image RGB, exact to 2 decimals",
        ideal_score=float("inf"),
        factory=PSNR,
        option_choices={"channel": CHANNELS},
        option_ranges={"data_range": above(0)},
        options={"channel": "rgb"},
        resources=_LIGHT,
        calibration_key="psnr",
    ),
    MetricSpec(
        version="4",  # the NTSC (YIQ) luma, unrounded, as pyiqa's psnry (was MATLAB's rgb2ycbcr luma, rounded)
        name="psnry",
        mode="FR",
        lower_better=False,
        score_range=(0.0, float("inf")),
        paper=_PAPER,
        calibration=Calibration.UNVERIFIED,
        calibration_detail="checked against its definition and pyiqa 0.1.16's psnry; no official values",
        ideal_score=float("inf"),
        factory=PSNR,
        option_choices={"channel": CHANNELS},
        option_ranges={"data_range": above(0)},
        options={"channel": "yiq"},
        resources=_LIGHT,
    ),
)
