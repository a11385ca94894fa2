"""Complex wavelet structural similarity (CW-SSIM).

Sampat, Wang, Gupta, Bovik & Markey, "Complex wavelet structural similarity: a new image similarity index",
IEEE Trans. Image Processing 18(11), 2009.

As in the authors' ``cwssim_index.m`` (with ``level = 4``, ``or = 8``, ``guardb = 0``, ``K = 0``): both grey
images are decomposed by a complex steerable pyramid (``buildSCFpyr``, 4 levels, 8 orientations; here
:mod:`metrics.functional.steerable_pyramid`), and only the bands of the coarsest level are compared: for every
orientation, over 7×7 box windows ('valid'), (2·|Σ c_r·conj(c_d)| + K) / (Σ |c_r|² + Σ |c_d|² + K), pooled with a
Gaussian weight the size of the map and sigma = band height / 4 (``fspecial('gaussian', ...)``); the score is the
mean over orientations. With K = 0 a window where both bands vanish exactly is 0/0; it is counted as 1 (equal).

Calibration (5 TID2013 pairs, ``official_scores.csv``, 4 published decimals): on MATLAB ``rgb2gray`` luma rounded
to uint8 the largest relative error is 6.3e-5, i.e. equal to the rounding of the table (I03 0.276318 vs 0.2763,
I04 0.999561 vs 0.9996, I06 0.999956 vs 1.0, I08 0.906776 vs 0.9068, I19 0.865765 vs 0.8658); the BT.601
``rgb2ycbcr`` luma (``channel='y'``) is up to 9.2e-4 off. Computed in float32 (the pooling in float64): the
scores equal the float64 ones to float32 resolution on the calibration and 1080×800 pairs. Only the central
quarter of the spectrum reaches the coarsest level, and only that part is computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.base import IQAMetric
from metrics.functional.color import check_channel, luma
from metrics.functional.steerable_pyramid import build_scf_pyramid
from metrics.registry import Calibration, MetricSpec, Resources
from metrics.spec import at_least

WINDOW = 7


def fspecial_gaussian(rows: int, cols: int, sigma: float, dtype: torch.dtype, device) -> torch.Tensor:
    """MATLAB ``fspecial('gaussian', [rows cols], sigma)``: tiny tails (< eps·max) zeroed, sum one."""
    y = torch.arange(rows, dtype=dtype, device=device) - (rows - 1) / 2.0
    x = torch.arange(cols, dtype=dtype, device=device) - (cols - 1) / 2.0
    g = torch.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma * sigma))
    g = torch.where(g < torch.finfo(dtype).eps * g.max(), torch.zeros_like(g), g)
    return g / g.sum()


class CWSSIM(IQAMetric):
    def __init__(self, channel: str = "gray", levels: int = 4, orientations: int = 8, k: float = 0.0) -> None:
        super().__init__()
        check_channel("cw_ssim", channel)
        if levels < 1 or not 1 <= orientations <= 16 or k < 0:
            raise ValueError(f"cw_ssim: bad levels={levels}, orientations={orientations} or k={k}")
        self.channel, self.levels, self.orientations, self.k = channel, levels, orientations, float(k)
        # buildSCFpyr allows floor(log2(min side)) - 2 levels.
        self.min_size = 2 ** (levels + 2)

    #: Precision of the pyramid and the maps (float32 keeps the calibration to the table's 4 decimals, see the
    #: module docstring; float64 is kept selectable for checks). The Gaussian pooling is done in float64.
    compute_dtype: torch.dtype = torch.float32

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        n = ref.shape[0]
        both = torch.cat([luma(ref, self.channel, levels=True), luma(dist, self.channel, levels=True)])
        both = both.to(self.compute_dtype)
        pyr = build_scf_pyramid(both, self.levels, self.orientations - 1, keep_levels={self.levels - 1},
                                highpass=False)
        bands = pyr.bands[-1][:, 0]  # 2N×B×h×w, the coarsest level only
        re, im = bands.real, bands.imag
        re_ref, re_dist, im_ref, im_dist = re[:n], re[n:], im[:n], im[n:]
        box = lambda t: F.avg_pool2d(t, WINDOW, stride=1)  # noqa: E731  filter2(ones(7)/49, ., 'valid')
        # c_r·conj(c_d) and |c|² from the real and imaginary parts, so that identical bands give exactly 1.
        corr_mag = torch.hypot(box(re_ref * re_dist + im_ref * im_dist), box(im_ref * re_dist - re_ref * im_dist))
        power = box(re_ref.square() + im_ref.square() + re_dist.square() + im_dist.square())
        num, den = 2 * corr_mag + self.k, power + self.k
        cssim = torch.where(den == 0, torch.ones_like(den), num / den.where(den != 0, torch.ones_like(den)))
        h, w = bands.shape[-2:]
        weight = fspecial_gaussian(h - WINDOW + 1, w - WINDOW + 1, h / 4.0, torch.float64, cssim.device)
        return (cssim.double() * weight).sum(dim=(-2, -1)).mean(dim=1).float()


SPECS = (
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="cw_ssim",
        mode="FR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=(
            "Sampat, Wang, Gupta, Bovik & Markey, Complex wavelet structural similarity: a new image similarity "
            "index, IEEE TIP 18(11), 2009"
        ),
        calibration=Calibration.CALIBRATED,
        calibration_detail="cwssim_index.m, 4 levels × 8 orientations, rgb2gray luma; max rel. error 6.3e-5",
        ideal_score=1.0,
        factory=CWSSIM,
        option_choices={"channel": ("gray", "y")},
        option_ranges={"levels": at_least(1), "orientations": at_least(1, 16), "k": at_least(0)},
        options={"channel": "gray", "levels": 4, "orientations": 8, "k": 0.0},
        resources=Resources(num_cpus=0.5, num_gpus=0.05, memory_mb=400),
        calibration_key="cw_ssim",
    ),
)
