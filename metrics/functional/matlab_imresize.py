"""MATLAB ``imresize`` (bicubic, the default) on float tensors, built as two dense resampling matrices.

MATLAB's algorithm, as documented and as its ``contributions`` step is defined:

- kernel: Keys' cubic convolution with a = -0.5,
  ``k(x) = 1.5|x|³ - 2.5|x|² + 1`` for |x| <= 1, ``-0.5|x|³ + 2.5|x|² - 4|x| + 2`` for 1 < |x| <= 2, else 0;
- when shrinking (scale < 1) with anti-aliasing (the default) the kernel is widened: ``h(x) = s·k(s·x)`` and
  its width 4 becomes 4/s;
- output pixel j (1-based) maps to input coordinate ``u = j/s + (1 - 1/s)/2``; the taps are the
  ``ceil(width) + 2`` integers starting at ``floor(u - width/2)``, weighted by ``h(u - i)`` and normalised to
  sum to 1;
- taps outside 1..n are mirrored including the edge sample (``[1..n, n..1]`` repeated), i.e. 'symmetric';
- the output length is ``ceil(n·s)``; the height is resized first, then the width (equal scales).

The input is not rounded: this is ``imresize`` of a double image, which is what NIQE and BRISQUE do.
"""

from __future__ import annotations

import math

import torch


def cubic(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's bicubic kernel (a = -0.5)."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def contributions(
    in_length: int, out_length: int, scale: float, antialiasing: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and 0-based input indices (both out_length × P, float64 / int64) of MATLAB's resampling."""
    width = 4.0
    shrink_aa = scale < 1 and antialiasing
    if shrink_aa:
        width = width / scale
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = torch.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * cubic(scale * distance) if shrink_aa else cubic(distance)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # 'symmetric' border: 1-based index i -> aux[(i - 1) mod 2n] with aux = [1..n, n..1].
    period = 2 * in_length
    aux = torch.cat([torch.arange(in_length), torch.arange(in_length - 1, -1, -1)])
    idx = aux[torch.remainder(indices.long() - 1, period)]
    keep = (weights != 0).any(dim=0)
    return weights[:, keep], idx[:, keep]


def resize_matrix(in_length: int, out_length: int, scale: float, antialiasing: bool = True) -> torch.Tensor:
    """The out_length × in_length float64 matrix M with ``resized = M @ signal``."""
    weights, idx = contributions(in_length, out_length, scale, antialiasing)
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, idx, weights)
    return matrix


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    output_size: tuple[int, int] | None = None,
    antialiasing: bool = True,
) -> torch.Tensor:
    """MATLAB ``imresize(x, scale)`` or ``imresize(x, [rows cols])`` (bicubic) over the last two dimensions."""
    h, w = x.shape[-2:]
    if (scale is None) == (output_size is None):
        raise ValueError("imresize: give exactly one of scale and output_size")
    if scale is not None:
        if scale <= 0:
            raise ValueError(f"imresize: scale must be > 0, got {scale}")
        scales = (float(scale), float(scale))
        out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    else:
        out_h, out_w = output_size  # type: ignore[misc]
        scales = (out_h / h, out_w / w)
    rows = resize_matrix(h, out_h, scales[0], antialiasing).to(dtype=x.dtype, device=x.device)
    cols = resize_matrix(w, out_w, scales[1], antialiasing).to(dtype=x.dtype, device=x.device)
    # MATLAB resizes the dimension with the smaller scale first (rows first on ties); each pass is a
    # weighted sum along one axis, so the order only changes rounding, but keep it anyway.
    if scales[1] < scales[0]:
        return rows @ (x @ cols.T)
    return (rows @ x) @ cols.T
