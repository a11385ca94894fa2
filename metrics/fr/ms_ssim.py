"""Multi-scale structural similarity (MS-SSIM).

Wang, Simoncelli & Bovik, "Multiscale structural similarity for image quality assessment", Proc. 37th Asilomar
Conference on Signals, Systems and Computers, 2003.

As in the authors' ``msssim.m``: five scales with exponents (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); at every
scale SSIM's local statistics use an 11×11 Gaussian window (sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255) over the
'valid' part of the image; between scales both images are averaged with a 2×2 box (``imfilter(..., 'symmetric',
'same')``) and every second row and column is kept. The score is the product of the mean contrast-structure
terms of scales 1-4 and of the mean SSIM of scale 5, each raised to its exponent. The authors refuse images whose
smaller side, divided by 2^4, is below the window width (11), i.e. smaller than 176 pixels.

Calibration (5 TID2013 pairs, ``official_scores.csv``, 4 published decimals): on MATLAB ``rgb2gray`` luma rounded
to uint8 the largest relative error is 5.2e-3 (I03 0.66998 vs 0.6733, I04 0.99963 vs 0.9996, I06 0.99982 vs
0.9998, I08 0.95653 vs 0.9566, I19 0.84179 vs 0.8462), inside the 0.01 + 1% tolerance. The BT.601 ``rgb2ycbcr``
luma (option ``channel='y'``) is 3.6% off; unrounded luma, 'valid' 2×2 down-sampling (the older msssim.m),
per-scale uint8 rounding and padded SSIM windows were tried and fit no better. The I03/I19 residual is unexplained.
Computed in float32 (means accumulated in float64): against float64 the scores move by at most 7.4e-7 relative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.base import IQAMetric, MetricInputError
from metrics.fr.ssim import K1, K2
from metrics.functional.color import check_channel, luma
from metrics.functional.filters import separable_filter2
from metrics.registry import Calibration, MetricSpec, Resources

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW_SIZE = 11



def gaussian_1d(size: int, sigma: float) -> torch.Tensor:
    """The separable factor of ``fspecial('gaussian', size, sigma)`` (float64, sums to one)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2.0 * sigma * sigma))
    return g / g.sum()


def ssim_terms(
    x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, data_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure of N×1×H×W images over the 'valid' region of the window ``g⊗g``."""
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    mu_x, mu_y, xx, yy, xy = separable_filter2(stack, g).unbind(dim=1)
    mu_xy, mu_x2, mu_y2 = mu_x * mu_y, mu_x * mu_x, mu_y * mu_y
    cs = (2 * (xy - mu_xy) + c2) / (xx - mu_x2 + yy - mu_y2 + c2)
    luminance = (2 * mu_xy + c1) / (mu_x2 + mu_y2 + c1)
    mean = lambda t: t.flatten(1).mean(dim=1, dtype=torch.float64)  # noqa: E731
    return mean(luminance * cs), mean(cs)


def _halve(x: torch.Tensor) -> torch.Tensor:
    """``imfilter(x, ones(2)/4, 'symmetric', 'same')`` then ``x(1:2:end, 1:2:end)``: the mean of each 2×2 block,
    the block past an odd edge completed by repeating the last row/column (MATLAB's 'symmetric' border)."""
    rows, cols = x.shape[-2:]
    if rows % 2 or cols % 2:
        x = F.pad(x, (0, cols % 2, 0, rows % 2), mode="replicate")
    return F.avg_pool2d(x, kernel_size=2, stride=2)




class MSSSIM(IQAMetric):
    #: The authors' rule: min(H, W) / 2^(scales-1) must reach the window width.
    min_size = WINDOW_SIZE * 2 ** (len(WEIGHTS) - 1)

    def __init__(self, channel: str = "gray") -> None:
        super().__init__()
        self.channel = check_channel("ms_ssim", channel)
        self.register_buffer("gauss", gaussian_1d(WINDOW_SIZE, 1.5), persistent=False)
        self.register_buffer("weights", torch.tensor(WEIGHTS, dtype=torch.float64), persistent=False)

    #: Precision of the local statistics (float32 keeps the calibration, see the module docstring; float64 is
    #: kept selectable for checks). The means are accumulated in float64.
    compute_dtype: torch.dtype = torch.float32

    def _check(self, x: torch.Tensor, what: str) -> None:
        # Report NaN / range problems before the size rule (the base class checks size first).
        size_rule, self.min_size = self.min_size, 1
        try:
            super()._check(x, what)
        finally:
            self.min_size = size_rule
        if min(x.shape[-2:]) < self.min_size:
            raise MetricInputError(
                f"{self._name()}: {what} is {x.shape[-2]}×{x.shape[-1]}; {len(WEIGHTS)} scales with an "
                f"{WINDOW_SIZE}×{WINDOW_SIZE} window need at least {self.min_size}×{self.min_size}"
            )

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        x, y = (luma(t, self.channel).to(self.compute_dtype) * 255.0 for t in (ref, dist))
        terms = []
        for scale in range(len(WEIGHTS)):
            mssim, mcs = ssim_terms(x, y, self.gauss, data_range=255.0)
            terms.append(mssim if scale == len(WEIGHTS) - 1 else mcs)
            if scale < len(WEIGHTS) - 1:
                x, y = _halve(x), _halve(y)
        values = torch.stack(terms, dim=1)
        # MATLAB raises negative means to fractional powers (complex) and the score is then meaningless; clamp.
        return torch.prod(values.clamp(min=0) ** self.weights, dim=1).float()


SPECS = (
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="ms_ssim",
        mode="FR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=(
            "Wang, Simoncelli & Bovik, Multiscale structural similarity for image quality assessment, "
            "Proc. 37th Asilomar Conf. Signals, Systems and Computers, 2003"
        ),
        calibration=Calibration.CALIBRATED,
        calibration_detail="msssim.m on rgb2gray luma; max rel. error 5.2e-3",
        ideal_score=1.0,
        factory=MSSSIM,
        option_choices={"channel": ("gray", "y")},
        options={"channel": "gray"},
        resources=Resources(num_cpus=0.5, num_gpus=0.05, memory_mb=300),
        calibration_key="ms_ssim",
    ),
)
