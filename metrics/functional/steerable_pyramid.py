"""Complex steerable pyramid built in the frequency domain (torch.fft), batched over N×C×H×W tensors.

The construction follows the one described by Portilla & Simoncelli (IJCV 40(1), 2000) and used by the
``buildSCFpyr`` routine of Simoncelli's matlabPyrTools, on which the official CW-SSIM code relies:

* the spectrum (centred as by ``fftshift``) is split by a raised-cosine transition in log2-radius, one octave
  wide, into a high-pass residual ``H0`` and a low-pass ``L0`` with ``H0² + L0² = 1``;
* every level splits its low-pass spectrum with the next octave's transition into a band-pass ``H`` and a
  low-pass ``L`` (``H² + L² = 1``); the band-pass is cut into ``nbands`` orientations by the one-sided
  ("analytic") angular masks ``2·sqrt(c)·cos(θ-θ_b)^order`` on the half-plane around ``θ_b = π·b/nbands``,
  times ``(-i)^order``; ``c`` normalises the sum of the squared two-sided masks to one;
* the low-pass spectrum is cropped to its central half (the down-sampling by two) before the next level.

The radial and angular profiles are sampled into look-up tables and evaluated with linear interpolation, as
matlabPyrTools' ``rcosFn``/``pointOp`` do (256-step raised cosine, 1024-step angular table), so the bands equal
those of ``buildSCFpyr`` to rounding. Bands are returned in the units of that routine (each band is the inverse
DFT, at its own size, of the full-size DFT values it keeps).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

import torch

_RCOS_STEPS = 256  # samples in the raised-cosine look-up table (rcosFn)
_ANGLE_LUT = 1024  # samples per π in the angular look-up table


@dataclass
class SteerablePyramid:
    """A complex steerable pyramid of an N×C×H×W real image batch.

    ``highpass``: N×C×H×W real residual (None when not asked for). ``bands[k]``: N×C×B×h_k×w_k complex bands of level ``k`` (level 0 is
    the finest). ``lowpass``: real low-pass residual at the coarsest size.
    """

    highpass: torch.Tensor | None
    bands: list[torch.Tensor | None]
    lowpass: torch.Tensor
    order: int
    twidth: float
    lut: bool = True


def point_op(x: torch.Tensor, lut: torch.Tensor, origin: float, increment: float) -> torch.Tensor:
    """Piecewise-linear look-up of ``x`` in ``lut`` sampled at ``origin + increment·k`` (end segments extrapolate)."""
    pos = (x - origin) / increment
    index = torch.floor(pos).clamp_(0, lut.numel() - 2)
    frac = pos - index
    index = index.long()
    lo, hi = lut[index], lut[index + 1]
    return lo + (hi - lo) * frac


def _raised_cosine(width: float, position: float, dtype: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, Y): cos² transition from 0 to 1 over [position - width/2, position + width/2], ends repeated."""
    x = math.pi * torch.arange(-_RCOS_STEPS - 1, 2, dtype=torch.float64) / (2 * _RCOS_STEPS)
    y = torch.cos(x) ** 2
    y[0] = y[1]
    y[-1] = y[-2]
    x = position + (2 * width / math.pi) * (x + math.pi / 4)
    return x.to(dtype=dtype, device=device), y.to(dtype=dtype, device=device)


