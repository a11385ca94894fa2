"""MATLAB ``imresize`` (bilinear and bicubic, with MATLAB's antialiasing) on N×C×H×W tensors.

MATLAB resizes one dimension at a time with a separable kernel. For output index ``u`` (1-based) it samples the
input at ``x = u / s + 0.5 (1 - 1/s)``, where ``s = out / in`` is that dimension's scale; when shrinking
(``s < 1``) with antialiasing on (MATLAB's default) the kernel is stretched to ``s k(s t)`` and its support
widened by ``1/s``. Each output's weights are normalised to sum to one, and input indices that fall outside
the image are mirrored (``[1..n, n..1]`` repeated), which is MATLAB's 'symmetric' border. Here each dimension
becomes an out×in weight matrix, applied by a matrix product, in the input's dtype.
"""

from __future__ import annotations

import math
from typing import Callable, Literal

import torch

Method = Literal["bilinear", "bicubic"]


def _triangle(t: torch.Tensor) -> torch.Tensor:
    return (1.0 - t.abs()).clamp(min=0.0)


def _cubic(t: torch.Tensor) -> torch.Tensor:
    a = t.abs()
    a2, a3 = a * a, a * a * a
    near = (1.5 * a3 - 2.5 * a2 + 1.0) * (a <= 1)
    far = (-0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0) * ((a > 1) & (a <= 2))
    return near + far


_KERNELS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], float]] = {
    "bilinear": (_triangle, 2.0),
    "bicubic": (_cubic, 4.0),
}


def resize_matrix(
    in_len: int,
    out_len: int,
    method: Method = "bicubic",
    antialias: bool = True,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """The out_len×in_len matrix that MATLAB's ``imresize`` applies along one dimension.

    ``scale`` is the factor MATLAB was given (``imresize(x, 0.5)``); by default ``out_len / in_len`` (the
    ``imresize(x, [rows cols])`` form). The two differ when the output length was rounded up.
    """
    if in_len < 1 or out_len < 1:
        raise ValueError(f"imresize: lengths must be >= 1, got {in_len} -> {out_len}")
    if method not in _KERNELS:
        raise ValueError(f"imresize: method must be one of {sorted(_KERNELS)}, got {method!r}")
    kernel, width = _KERNELS[method]
    scale = out_len / in_len if scale is None else float(scale)
    if scale < 1 and antialias:
        base = kernel

        def kernel(t: torch.Tensor) -> torch.Tensor:
            return scale * base(scale * t)

        width = width / scale
    u = torch.arange(1, out_len + 1, dtype=torch.float64) / scale + 0.5 * (1.0 - 1.0 / scale)
    left = torch.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # 1-based input positions
    weights = kernel(u[:, None] - idx)
    weights = weights / weights.sum(dim=1, keepdim=True)
    period = 2 * in_len  # mirror: 1..n, n..1, 1..n, ...
    m = torch.remainder(idx.long() - 1, period)
    m = torch.where(m < in_len, m, period - 1 - m)
    matrix = torch.zeros(out_len, in_len, dtype=torch.float64)
    matrix.scatter_add_(1, m, weights)
    return matrix.to(dtype=dtype, device=device)


def imresize(
    x: torch.Tensor,
    size: tuple[int, int] | None = None,
    method: Method = "bicubic",
    antialias: bool = True,
    scale: float | None = None,
) -> torch.Tensor:
    """``imresize(x, [rows cols], method)`` or ``imresize(x, scale, method)`` for every channel of an N×C×H×W
    floating-point tensor (give exactly one of ``size`` and ``scale``; with a scale the output is
    ``ceil(scale·H)×ceil(scale·W)``). No rounding or clamping: this is MATLAB's result for ``double`` input.
    """
    h, w = x.shape[-2:]
    if (size is None) == (scale is None):
        raise ValueError("imresize: give exactly one of size and scale")
    if scale is not None:
        if scale <= 0:
            raise ValueError(f"imresize: scale must be > 0, got {scale}")
        size = (math.ceil(h * scale), math.ceil(w * scale))
    rows = resize_matrix(h, size[0], method, antialias, x.dtype, x.device, scale)
    cols = resize_matrix(w, size[1], method, antialias, x.dtype, x.device, scale)
    return rows @ x @ cols.T
