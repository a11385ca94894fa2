"""MATLAB ``filter2(w, x, 'same')`` for a separable (rank-1) window, accumulated in a fixed order.

MATLAB's ``filter2`` tests the window's rank and, when it is 1, filters with ``conv2(hcol, hrow, x, 'same')``:
first every column with ``hcol``, then every row with ``hrow``, zero padding outside the image. Here each pass
is a sum of 7 shifted, weighted copies added one tap after the other (``acc = acc + k[j]·x_j``), in float64,
so the result's last bits do not depend on a convolution library's summation order and agree on CPU and CUDA.

That matters for the NSS metrics in flat regions: where the 7×7 neighbourhood is constant, ``x - mu`` is 0 in
exact arithmetic but a rounding residue of ±1e-13 (or exactly 0) in floating point, and its sign decides on
which side of the AGGD fit the pixel counts. MATLAB's exact bits cannot be had without MATLAB; this fixed,
documented order is the nearest deterministic stand-in (see ``metrics/nr/brisque.py`` for what it gives).

``fspecial_gaussian`` builds ``fspecial('gaussian', n, sigma)`` as MATLAB defines it (``exp`` of the 2-D
argument, values below ``eps·max`` dropped, divided by the column-major sum), and ``marginal`` its row sums,
each sum taken left to right.
"""

from __future__ import annotations

import math

import torch


def _sequential_sum(values: list[float]) -> float:
    total = 0.0
    for value in values:
        total += value
    return total


def fspecial_gaussian(size: int, sigma: float) -> list[list[float]]:
    """``fspecial('gaussian', size, sigma)`` (normalised, then normalised again as ``w / sum(sum(w))``)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be an odd number >= 1, got {size}")
    half = (size - 1) // 2
    coords = [float(i - half) for i in range(size)]
    window = [[math.exp(-(x * x + y * y) / (2.0 * sigma * sigma)) for x in coords] for y in coords]
    peak = max(max(row) for row in window)
    eps = 2.0**-52
    window = [[v if v >= eps * peak else 0.0 for v in row] for row in window]
    column_major = [window[r][c] for c in range(size) for r in range(size)]
    total = _sequential_sum(column_major)
    window = [[v / total for v in row] for row in window]
    # BRISQUE/NIQE then divide by sum(sum(window)): column sums, then their sum.
    column_sums = [_sequential_sum([window[r][c] for r in range(size)]) for c in range(size)]
    total = _sequential_sum(column_sums)
    return [[v / total for v in row] for row in window]


def marginal(window: list[list[float]]) -> list[float]:
    """Row sums of a 2-D window (its 1-D factor when the window is a normalised outer product)."""
    return [_sequential_sum(row) for row in window]


def _pass(x: torch.Tensor, taps: list[float], dim: int) -> torch.Tensor:
    """Convolve along ``dim`` with zero padding, 'same' size, adding the taps in conv2's order."""
    k = len(taps)
    before = (k - 1) // 2
    length = x.shape[dim]
    pad = [0, 0, 0, 0]
    # F.pad order: (left, right, top, bottom) for the last two dimensions.
    if dim == x.dim() - 1:
        pad[0], pad[1] = before, k - 1 - before
    else:
        pad[2], pad[3] = before, k - 1 - before
    padded = torch.nn.functional.pad(x, pad)
    acc = None
    # conv2 is a true convolution: tap j (1-based) multiplies x(i - j + centre), so the taps are added
    # starting with the sample farthest ahead (offset k-1 in the padded tensor) and ending with the one behind.
    for j in range(k - 1, -1, -1):
        term = padded.narrow(dim, j, length) * taps[k - 1 - j]
        acc = term if acc is None else acc + term
    return acc


def filter2_separable(x: torch.Tensor, hcol: list[float], hrow: list[float]) -> torch.Tensor:
    """``conv2(hcol, hrow, x, 'same')`` of symmetric 1-D factors (= ``filter2(hcol·hrowᵀ, x, 'same')``).

    ``x`` is N×C×H×W; columns (dim -2) are filtered first, then rows (dim -1).
    """
    if len(hcol) % 2 == 0 or len(hrow) % 2 == 0:
        raise ValueError("filter2_separable: the 1-D factors must have odd lengths")
    return _pass(_pass(x, hcol, x.dim() - 2), hrow, x.dim() - 1)
