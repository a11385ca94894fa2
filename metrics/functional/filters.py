"""Windows and 2-D filtering with MATLAB's border conventions, batched over N×C×H×W tensors."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

#: MATLAB ``imfilter``/``filter2`` border options and their torch padding modes.
Border = Literal["valid", "zeros", "replicate", "symmetric", "circular"]


def gaussian_window(size: int, sigma: float, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """``fspecial('gaussian', size, sigma)``: a normalised size×size Gaussian."""
    if size < 1:
        raise ValueError(f"window size must be >= 1, got {size}")
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2.0 * sigma * sigma))
    window = torch.outer(g, g)
    window = window / window.sum()
    return window.to(dtype=dtype, device=device)


def _symmetric_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """MATLAB 'symmetric' padding: mirror including the edge pixel (numpy's 'symmetric')."""
    h, w = x.shape[-2:]
    if max(top, bottom) > h or max(left, right) > w:
        raise ValueError(f"symmetric padding of ({top},{bottom},{left},{right}) exceeds the image {h}×{w}")

    def mirror(t: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
        if before == after == 0:
            return t
        n = t.shape[dim]
        parts = [t.narrow(dim, 0, before).flip(dim), t, t.narrow(dim, n - after, after).flip(dim)]
        return torch.cat(parts, dim=dim)

    return mirror(mirror(x, top, bottom, -2), left, right, -1)


def pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int, border: Border) -> torch.Tensor:
    """Pad the last two dimensions with a MATLAB border rule."""
    if border == "valid" or (top == bottom == left == right == 0):
        return x
    if border == "symmetric":
        return _symmetric_pad(x, top, bottom, left, right)
    torch_mode = {"zeros": "constant", "replicate": "replicate", "circular": "circular"}[border]
    return F.pad(x, (left, right, top, bottom), mode=torch_mode)


def filter2(x: torch.Tensor, window: torch.Tensor, border: Border = "valid") -> torch.Tensor:
    """Correlate every channel of ``x`` (N×C×H×W) with a 2-D ``window``, as MATLAB ``imfilter``/``filter2``.

    ``border='valid'`` returns the (H-k+1)×(W-k+1) interior like ``filter2(w, x, 'valid')``; the other
    borders return an H×W result like ``imfilter(x, w, border)`` (MATLAB's 'same' output, with the window's
    centre at ``floor((k+1)/2)``).
    """
    kh, kw = window.shape
    channels = x.shape[1]
    if border != "valid":
        top, left = (kh - 1) // 2, (kw - 1) // 2
        x = pad(x, top, kh - 1 - top, left, kw - 1 - left, border)
    elif x.shape[-2] < kh or x.shape[-1] < kw:
        raise ValueError(f"image {x.shape[-2]}×{x.shape[-1]} is smaller than the {kh}×{kw} window")
    weight = window.to(dtype=x.dtype, device=x.device).expand(channels, 1, kh, kw)
    return F.conv2d(x, weight, groups=channels)


def gaussian_kernel_1d(size: int, sigma: float, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """The normalised 1-D factor of :func:`gaussian_window` (its outer product with itself is the window)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2.0 * sigma * sigma))
    return (g / g.sum()).to(dtype=dtype, device=device)


def correlate_1d(x: torch.Tensor, taps: torch.Tensor | list[float], dim: int, stride: int = 1) -> torch.Tensor:
    """'valid' correlation of ``x`` with the 1-D ``taps`` along ``dim`` (keeping every ``stride``-th output), as a
    sum of shifted, weighted copies accumulated in place (``k`` multiply-adds per output sample). On the CPU
    this beats ``F.conv2d`` by an order of magnitude in float64 (which has no optimised convolution there) and
    for single-channel strided filtering."""
    weights = taps.tolist() if isinstance(taps, torch.Tensor) else list(taps)
    k = len(weights)
    dim = dim % x.dim()
    valid = x.shape[dim] - k + 1
    if valid < 1:
        raise ValueError(f"correlate_1d: length {x.shape[dim]} is shorter than the {k} taps")
    length = (valid - 1) // stride + 1
    index = [slice(None)] * x.dim()

    def shifted(j: int) -> torch.Tensor:
        index[dim] = slice(j, j + (length - 1) * stride + 1, stride)
        return x[tuple(index)]

    acc = shifted(0) * weights[0]
    for j in range(1, k):
        acc.add_(shifted(j), alpha=weights[j])
    return acc


def separable_filter2(x: torch.Tensor, kernel_1d: torch.Tensor, border: Border = "valid") -> torch.Tensor:
    """:func:`filter2` with the separable window ``outer(kernel_1d, kernel_1d)``, as two 1-D passes (columns,
    then rows) with :func:`correlate_1d` (faster on the CPU than grouped convolutions of one channel each)."""
    k = kernel_1d.numel()
    if border != "valid":
        before = (k - 1) // 2
        x = pad(x, before, k - 1 - before, before, k - 1 - before, border)
    elif x.shape[-2] < k or x.shape[-1] < k:
        raise ValueError(f"image {x.shape[-2]}×{x.shape[-1]} is smaller than the {k}×{k} window")
    return correlate_1d(correlate_1d(x, kernel_1d, -2), kernel_1d, -1)
