"""Natural-scene-statistics building blocks shared by NIQE and BRISQUE (Mittal, Moorthy & Bovik).

- MSCN coefficients ``(I - mu) / (sigma + 1)`` with a 7×7 Gaussian window (sigma 7/6, normalised);
- moment-matching fits of a generalised Gaussian (GGD) and an asymmetric GGD (AGGD), as the authors'
  ``estimateggdparam.m`` / ``estimateaggdparam.m`` define them: the shape parameter is the value of the grid
  0.2:0.001:10 whose moment ratio is closest to the sample's (first one on ties, as MATLAB ``min``).

All fits are batched: each row of the input is one sample vector.
"""

from __future__ import annotations

import torch

import torch.nn.functional as F

from metrics.functional.filters import Border, filter2, gaussian_window, pad

#: The shape-parameter grid 0.2:0.001:10 of the authors' code.
GRID_START, GRID_STEP, GRID_COUNT = 0.2, 0.001, 9801


def shape_grid(device: torch.device | None = None) -> torch.Tensor:
    return GRID_START + GRID_STEP * torch.arange(GRID_COUNT, dtype=torch.float64, device=device)


def gamma_fn(x: torch.Tensor) -> torch.Tensor:
    """Γ(x) for x > 0 (float64)."""
    return torch.exp(torch.lgamma(x))


def flat_neighbourhoods(image: torch.Tensor, size: int, border: Border) -> torch.Tensor:
    """True where the size×size neighbourhood (with the filter's border rule) holds a single value."""
    top = (size - 1) // 2
    padded = pad(image, top, size - 1 - top, top, size - 1 - top, border)
    return F.max_pool2d(padded, size, stride=1) == -F.max_pool2d(-padded, size, stride=1)


def mscn(image: torch.Tensor, border: Border, exact_flat: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MSCN coefficients and local deviation of N×1×H×W float64 grey levels (0..255).

    Where the 7×7 neighbourhood is flat, ``I - mu`` is 0 in exact arithmetic but a ±1e-13 rounding residue
    in floating point, whose sign then decides which side of the AGGD fit the pixel counts on; with
    ``exact_flat`` those coefficients are set to exactly 0 (the side is then neither).
    """
    window = gaussian_window(7, 7.0 / 6.0, dtype=image.dtype, device=image.device)
    mu = filter2(image, window, border)
    sigma = torch.sqrt(torch.abs(filter2(image * image, window, border) - mu * mu))
    coefficients = (image - mu) / (sigma + 1.0)
    if exact_flat:
        coefficients = torch.where(flat_neighbourhoods(image, 7, border), 0.0, coefficients)
    return coefficients, sigma


def fit_ggd(vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GGD shape and variance (``sigma_sq``) of every row of ``vec`` (R×M)."""
    grid = shape_grid(vec.device)
    r_grid = gamma_fn(1 / grid) * gamma_fn(3 / grid) / gamma_fn(2 / grid) ** 2
    sigma_sq = (vec * vec).mean(dim=1)
    e_abs = vec.abs().mean(dim=1)
    rho = sigma_sq / (e_abs * e_abs)
    pos = torch.argmin(torch.abs(rho[:, None] - r_grid[None, :]), dim=1)
    return grid[pos], sigma_sq


def fit_aggd(vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AGGD shape, left std and right std of every row of ``vec`` (R×M).

    A row without negative (or positive) samples gets a NaN std, as MATLAB's mean of an empty set, and
    shape 0.2.
    """
    grid = shape_grid(vec.device)
    r_grid = gamma_fn(2 / grid) ** 2 / (gamma_fn(1 / grid) * gamma_fn(3 / grid))
    sq = vec * vec
    neg, pos = vec < 0, vec > 0
    left_std = torch.sqrt((sq * neg).sum(dim=1) / neg.sum(dim=1))
    right_std = torch.sqrt((sq * pos).sum(dim=1) / pos.sum(dim=1))
    gamma_hat = left_std / right_std
    r_hat = vec.abs().mean(dim=1) ** 2 / sq.mean(dim=1)
    r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    index = torch.argmin((r_grid[None, :] - r_hat_norm[:, None]) ** 2, dim=1)
    # A NaN ratio makes every distance NaN; MATLAB's ``min`` then returns index 1, and torch's argmin the
    # first NaN, i.e. index 0: both give the grid's first value, 0.2.
    return grid[index], left_std, right_std
