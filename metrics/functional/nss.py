"""Natural-scene-statistics building blocks shared by NIQE and BRISQUE (Mittal, Moorthy & Bovik).

- MSCN coefficients ``(I - mu) / (sigma + 1)`` with a 7×7 Gaussian window (sigma 7/6, normalised);
- moment-matching fits of a generalised Gaussian (GGD) and an asymmetric GGD (AGGD), as the authors'
  ``estimateggdparam.m`` / ``estimateaggdparam.m`` define them: the shape parameter is the value of the grid
  0.2:0.001:10 whose moment ratio is closest to the sample's (first one on ties, as MATLAB ``min``).

All fits are batched: each row of the input is one sample vector. Both moment-ratio tables are strictly
monotonic on the grid (checked when they are built), so the closest grid value is found by a binary search and
a comparison of the two neighbours, which gives the same index as a full ``argmin`` (first one on ties).
"""

from __future__ import annotations

from functools import lru_cache

import torch

import torch.nn.functional as F

from metrics.functional.filters import Border, gaussian_kernel_1d, pad, separable_filter2

#: The shape-parameter grid 0.2:0.001:10 of the authors' code.
GRID_START, GRID_STEP, GRID_COUNT = 0.2, 0.001, 9801


def shape_grid(device: torch.device | None = None) -> torch.Tensor:
    return GRID_START + GRID_STEP * torch.arange(GRID_COUNT, dtype=torch.float64, device=device)


def gamma_fn(x: torch.Tensor) -> torch.Tensor:
    """Γ(x) for x > 0 (float64)."""
    return torch.exp(torch.lgamma(x))


@lru_cache(maxsize=1)
def _ratio_tables() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The grid, the GGD ratio Γ(1/a)Γ(3/a)/Γ(2/a)² (decreasing) and the AGGD ratio Γ(2/a)²/(Γ(1/a)Γ(3/a))
    (increasing), float64 on the CPU. Cached: callers must not modify them."""
    grid = shape_grid()
    ggd = gamma_fn(1 / grid) * gamma_fn(3 / grid) / gamma_fn(2 / grid) ** 2
    aggd = gamma_fn(2 / grid) ** 2 / (gamma_fn(1 / grid) * gamma_fn(3 / grid))
    if not (bool((ggd.diff() < 0).all()) and bool((aggd.diff() > 0).all())):
        raise RuntimeError("the GGD/AGGD moment-ratio tables are not strictly monotonic on the shape grid")
    return grid, ggd, aggd


@lru_cache(maxsize=2)
def _ggd_ratio_table(start: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The grid ``start:0.001:10`` and minus its GGD ratio Γ(1/a)Γ(3/a)/Γ(2/a)² (increasing), float64 on the CPU.
    Cached: callers must not modify them."""
    count = round((10.0 - start) / GRID_STEP) + 1
    grid = start + GRID_STEP * torch.arange(count, dtype=torch.float64)
    ratio = torch.exp(torch.lgamma(1 / grid) + torch.lgamma(3 / grid) - 2 * torch.lgamma(2 / grid))
    if not bool((ratio.diff() < 0).all()):
        raise RuntimeError(f"the GGD moment-ratio table is not strictly monotonic on the grid {start}:0.001:10")
    return grid, -ratio


def ggd_shape_from_ratio(rho: torch.Tensor, start: float = GRID_START) -> torch.Tensor:
    """The value of the grid ``start:0.001:10`` whose GGD ratio Γ(1/a)Γ(3/a)/Γ(2/a)² is closest to each ``rho``
    (the lower grid value on ties, as MATLAB ``min``)."""
    grid, increasing = (t.to(rho.device) for t in _ggd_ratio_table(float(start)))
    return grid[_closest(increasing, -rho)]


