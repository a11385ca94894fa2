"""MATLAB ``rgb2gray`` of a uint8 image, exactly: the grey levels 0..255 the official MATLAB codes see.

The input (float in [0, 1]) is first brought back to its uint8 values (``round(255·x)``), as every
calibration image is 8-bit; the weighted sum with MATLAB's weights is taken in float64 and rounded half away
from zero, as MATLAB does when it writes a uint8 result. (``metrics.functional.color.rgb2gray`` rounds half to
even in the input's precision, which can flip a level when the input is float32.)
"""

from __future__ import annotations

import torch

#: MATLAB's ``rgb2gray`` weights (first row of the inverse NTSC YIQ matrix).
GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def rgb2gray_uint8(x: torch.Tensor) -> torch.Tensor:
    """N×3×H×W in [0, 1] → N×1×H×W float64 holding the integers 0..255 of MATLAB ``rgb2gray(uint8)``."""
    levels = torch.round(x.double() * 255.0).clamp_(0, 255)
    r, g, b = levels[:, 0:1], levels[:, 1:2], levels[:, 2:3]
    gray = GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b
    return torch.floor(gray + 0.5).clamp_(0, 255)
