"""Phase congruency from a bank of log-Gabor filters (Kovesi's ``phasecong2``, as used in FSIM's code).

Kovesi, "Image features from phase congruency", Videre 1(3), 1999; the variant here is the one embedded in
Zhang et al.'s ``FeatureSIM.m``: 4 scales × 4 orientations of frequency-domain filters, each the product of a
radial log-Gabor ``exp(-log(r/f0)^2 / (2 log(sigmaOnf)^2))`` (f0 = 1 / (minWaveLength · mult^s)), a
Butterworth low-pass (cut-off 0.45, order 15) and a Gaussian angular spread (sigma = pi / norient /
dThetaOnSigma). Per orientation the energy ``sum_s [E·cos(mean phase) + O·sin(mean phase) -
|E·sin(mean phase) - O·cos(mean phase)|]`` is reduced by a noise threshold estimated from the median squared
response at the smallest scale (Rayleigh model, k standard deviations, divided by 1.7 for this PC measure),
clipped at zero, summed over orientations and divided by the summed amplitudes.

Works batched on N×1×H×W tensors in the input's dtype (float32 keeps FSIM's calibration margin, see
``metrics/fr/fsim.py``). The filter bank and its image-independent noise constants are built in float64 once
per image size and parameter set (a small cache) and converted to the input's dtype and device.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch


def _centred_grid(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Kovesi's normalised frequency coordinates (range about ±0.5) before the quadrant shift."""
    if n % 2:
        return torch.arange(-(n - 1) / 2, (n - 1) / 2 + 1, dtype=dtype, device=device) / max(n - 1, 1)
    return torch.arange(-n // 2, n // 2, dtype=dtype, device=device) / n


def lowpass_filter(rows: int, cols: int, cutoff: float = 0.45, order: int = 15, *, dtype=torch.float64,
                   device=None) -> torch.Tensor:
    """Kovesi's ``lowpassfilter([rows cols], cutoff, n)``: a Butterworth low-pass, zero frequency at [0, 0]."""
    x = (torch.arange(1, cols + 1, dtype=dtype, device=device) - (cols // 2 + 1)) / cols
    y = (torch.arange(1, rows + 1, dtype=dtype, device=device) - (rows // 2 + 1)) / rows
    radius = torch.sqrt(y[:, None] ** 2 + x[None, :] ** 2)
    f = 1.0 / (1.0 + (radius / cutoff) ** (2 * order))
    return torch.fft.ifftshift(f)


def log_gabor_bank(
    rows: int,
    cols: int,
    nscale: int = 4,
    norient: int = 4,
    min_wavelength: float = 6.0,
    mult: float = 2.0,
    sigma_on_f: float = 0.55,
    d_theta_on_sigma: float = 1.2,
    *,
    lowpass: bool = True,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The norient×nscale×rows×cols frequency responses (zero frequency at [0, 0], DC response 0); with
    ``lowpass`` (Kovesi's, FSIM's) the radial parts are multiplied by the Butterworth low-pass, without it
    (IL-NIQE's ``logGabors.m``) they are not."""
    device = torch.device(device) if device is not None else None
    x = _centred_grid(cols, dtype, device)
    y = _centred_grid(rows, dtype, device)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    radius = torch.fft.ifftshift(torch.sqrt(xx**2 + yy**2))
    theta = torch.fft.ifftshift(torch.atan2(-yy, xx))
    radius[0, 0] = 1.0  # avoid log(0); the DC response is reset to 0 below
    wavelengths = min_wavelength * mult ** torch.arange(nscale, dtype=dtype, device=device)
    f0 = (1.0 / wavelengths)[:, None, None]
    radial = torch.exp(-(torch.log(radius[None] / f0) ** 2) / (2.0 * math.log(sigma_on_f) ** 2))
    if lowpass:
        radial = radial * lowpass_filter(rows, cols, 0.45, 15, dtype=dtype, device=device)
    radial[:, 0, 0] = 0.0
    theta_sigma = math.pi / norient / d_theta_on_sigma
    angles = torch.arange(norient, dtype=dtype, device=device)[:, None, None] * (math.pi / norient)
    sin_t, cos_t = torch.sin(theta)[None], torch.cos(theta)[None]
    ds = sin_t * torch.cos(angles) - cos_t * torch.sin(angles)
    dc = cos_t * torch.cos(angles) + sin_t * torch.sin(angles)
    spread = torch.exp(-(torch.atan2(ds, dc).abs() ** 2) / (2.0 * theta_sigma**2))
    return spread[:, None] * radial[None]


def _matlab_median(x: torch.Tensor) -> torch.Tensor:
    """Median over the last dimension, averaging the two middle values for an even count (MATLAB)."""
    n = x.shape[-1]
    low = x.kthvalue((n + 1) // 2, dim=-1).values
    if n % 2:
        return low
    # The next order statistic: ``low`` again if it occurs past position n/2, else the smallest value above it.
    ties = (x <= low[..., None]).sum(dim=-1) > n // 2
    above = torch.where(x > low[..., None], x, torch.full_like(x, math.inf)).amin(dim=-1)
    return 0.5 * (low + torch.where(ties, low, above))


@lru_cache(maxsize=8)
def _bank_and_noise_constants(
    rows: int, cols: int, nscale: int, norient: int, min_wavelength: float, mult: float, sigma_on_f: float,
    d_theta_on_sigma: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The O×S×H×W bank (float64, CPU) and the image-independent parts of the noise model, per orientation: the
    sum of squared filter values at the smallest scale, and the sums of a_i^2 and a_i a_j (i < j) of the filters'
    spatial responses. Cached: callers must not modify the tensors."""
    bank = log_gabor_bank(
        rows, cols, nscale, norient, min_wavelength, mult, sigma_on_f, d_theta_on_sigma, dtype=torch.float64,
    )  # O×S×H×W
    em_n = (bank[:, 0] ** 2).flatten(1).sum(dim=1)  # O
    spatial = torch.fft.ifft2(bank).real * math.sqrt(rows * cols)  # O×S×H×W
    sum_an2 = (spatial**2).flatten(1).sum(dim=1)
    sum_aiaj = 0.5 * ((spatial.sum(dim=1) ** 2).flatten(1).sum(dim=1) - sum_an2)  # ((sum a)^2 - sum a^2) / 2
    return bank, em_n, sum_an2, sum_aiaj


@lru_cache(maxsize=8)
def _bank_as(rows: int, cols: int, nscale: int, norient: int, min_wavelength: float, mult: float, sigma_on_f: float,
             d_theta_on_sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The cached bank converted to ``dtype`` on ``device`` once (callers must not modify it)."""
    bank = _bank_and_noise_constants(rows, cols, nscale, norient, min_wavelength, mult, sigma_on_f,
                                     d_theta_on_sigma)[0]
    return bank.to(dtype=dtype, device=device)


def phase_congruency(
    image: torch.Tensor,
    nscale: int = 4,
    norient: int = 4,
    min_wavelength: float = 6.0,
    mult: float = 2.0,
    sigma_on_f: float = 0.55,
    d_theta_on_sigma: float = 1.2,
    k: float = 2.0,
    epsilon: float = 1e-4,
) -> torch.Tensor:
    """Phase congruency map (N×1×H×W, values in [0, 1]) of N×1×H×W images (``phasecong2`` in FSIM)."""
    if image.dim() != 4 or image.shape[1] != 1:
        raise ValueError(f"phase_congruency expects N×1×H×W, got {tuple(image.shape)}")
    n, _, rows, cols = image.shape
    bank, em_n, sum_an2, sum_aiaj = _bank_and_noise_constants(
        rows, cols, nscale, norient, min_wavelength, mult, sigma_on_f, d_theta_on_sigma
    )
    bank = _bank_as(rows, cols, nscale, norient, min_wavelength, mult, sigma_on_f, d_theta_on_sigma, image.dtype,
                    image.device)
    em_n, sum_an2, sum_aiaj = (t.to(image.device) for t in (em_n, sum_an2, sum_aiaj))  # float64

    # The real bank scales the real and imaginary parts alike: multiplied on the spectrum's real view (the same
    # values as the complex product, without promoting the bank to complex on every call).
    spectrum = torch.view_as_real(torch.fft.fft2(image[:, 0]))[:, None]  # N×1×H×W×2
    energy_all = torch.zeros(n, rows, cols, dtype=image.dtype, device=image.device)
    amplitude_all = torch.zeros_like(energy_all)
    for o in range(norient):  # one orientation at a time bounds the memory to N×S×H×W complex values
        eo = torch.fft.ifft2(torch.view_as_complex(spectrum * bank[o][..., None]))  # N×S×H×W
        even, odd = eo.real, eo.imag
        sum_e, sum_o = even.sum(dim=1), odd.sum(dim=1)  # N×H×W
        x_energy = torch.sqrt(sum_e**2 + sum_o**2) + epsilon
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        # sum_s [E_s·mean_e + O_s·mean_o - |E_s·mean_o - O_s·mean_e|]; the first two terms are linear in s.
        deviation = (even * mean_o[:, None] - odd * mean_e[:, None]).abs().sum(dim=1)
        energy = sum_e * mean_e + sum_o * mean_o - deviation

        # Noise threshold per image, from the median squared amplitude at the smallest scale (Rayleigh model).
        # The N thresholds are computed in float64 whatever the image's dtype.
        median_e2 = _matlab_median((even[:, 0] ** 2 + odd[:, 0] ** 2).flatten(1)).double()  # N
        noise_power = -median_e2 / math.log(0.5) / em_n[o]
        tau = torch.sqrt((2.0 * noise_power * sum_an2[o] + 4.0 * noise_power * sum_aiaj[o]) / 2.0)
        threshold = (tau * math.sqrt(math.pi / 2.0) + k * torch.sqrt((2.0 - math.pi / 2.0) * tau**2)) / 1.7
        threshold = threshold.to(dtype=image.dtype, device=image.device)
        energy_all += (energy - threshold[:, None, None]).clamp(min=0.0)
        amplitude_all += torch.sqrt(even**2 + odd**2).sum(dim=1)

    energy_all, amplitude_all = energy_all[:, None], amplitude_all[:, None]
    pc = energy_all / amplitude_all
    return torch.where(amplitude_all > 0, pc, torch.zeros_like(pc))