def _closest(increasing: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Index of the entry of a strictly increasing table closest to each value (squared distance, the lower
    index on ties, as ``argmin``); NaN values give index 0 (MATLAB's ``min`` of all-NaN distances, and torch's
    ``argmin``)."""
    upper = torch.searchsorted(increasing, values.contiguous()).clamp_(max=increasing.numel() - 1)
    lower = (upper - 1).clamp_(min=0)
    take_lower = (increasing[lower] - values) ** 2 <= (increasing[upper] - values) ** 2
    index = torch.where(take_lower, lower, upper)
    return torch.where(torch.isnan(values), torch.zeros_like(index), index)


def flat_neighbourhoods(image: torch.Tensor, size: int, border: Border) -> torch.Tensor:
    """True where the size×size neighbourhood (with the filter's border rule) holds a single value."""
    top = (size - 1) // 2
    padded = pad(image, top, size - 1 - top, top, size - 1 - top, border)

    def local_max(x: torch.Tensor) -> torch.Tensor:  # separable: columns, then rows (exact for a maximum)
        return F.max_pool2d(F.max_pool2d(x, (size, 1), stride=1), (1, size), stride=1)

    return local_max(padded) == -local_max(-padded)


def mscn(image: torch.Tensor, border: Border, exact_flat: bool = True, window: int = 7,
         sigma: float = 7.0 / 6.0) -> tuple[torch.Tensor, torch.Tensor]:
    """MSCN coefficients and local deviation of N×1×H×W float64 grey levels (0..255), with a normalised
    ``window``×``window`` Gaussian (``sigma``; NIQE and BRISQUE: 7, 7/6; IL-NIQE: 5, 5/6).

    Where the 7×7 neighbourhood is flat, ``I - mu`` is 0 in exact arithmetic but a ±1e-13 rounding residue
    in floating point, whose sign then decides which side of the AGGD fit the pixel counts on; with
    ``exact_flat`` those coefficients are set to exactly 0 (the side is then neither).
    """
    # The normalised Gaussian window is the outer product of the normalised 1-D one: filtered as two 1-D passes.
    # Kept in float64: the local variance E[x²] - mu² of 0..255 levels cancels catastrophically in float32.
    taps = gaussian_kernel_1d(window, sigma, dtype=torch.float64)
    mu = separable_filter2(image, taps, border)
    deviation = (separable_filter2(image * image, taps, border) - mu * mu).abs_().sqrt_()
    coefficients = (image - mu).div_(deviation + 1.0)
    if exact_flat:
        coefficients = torch.where(flat_neighbourhoods(image, window, border), 0.0, coefficients)
    return coefficients, deviation


def fit_ggd(vec: torch.Tensor) -> torch.Tensor:
    """GGD shape and variance (``sigma_sq``) of every row of ``vec`` (R×M)."""
    grid, r_grid, _ = (t.to(vec.device) for t in _ratio_tables())
    sigma_sq = (vec * vec).mean(dim=1)
    e_abs = vec.abs().mean(dim=1)
    rho = sigma_sq / (e_abs * e_abs)
    # argmin |rho - r_grid| over the decreasing table = the closest entry of the increasing -r_grid to -rho.
    return grid[_closest(-r_grid, -rho)], sigma_sq


def fit_aggd(vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AGGD shape, left std and right std of every row of ``vec`` (R×M).

    A row without negative (or positive) samples gets a NaN std, as MATLAB's mean of an empty set, and
    shape 0.2.
    """
    grid, _, r_grid = (t.to(vec.device) for t in _ratio_tables())
    # Sums of squares of the negative and of the positive samples (clamped copies, squared in place).
    left_sq = vec.clamp(max=0).square_().sum(dim=1)
    right_sq = vec.clamp(min=0).square_().sum(dim=1)
    left_std = torch.sqrt(left_sq / (vec < 0).sum(dim=1))
    right_std = torch.sqrt(right_sq / (vec > 0).sum(dim=1))
    gamma_hat = left_std / right_std
    r_hat = vec.abs().mean(dim=1) ** 2 / ((left_sq + right_sq) / vec.shape[1])
    r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    # A NaN ratio makes every distance NaN; MATLAB's ``min`` then returns index 1, and torch's argmin the
    # first NaN, i.e. index 0: both give the grid's first value, 0.2.
    return grid[_closest(r_grid, r_hat_norm)], left_std, right_std


def aggd_scale(alpha: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """The AGGD scale ``beta = std · sqrt(Γ(1/a)/Γ(3/a))`` of one side of a fit (shape ``alpha``, that side's std)."""
    return std * torch.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))


def aggd_features(blocks: torch.Tensor, shifts: tuple[tuple[int, int], ...]) -> torch.Tensor:
    """The 18 NSS features of each R×h×w block of MSCN coefficients (R×18): the AGGD fit of the coefficients
    (shape, mean of the left and right scales ``beta``) and, per circular ``shift`` (rows, columns) within the
    block, of their products with that neighbour (shape, mean ``(beta_r - beta_l) Γ(2/a)/Γ(1/a)``, ``beta_l``,
    ``beta_r``), with ``beta = std · sqrt(Γ(1/a)/Γ(3/a))`` (``computefeature.m`` of NIQE; MATLAB's BRISQUE).
    """
    # One AGGD fit per neighbour product (R×h·w each), so that no 5×R×h·w stack is built.
    fits = [fit_aggd(blocks.flatten(1))]
    fits += [fit_aggd((blocks * torch.roll(blocks, shifts=s, dims=(1, 2))).flatten(1)) for s in shifts]
    features = []
    for k, (alpha, left, right) in enumerate(fits):
        beta_l, beta_r = aggd_scale(alpha, left), aggd_scale(alpha, right)
        if k == 0:
            features += [alpha, (beta_l + beta_r) / 2]
        else:
            mean = (beta_r - beta_l) * gamma_fn(2 / alpha) / gamma_fn(1 / alpha)
            features += [alpha, mean, beta_l, beta_r]
    return torch.stack(features, dim=1)
