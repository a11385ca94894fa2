"""Colour conversions with the constants MATLAB uses, on float N×3×H×W tensors in [0, 1].

``rgb2ycbcr`` (ITU-R BT.601, "studio swing"): Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1],
giving Y in [16, 235]; Cb and Cr likewise in [16, 240]. MATLAB rounds the result when its input is uint8,
which the official implementations of most metrics receive; ``round_uint8=True`` reproduces that.

``rgb2gray``: MATLAB's weights 0.298936021293775, 0.587043074451121, 0.114020904255103 (the first row of the
inverse of the NTSC YIQ matrix), again rounded for uint8 input (half away from zero, in float64, as MATLAB).

:func:`luma` is the one table behind the full-reference metrics' ``channel`` option (``"gray"``, ``"y"``,
``"rgb"``); :func:`check_channel` validates that option.
"""

from __future__ import annotations

import torch

_YCBCR_OFFSET = (16.0, 128.0, 128.0)
_YCBCR_MATRIX = (
    (65.481, 128.553, 24.966),
    (-37.797, -74.203, 112.0),
    (112.0, -93.786, -18.214),
)
_GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)
_YIQ_MATRIX = (
    (0.299, 0.587, 0.114),
    (0.596, -0.274, -0.322),
    (0.211, -0.523, 0.312),
)


def _weighted(x: torch.Tensor, rows: tuple[tuple[float, ...], ...]) -> torch.Tensor:
    matrix = torch.tensor(rows, dtype=x.dtype, device=x.device)
    return torch.einsum("oc,nchw->nohw", matrix, x)


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's rounding (half away from zero), e.g. when it writes a uint8 result; torch.round rounds half to
    even."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def _finish(y255: torch.Tensor, round_uint8: bool) -> torch.Tensor:
    if round_uint8:
        y255 = round_half_away(y255).clamp_(0, 255)
    return y255 / 255.0


def rgb2ycbcr(x: torch.Tensor, round_uint8: bool = False) -> torch.Tensor:
    """N×3×H×W RGB in [0, 1] → N×3×H×W YCbCr in MATLAB's range, scaled by 1/255."""
    offset = torch.tensor(_YCBCR_OFFSET, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return _finish(_weighted(x, _YCBCR_MATRIX) + offset, round_uint8)


def rgb2y(x: torch.Tensor, round_uint8: bool = False) -> torch.Tensor:
    """Luma of MATLAB's ``rgb2ycbcr`` (N×1×H×W, values in [16/255, 235/255])."""
    return _finish(_weighted(x, _YCBCR_MATRIX[:1]) + _YCBCR_OFFSET[0], round_uint8)


def rgb2gray(x: torch.Tensor, round_uint8: bool = False) -> torch.Tensor:
    """MATLAB ``rgb2gray`` (N×1×H×W in [0, 1]); ``round_uint8`` gives the uint8 result's levels / 255 (in the
    input's dtype, computed as :func:`rgb2gray_uint8`)."""
    if round_uint8:
        return (rgb2gray_uint8(x) / 255.0).to(x.dtype)
    return _weighted(x, (_GRAY_WEIGHTS,))


def rgb2gray_uint8(x: torch.Tensor) -> torch.Tensor:
    """MATLAB ``rgb2gray`` of the uint8 image, exactly: N×3×H×W in [0, 1] → N×1×H×W float64 holding the grey
    levels 0..255 the official MATLAB codes see (input brought back to its 8-bit levels, weighted sum in float64,
    rounded half away from zero).

    Written with in-place operations on one float64 plane per channel (fresh full-size temporaries cost more
    than the arithmetic). ``floor(v + 0.5)`` clamped to 0..255 equals MATLAB's rounding clamped to 0..255 for every v
    (both give 0 below zero); checked bit for bit against the plain formula on all 256³ colours in the tests.
    """
    gray = None
    for channel, weight in enumerate(_GRAY_WEIGHTS):  # one N×1×H×W float64 plane at a time
        level = x[:, channel : channel + 1].to(torch.float64, memory_format=torch.contiguous_format, copy=True)
        level.mul_(255.0).add_(0.5).floor_().clamp_(0, 255).mul_(weight)
        gray = level if gray is None else gray.add_(level)
    return gray.add_(0.5).floor_().clamp_(0, 255)


def rgb2yiq(x: torch.Tensor) -> torch.Tensor:
    """NTSC YIQ with MATLAB's ``rgb2ntsc`` matrix (N×3×H×W, Y in [0, 1])."""
    return _weighted(x, _YIQ_MATRIX)


#: The values of the full-reference metrics' ``channel`` option, each metric allowing some of them.
CHANNELS = ("gray", "y", "rgb")


def check_channel(metric: str, channel: str, allowed: tuple[str, ...] = ("gray", "y")) -> str:
    """``channel`` if ``allowed`` (a subset of :data:`CHANNELS`); else ValueError naming ``metric``."""
    if channel not in allowed:
        raise ValueError(f"{metric}: channel must be one of {sorted(allowed)}, got {channel!r}")
    return channel


def luma(x: torch.Tensor, channel: str, levels: bool = False) -> torch.Tensor:
    """The planes a full-reference metric compares, from N×3×H×W RGB in [0, 1], as the official codes see a uint8
    image: ``"gray"`` MATLAB ``rgb2gray`` luma, ``"y"`` the luma of ``rgb2ycbcr`` (both N×1×H×W, rounded to 8-bit
    levels), ``"rgb"`` the input itself. In [0, 1], or with ``levels`` on the 0..255 scale (``"gray"`` is then
    computed from the grey levels directly, in float32)."""
    if channel == "gray":
        return rgb2gray_uint8(x).float() if levels else rgb2gray(x, round_uint8=True)
    if channel == "y":
        y = rgb2y(x, round_uint8=True)
        return y * 255.0 if levels else y
    if channel == "rgb":
        return x * 255.0 if levels else x
    raise ValueError(f"unknown channel {channel!r} (known: {', '.join(CHANNELS)})")
