"""Gradient magnitude similarity deviation (GMSD).

Xue, Zhang, Mou & Bovik, "Gradient magnitude similarity deviation: a highly efficient perceptual image quality
index", IEEE Trans. Image Processing 23(2), 2014.

As in the authors' ``GMSD.m`` on 0-255 grey images: both images are averaged with a 2×2 box (``conv2(...,
'same')``, zero past the last row/column) and every second row and column is kept; gradients come from the
Prewitt operators divided by 3 (``conv2(..., 'same')``, zero padding); the gradient magnitude similarity map is
(2·m_r·m_d + T) / (m_r² + m_d² + T) with T = 170 (c = 0.0026 on [0, 1] images, times 255²), and the score is its
standard deviation (``std2``, normalised by n - 1). Lower is better; identical images score 0. Computed in
float32 (the grey levels are integers; the deviation is taken of 1 - GMS, in float64), which changes no
calibration value in its 6th digit.

Calibration (5 TID2013 pairs, ``official_scores.csv``): on MATLAB ``rgb2gray`` luma rounded to uint8 (0-255) the
largest relative error is 4.3e-7 (9.2e-8 in float64; I03 0.220348, I04 0.000522058, I06 0.000448281, I08 0.134632, I19 0.204996,
equal to the official values to 6 digits); the BT.601 ``rgb2ycbcr`` luma (``channel='y'``) gives 0 on I04/I06.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.base import IQAMetric
from metrics.functional.color import rgb2gray_uint8, rgb2y
from metrics.registry import MetricSpec, Resources

T = 170.0

#: Grey levels on 0..255 (integers, exact in float32).
_CHANNELS = {
    "gray": lambda x: rgb2gray_uint8(x).float(),
    "y": lambda x: rgb2y(x, round_uint8=True) * 255.0,
}


class GMSD(IQAMetric):
    #: Two rows and columns after down-sampling, so that the deviation is defined.
    min_size = 3

    def __init__(self, channel: str = "gray") -> None:
        super().__init__()
        if channel not in _CHANNELS:
            raise ValueError(f"gmsd: channel must be one of {sorted(_CHANNELS)}, got {channel!r}")
        self.channel = channel
        prewitt_x = torch.tensor([[1.0, 0.0, -1.0]] * 3, dtype=torch.float64) / 3.0
        # conv2 flips the kernel; F.conv2d correlates, so hand it the flipped operators.
        operators = torch.stack([prewitt_x, prewitt_x.t()]).flip(-2, -1).unsqueeze(1)
        self.register_buffer("prewitt", operators.float(), persistent=False)

    def _magnitude(self, x: torch.Tensor) -> torch.Tensor:
        # conv2(x, ones(2)/4, 'same') keeps every second row and column: the mean of each 2×2 block, with a zero
        # row/column past an odd edge (exact in float32: sums of four integers, divided by 4).
        rows, cols = x.shape[-2:]
        x = F.avg_pool2d(F.pad(x, (0, cols % 2, 0, rows % 2)), kernel_size=2, stride=2)
        gradients = F.conv2d(F.pad(x, (1, 1, 1, 1)), self.prewitt)  # N×2×h×w: x and y derivatives
        return gradients.square().sum(dim=1, keepdim=True).sqrt()

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        convert = _CHANNELS[self.channel]
        m_ref = self._magnitude(convert(ref))
        m_dist = self._magnitude(convert(dist))
        # 1 - GMS = (m_r - m_d)² / (m_r² + m_d² + T) has the same deviation as GMS, and keeps its full relative
        # precision in float32 where GMS is close to 1 (nearly everywhere on good images).
        dissimilarity = (m_ref - m_dist).square_() / (m_ref.square() + m_dist.square() + T)
        return dissimilarity.flatten(1).double().std(dim=1, correction=1).float()


SPECS = (
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="gmsd",
        mode="FR",
        lower_better=True,
        score_range=(0.0, 1.0),
        paper=(
            "Xue, Zhang, Mou & Bovik, Gradient magnitude similarity deviation: a highly efficient perceptual "
            "image quality index, IEEE TIP 23(2), 2014"
        ),
        calibration="calibrated (GMSD.m on rgb2gray luma; max rel. error 4.3e-7)",
        ideal_score=0.0,
        factory=GMSD,
        option_choices={"channel": ("gray", "y")},
        options={"channel": "gray"},
        resources=Resources(num_cpus=0.5, num_gpus=0.05, memory_mb=200),
        calibration_key="gmsd",
    ),
)
