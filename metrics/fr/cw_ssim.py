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
``rgb2ycbcr`` luma (``channel='y'``) is up to 9.2e-4 off.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.base import IQAMetric
from metrics.functional.color import rgb2gray, rgb2y
from metrics.functional.steerable_pyramid import build_scf_pyramid
from metrics.registry import MetricSpec, Resources

WINDOW = 7

_CHANNELS = {
    "gray": lambda x: rgb2gray(x, round_uint8=True),
    "y": lambda x: rgb2y(x, round_uint8=True),
}


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
        if channel not in _CHANNELS:
            raise ValueError(f"cw_ssim: channel must be one of {sorted(_CHANNELS)}, got {channel!r}")
        if levels < 1 or not 1 <= orientations <= 16 or k < 0:
            raise ValueError(f"cw_ssim: bad levels={levels}, orientations={orientations} or k={k}")
        self.channel, self.levels, self.orientations, self.k = channel, levels, orientations, float(k)
        # buildSCFpyr allows floor(log2(min side)) - 2 levels.
        self.min_size = 2 ** (levels + 2)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        convert = _CHANNELS[self.channel]
        n = ref.shape[0]
        both = torch.cat([convert(ref), convert(dist)]).double() * 255.0
        pyr = build_scf_pyramid(both, self.levels, self.orientations - 1, keep_levels={self.levels - 1})
        bands = pyr.bands[-1][:, 0]  # 2N×B×h×w, the coarsest level only
        b_ref, b_dist = bands[:n], bands[n:]
        corr = b_ref * b_dist.conj()
        power = b_ref.abs().square() + b_dist.abs().square()
        box = lambda t: F.avg_pool2d(t, WINDOW, stride=1)  # noqa: E731  filter2(ones(7)/49, ., 'valid')
        corr_mag = torch.complex(box(corr.real), box(corr.imag)).abs()
        power = box(power)
        num, den = 2 * corr_mag + self.k, power + self.k
        cssim = torch.where(den == 0, torch.ones_like(den), num / den.where(den != 0, torch.ones_like(den)))
        h, w = bands.shape[-2:]
        weight = fspecial_gaussian(h - WINDOW + 1, w - WINDOW + 1, h / 4.0, cssim.dtype, cssim.device)
        return (cssim * weight).sum(dim=(-2, -1)).mean(dim=1).float()


SPECS = (
    MetricSpec(
        name="cw_ssim",
        mode="FR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=(
            "Sampat, Wang, Gupta, Bovik & Markey, Complex wavelet structural similarity: a new image similarity "
            "index, IEEE TIP 18(11), 2009"
        ),
        calibration="calibrated (cwssim_index.m, 4 levels × 8 orientations, rgb2gray luma; max rel. error 6.3e-5)",
        ideal_score=1.0,
        factory=CWSSIM,
        options={"channel": "gray", "levels": 4, "orientations": 8, "k": 0.0},
        resources=Resources(num_cpus=0.5, num_gpus=0.05, memory_mb=400),
        calibration_key="cw_ssim",
    ),
)