def _polar_grid(h: int, w: int, dtype: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """log2 radius and angle of every frequency of an h×w ``fftshift``-centred spectrum (Nyquist = 1)."""
    cy, cx = h // 2, w // 2
    yr = (torch.arange(h, dtype=dtype, device=device) - cy) / (h / 2)
    xr = (torch.arange(w, dtype=dtype, device=device) - cx) / (w / 2)
    yy, xx = torch.meshgrid(yr, xr, indexing="ij")
    angle = torch.atan2(yy, xx)
    rad = torch.sqrt(xx**2 + yy**2)
    rad[cy, cx] = rad[cy, cx - 1] if w > 1 else rad[cy - 1, cx] if h > 1 else 1.0
    return torch.log2(rad), angle


def _angular_lut(order: int, dtype: torch.dtype, device) -> tuple[torch.Tensor, float, float]:
    """One-sided angular profile 2·sqrt(c)·cos(x)^order on |x| < π/2 (mod 2π), sampled on [-2π, π]."""
    nbands = order + 1
    x = math.pi * torch.arange(-(2 * _ANGLE_LUT + 1), _ANGLE_LUT + 2, dtype=torch.float64) / _ANGLE_LUT
    const = (2 ** (2 * order)) * (math.factorial(order) ** 2) / (nbands * math.factorial(2 * order))
    alpha = torch.remainder(math.pi + x, 2 * math.pi) - math.pi
    y = 2 * math.sqrt(const) * torch.cos(x) ** order * (alpha.abs() < math.pi / 2)
    return y.to(dtype=dtype, device=device), float(x[0]), math.pi / _ANGLE_LUT


def _crop_box(h: int, w: int) -> tuple[slice, slice]:
    """The central (ceil((h-0.5)/2), ceil((w-0.5)/2)) block of a centred spectrum, as buildSCFpyr crops it."""

    def one(n: int) -> slice:
        ctr = math.ceil((n + 0.5) / 2)
        lo_n = math.ceil((n - 0.5) / 2)
        lo_ctr = math.ceil((lo_n + 0.5) / 2)
        start = ctr - lo_ctr  # 0-based
        return slice(start, start + lo_n)

    return one(h), one(w)


class _Profiles:
    """The radial transition (high/low) and angular profiles, from look-up tables or evaluated exactly."""

    def __init__(self, order: int, twidth: float, lut: bool, dtype: torch.dtype, device) -> None:
        self.order, self.twidth, self.lut = order, twidth, lut
        self.nbands = order + 1
        self.const = (2 ** (2 * order)) * (math.factorial(order) ** 2) / (self.nbands * math.factorial(2 * order))
        if lut:
            xr, yr = _raised_cosine(twidth, -twidth / 2, dtype, device)
            self.rad_origin, self.rad_step = float(xr[0]), float(xr[1] - xr[0])
            self.yr = torch.sqrt(yr)
            self.yi = torch.sqrt((1.0 - self.yr**2).clamp(min=0))
            self.ang, self.ang_origin, self.ang_step = _angular_lut(order, dtype, device)
        else:
            self.rad_origin = -twidth  # left end of the transition at the top level

    def radial(self, log_rad: torch.Tensor, shift: float, high: bool) -> torch.Tensor:
        """The high (or low) side of the transition centred at ``-twidth/2 - shift`` octaves."""
        if self.lut:
            return point_op(log_rad, self.yr if high else self.yi, self.rad_origin - shift, self.rad_step)
        phase = ((log_rad + shift + self.twidth / 2) * math.pi / (2 * self.twidth) - math.pi / 4)
        phase = phase.clamp(-math.pi / 2, 0.0)
        return torch.cos(phase) if high else torch.sin(-phase)

    def angular(self, angle: torch.Tensor, b: int) -> torch.Tensor:
        """One-sided angular mask of orientation ``b`` (centred on π·b/nbands)."""
        offset = math.pi * b / self.nbands
        if self.lut:
            return point_op(angle, self.ang, self.ang_origin + offset, self.ang_step)
        delta = torch.remainder(angle - offset + math.pi, 2 * math.pi) - math.pi
        return 2 * math.sqrt(self.const) * torch.cos(delta) ** self.order * (delta.abs() < math.pi / 2)


def _masks(h: int, w: int, height: int, order: int, twidth: float, lut: bool, dtype: torch.dtype, device,
           kept: Collection[int] | None = None):
    """Every frequency mask of the pyramid for an h×w input; with ``kept`` (0-based levels) only those levels'
    band masks (the others are None)."""
    log_rad, angle = _polar_grid(h, w, dtype, device)
    prof = _Profiles(order, twidth, lut, dtype, device)
    lo0 = prof.radial(log_rad, 0.0, high=False)
    hi0 = prof.radial(log_rad, 0.0, high=True)
    levels = []
    for level in range(1, height + 1):  # each level moves the transition one octave down
        bandmask = None
        if kept is None or level - 1 in kept:
            himask = prof.radial(log_rad, float(level), high=True)
            bandmask = torch.stack([prof.angular(angle, b) for b in range(prof.nbands)]) * himask
        crop = _crop_box(*log_rad.shape)
        log_rad, angle = log_rad[crop], angle[crop]
        lomask = prof.radial(log_rad, float(level), high=False)
        levels.append((bandmask, crop, lomask))
    return lo0, hi0, levels


@lru_cache(maxsize=2)
def _partial_masks(h: int, w: int, height: int, order: int, twidth: float, lut: bool, dtype: torch.dtype,
                   kept: frozenset[int]):
    """:func:`_masks` with ``kept`` levels, on the CPU, built once per size (callers must not modify them)."""
    return _masks(h, w, height, order, twidth, lut, dtype, "cpu", kept)


def _centred_spectrum_crop(x: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    """``fftshift(fft2(x))[..., rows, cols]`` of a real ``x`` for a central block of at most half the width,
    from a half-width FFT along the rows restricted to the block's columns, then a FFT along the columns
    (3/8 of a full FFT's work). Negative column frequencies come from the conjugate symmetry of a real image's
    spectrum, X[ky, -kx] = conj(X[-ky, kx])."""
    h, w = x.shape[-2:]
    ky = torch.arange(rows.start, rows.stop) - h // 2
    kx = torch.arange(cols.start, cols.stop) - w // 2
    half = torch.fft.fft(torch.fft.rfft(x, dim=-1)[..., : int(kx.abs().max()) + 1], dim=-2)  # X[ky, 0..kmax]
    negative = kx < 0  # kx increases along the block: its negative frequencies come first
    left = half[..., (-ky) % h, :][..., -kx[negative]].conj()
    right = half[..., ky % h, :][..., kx[~negative]]
    return torch.cat([left, right], dim=-1)


def build_scf_pyramid(
    x: torch.Tensor,
    height: int,
    order: int = 3,
    twidth: float = 1.0,
    lut: bool = True,
    keep_levels: Collection[int] | None = None,
    highpass: bool = True,
) -> SteerablePyramid:
    """Complex steerable pyramid of ``x`` (N×C×H×W real) with ``height`` levels and ``order + 1`` orientations.

    Masks are computed in ``x``'s dtype (use float64 for reference-grade results). ``lut=True`` samples the
    profiles from look-up tables as matlabPyrTools does; ``lut=False`` evaluates them exactly (then the pyramid
    is a tight frame and :func:`reconstruct_scf_pyramid` inverts it to rounding error). ``keep_levels`` (0-based)
    limits which levels' bands are synthesised (the others are left as ``None``), to save inverse FFTs; then
    the masks are built in float64 once per image size (a small cache) and only the kept levels' band masks.
    ``highpass=False`` skips the high-pass residual; without it and without level 0, only the central quarter
    of the spectrum is ever used, and only that part is computed (see :func:`_centred_spectrum_crop`).
    """
    h, w = x.shape[-2:]
    max_height = int(math.floor(math.log2(min(h, w)))) - 2
    if height < 1 or height > max_height:
        raise ValueError(f"a {h}×{w} image allows 1 to {max_height} pyramid levels, asked for {height}")
    if not 0 <= order <= 15:
        raise ValueError(f"order must be in [0, 15], got {order}")
    if keep_levels is None:
        lo0, hi0, levels = _masks(h, w, height, order, twidth, lut, x.dtype, x.device)
    else:
        cached = _partial_masks(h, w, height, order, twidth, lut, torch.float64, frozenset(keep_levels))
        convert = lambda t: None if t is None else t.to(dtype=x.dtype, device=x.device)  # noqa: E731
        lo0, hi0 = convert(cached[0]), convert(cached[1])
        levels = [(convert(band), crop, convert(low)) for band, crop, low in cached[2]]
    phase = (-1j) ** order
    bands: list[torch.Tensor | None] = []
    high = None
    first = 0
    if not highpass and 0 not in (keep_levels if keep_levels is not None else {0}):
        # Level 0 keeps no band: only the central block its low-pass crop keeps is needed.
        _, crop, lomask = levels[0]
        lodft = _centred_spectrum_crop(x, *crop) * lo0[crop] * lomask
        bands.append(None)
        first = 1
    else:
        spectrum = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
        if highpass:
            high = torch.fft.ifft2(torch.fft.ifftshift(spectrum * hi0, dim=(-2, -1))).real
        lodft = spectrum * lo0
    for level in range(first, height):
        bandmask, crop, lomask = levels[level]
        if keep_levels is None or level in keep_levels:
            banddft = lodft.unsqueeze(-3) * (bandmask * phase)
            bands.append(torch.fft.ifft2(torch.fft.ifftshift(banddft, dim=(-2, -1))))
        else:
            bands.append(None)
        lodft = lodft[..., crop[0], crop[1]] * lomask
    lowpass = torch.fft.ifft2(torch.fft.ifftshift(lodft, dim=(-2, -1))).real
    return SteerablePyramid(high, bands, lowpass, order=order, twidth=twidth, lut=lut)


def reconstruct_scf_pyramid(pyr: SteerablePyramid) -> torch.Tensor:
    """Invert :func:`build_scf_pyramid` for a real input (to rounding with ``lut=False``, ~1e-5 with tables).

    Each band spectrum is multiplied by its conjugate mask; the real part of the result restores the two-sided
    filters (each one-sided mask's squared two-sided average sums to one over the orientations).
    """
    if any(band is None for band in pyr.bands) or pyr.highpass is None:
        raise ValueError("cannot reconstruct a pyramid built with keep_levels or without its high-pass")
    h, w = pyr.highpass.shape[-2:]
    height = len(pyr.bands)
    dtype = pyr.highpass.dtype
    lo0, hi0, levels = _masks(h, w, height, pyr.order, pyr.twidth, pyr.lut, dtype, pyr.highpass.device)
    shift = lambda t: torch.fft.fftshift(torch.fft.fft2(t), dim=(-2, -1))  # noqa: E731
    unshift = lambda t: torch.fft.ifft2(torch.fft.ifftshift(t, dim=(-2, -1)))  # noqa: E731
    lodft = shift(pyr.lowpass)
    phase = (-1j) ** pyr.order
    for level in range(height - 1, -1, -1):
        bandmask, crop, lomask = levels[level]
        parent_shape = bandmask.shape[-2:]
        full = torch.zeros(*lodft.shape[:-2], *parent_shape, dtype=lodft.dtype, device=lodft.device)
        full[..., crop[0], crop[1]] = lodft * lomask
        band_sum = (shift(pyr.bands[level]) * (bandmask * phase).conj()).sum(dim=-3)
        # The real part of a spatial band pairs f with -f; its spectrum is (D(f) + conj(D(-f))) / 2.
        band_real = shift(unshift(band_sum).real)
        lodft = full + band_real * 0.5
    spectrum = lodft * lo0 + shift(pyr.highpass) * hi0
    return unshift(spectrum).real
