"""Building blocks of the similarity-map metrics of Lin Zhang et al. (FSIM, VSI), as in their MATLAB code.

- ``auto_downsample``: ``F = max(1, round(min(rows, cols) / 256))``, ``conv2(x, fspecial('average', F),
  'same')`` (zero padding, the window covering ``F - 1 - floor(F/2)`` pixels before and ``floor(F/2)`` after
  each centre) and then ``x(1:F:end, 1:F:end)``.
- ``scharr_magnitude``: ``sqrt(conv2(x, dx, 'same')^2 + conv2(x, dy, 'same')^2)`` with the Scharr kernels
  ``dx = [3 0 -3; 10 0 -10; 3 0 -3] / 16`` and ``dy = dx'`` (zero padding).
- ``similarity``: ``(2 a b + c) / (a^2 + b^2 + c)``.
- ``real_power``: MATLAB's ``real(z .^ p)`` for real ``z``, which is complex for negative ``z``:
  ``|z|^p cos(p pi)`` there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_SCHARR_X = ((3.0, 0.0, -3.0), (10.0, 0.0, -10.0), (3.0, 0.0, -3.0))


def downsample_factor(rows: int, cols: int) -> int:
    """``max(1, round(min(rows, cols) / 256))`` with MATLAB's round (halves away from zero)."""
    return max(1, math.floor(min(rows, cols) / 256 + 0.5))


def auto_downsample(x: torch.Tensor, factor: int | None = None) -> torch.Tensor:
    """Average-filter (F×F, 'same', zero padding) and keep every F-th row and column of N×C×H×W ``x``."""
    f = downsample_factor(*x.shape[-2:]) if factor is None else factor
    if f == 1:
        return x
    before, after = f - 1 - f // 2, f // 2
    if before == after:  # odd F: the same zero padding, done inside the pooling (no padded copy)
        return F.avg_pool2d(x, kernel_size=f, stride=f, padding=before, count_include_pad=True)
    padded = F.pad(x, (before, after, before, after))
    return F.avg_pool2d(padded, kernel_size=f, stride=f)


def scharr_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of every channel of N×C×H×W ``x`` with the Scharr kernels, MATLAB ``conv2 'same'``."""
    kx = torch.tensor(_SCHARR_X, dtype=x.dtype, device=x.device) / 16.0
    weight = torch.stack([kx, kx.T])[:, None]  # 2×1×3×3 (correlation; the sign is irrelevant here)
    channels = x.shape[1]
    g = F.conv2d(x.flatten(0, 1)[:, None], weight, padding=1)
    g = g.unflatten(0, (x.shape[0], channels))  # N×C×2×H×W
    return torch.sqrt((g**2).sum(dim=2))


def similarity(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """``(2 a b + c) / (a^2 + b^2 + c)``."""
    return (2.0 * a * b + c) / (a * a + b * b + c)


def real_power(z: torch.Tensor, p: float) -> torch.Tensor:
    """``real(z .^ p)`` as MATLAB computes it for real ``z`` (principal complex power for negative ``z``)."""
    magnitude = z.abs() ** p
    return torch.where(z < 0, magnitude * math.cos(p * math.pi), magnitude)
