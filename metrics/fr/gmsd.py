"""Gradient magnitude similarity deviation (GMSD).

Xue, Zhang, Mou & Bovik, "Gradient magnitude similarity deviation: a highly efficient perceptual image quality
index", IEEE Trans. Image Processing 23(2), 2014.

As in the authors' ``GMSD.m`` on 0-255 grey images: both images are averaged with a 2×2 box (``conv2(...,
'same')``, zero past the last row/column) and every second row and column is kept; gradients come from the
Prewitt operators divided by 3 (``conv2(..., 'same')``, zero padding); the gradient magnitude similarity map is
(2·m_r·m_d + T) / (m_r² + m_d² + T) with T = 170 (c = 0.0026 on [0, 1] images, times 255²), and the score is its
standard deviation (``std2``, normalised by n - 1). Lower is better; identical images score 0. Computed in
float32 on integers where it matters: block sums instead of 2×2 means and Prewitt sums instead of /3 give 12 ×
the official gradients, exactly (integers below 2^12); the deviation is taken of 1 - GMS, in float64.

Calibration (5 TID2013 pairs, ``official_scores.csv``): on MATLAB ``rgb2gray`` luma rounded to uint8 (0-255) the
largest relative error is 3.9e-8 (I03 0.220348, I04 0.000522059, I06 0.000448281, I08 0.134632, I19 0.204996,
equal to the official values to 7 digits); the BT.601 ``rgb2ycbcr`` luma (``channel='y'``) gives 0 on I04/I06.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.base import IQAMetric
from metrics.functional.color import check_channel, luma
from metrics.registry import Calibration, MetricSpec, Resources

T = 170.0
#: The gradients are computed 12× the official ones (block sums, not means; Prewitt not divided by 3).
_SCALE = 12.0


class GMSD(IQAMetric):
    #: Two rows and columns after down-sampling, so that the deviation is defined.
    min_size = 3

    def __init__(self, channel: str = "gray") -> None:
        super().__init__()
        self.channel = check_channel("gmsd", channel)

    @staticmethod
    def _scaled_magnitude(x: torch.Tensor) -> torch.Tensor:
        """12 × the gradient magnitude of GMSD.m, of N×1×H×W grey levels (integers, float32).

        conv2(x, ones(2)/4, 'same') keeps every second row and column: 4 × the mean of each 2×2 block is the
        sum of its four samples (a zero row/column past an odd edge). The Prewitt operators / 3 ('same', zero
        padding) are differences two samples apart summed over three rows (columns): on the block sums these
        are 12 × the official gradients, integers below 2^12 whose squares are exact in float32. The sign
        conv2's flip would give is irrelevant to the magnitude.
        """
        rows, cols = x.shape[-2:]
        if rows % 2 or cols % 2:
            x = F.pad(x, (0, cols % 2, 0, rows % 2))
        y = x[..., 0::2, 0::2] + x[..., 1::2, 0::2]
        y += x[..., 0::2, 1::2]
        y += x[..., 1::2, 1::2]
        p = F.pad(y, (1, 1, 1, 1))
        dx = p[..., :, 2:] - p[..., :, :-2]  # (h + 2) × w
        gx = dx[..., :-2, :] + dx[..., 1:-1, :]
        gx += dx[..., 2:, :]
        dy = p[..., 2:, :] - p[..., :-2, :]  # h × (w + 2)
        gy = dy[..., :, :-2] + dy[..., :, 1:-1]
        gy += dy[..., :, 2:]
        return gx.square_().add_(gy.square_()).sqrt_()

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        m_ref = self._scaled_magnitude(luma(ref, self.channel, levels=True))
        m_dist = self._scaled_magnitude(luma(dist, self.channel, levels=True))
        # 1 - GMS = (m_r - m_d)² / (m_r² + m_d² + T) has the same deviation as GMS, and keeps its full relative
        # precision in float32 where GMS is close to 1 (nearly everywhere on good images). With M = 12 m it is
        # (M_r - M_d)² / (M_r² + M_d² + 144 T).
        dissimilarity = (m_ref - m_dist).square_().div_(m_ref.square().add_(m_dist.square()).add_(_SCALE**2 * T))
        return dissimilarity.flatten(1).double().std(dim=1, correction=1).float()


SPECS = (
    MetricSpec(
        version="3",  # integer-exact gradients (issue 17): scores moved by <= 1e-6 relative
        name="gmsd",
        mode="FR",
        lower_better=True,
        score_range=(0.0, 1.0),
        paper=(
            "Xue, Zhang, Mou & Bovik, Gradient magnitude similarity deviation: a highly efficient perceptual "
            "image quality index, IEEE TIP 23(2), 2014"
        ),
        calibration=Calibration.CALIBRATED,
        calibration_detail="GMSD.m on rgb2gray luma; max rel. error 3.9e-8",
        ideal_score=0.0,
        factory=GMSD,
        option_choices={"channel": ("gray", "y")},
        options={"channel": "gray"},
        resources=Resources(num_cpus=0.5, num_gpus=0.05, memory_mb=200),
        calibration_key="gmsd",
    ),
)
