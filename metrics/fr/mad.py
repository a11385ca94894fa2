"""Most apparent distortion (MAD).

Larson & Chandler, "Most apparent distortion: full-reference image quality assessment and the role of
strategy", Journal of Electronic Imaging 19(1), 011006, 2010.

Three variants share the model below; the registered default is ``variant="port", channel="rgb"``, the one
that reproduces the calibration table.

``variant="matlab"`` follows the authors' ``MAD_index.m``. Both strategies work on the grey image (0..255 scale,
see ``channel``):

* detection (d_detect, ``hi_index``): luminance L = k·x^(2.2/3) (k = 0.02874, i.e. b = 0, gamma 2.2, cube
  root), filtered in the frequency domain by the contrast sensitivity function of ``make_csf`` (32 cycles per
  degree over the image width, with the authors' half-sample-offset grid); local statistics of the 16×16 blocks
  at stride 4 as the authors' ``ical_std`` MEX (sample std of the error, mean of the reference, and the
  reference's "modified" std: the smallest 8×8 sample std among the block's start and its +4 neighbours, with
  the MEX's bounds rule), each block's value filling its 4×4 tile; the log-contrast visibility mask times the
  local MSE of the grey images (16×16 box, MATLAB ``imfilter(..., 'symmetric', 'same', 'conv')``), RMS over
  the image without 16/17-pixel borders, ×200;
* appearance (d_appear, ``lo_index``): log-Gabor decomposition (5 scales, wavelengths 3·3^s, sigmaOnf 0.55;
  4 orientations, dThetaOnSigma 1.5) of Kovesi's ``gaborconvolve``; std, skewness and kurtosis of |EO| over the
  same 16×16 blocks (``ical_stat``); the map Σ w_s (|Δstd| + 2|Δskew| + |Δkurt|), w = [0.5 0.75 1 5 6]/13.25;
  RMS over the same interior;
* MAD = d_detect^α · d_appear^(1-α), α = 1 / (1 + β1·d_detect^β2), β1 = exp(-2.55/3.35) ≈ 0.467,
  β2 = 1/(3.35 ln 10) ≈ 0.130.

``MAD_index.m``'s block statistics are computed from float64 power sums over separable 16-tap window sums (one
pass instead of the MEX's two; the difference is at the 1e-10 level on natural images).

``variant="port"`` is the PyTorch port (IQA-optimization, later pyiqa; pyiqa notes that "the original MAD matlab
script is not available"). It differs from ``MAD_index.m`` in: statistics on the compact stride-4 block grid with
population std + 1e-12, the reference std min-pooled over a 2×2 grid window (the window ending at each block, edges
ignored) and halved instead of the 8×8 modified std, the CSF laid out W×H and read back as H×W, |dst| in the
luminance step, the local MSE as a 'valid' 16×16 stride-4 mean, no border removal, the log-Gabor radius fudge one
pixel off-centre, |EO| = sqrt(re² + im² + 1e-12), skewness/excess kurtosis from population moments, and the scale
weights indexed by orientation. It runs in float32 (the FFTs, and the block statistics as 4×4-group central sums
merged pairwise into the 16×16 blocks, stable in float32 where raw power sums are not); ``variant="matlab"`` runs
in float64. On a multi-channel input (``channel="rgb"``: R, G, B ×255, what pyiqa's ``mad`` metric runs by default,
``test_y_channel=False``) each channel goes through the model separately, except that the port lists every block
statistic block-major (blocks in row-major order, the three channels of each block together) and reshapes that list
of 3·B values channel-major: plane c of each statistic map holds entries c·B .. (c+1)·B - 1 of the list (B blocks
per plane), i.e. about a third of the blocks with their channels interleaved. The local MSE is not reshaped and
stays per channel, so the visibility mask and the MSE it weights no longer refer to the same block. The three
per-channel MAD values are averaged. With one plane (``channel="gray"``, ``"yiq"``, ...) the reshape is the
identity.

Calibration (5 TID2013 pairs, ``official_scores.csv`` row ``mad`` = 195.2796, 80.8379, 30.3918, 84.3542, 202.2371):
calibrated with the default ``variant="port", channel="rgb"``, which gives 195.2796, 80.8379, 30.3918, 84.3542,
202.2371 (relative errors 8.9e-8, 1.2e-7, 1.0e-6, 4.3e-7, 2.0e-7 in float32, as pyiqa runs; 6.9e-7 at most when the
port was computed in float64). Without the block-major reshape (plain per-channel RGB) the port gives 194.54, 69.85,
25.25, 94.84, 194.74 (up to 17 % off): the reshape is what makes the official I04/I06 scores non-zero. The other
variants stay available and are not calibrated. ``variant="matlab"`` (MAD_index.m on rgb2gray) gives 152.72, 0, 0,
88.07, 113.85: d_detect is exactly 0 on I04 and I06, whose errors stay below the visibility threshold everywhere, so
MAD = 0. ``variant="port"`` on the rounded Y of YIQ (``channel="yiq_round"``) gives 194.94, 0, 0, 91.62, 181.97,
matching to 1e-4 the values pyiqa's calibration page once published for its port on that input (194.9324, 0, 0,
91.6206, 181.9651).

Both public versions of the authors' code (``MAD_index_april_2010.m``; ``MAD_index.m`` 2011) convert any 3-D
input to grey first, so the official row does not come from the authors' MATLAB code on colour input.
"""

from __future__ import annotations

import math

import torch

from metrics.base import IQAMetric
from metrics.functional.color import rgb2gray, rgb2yiq
from metrics.functional.filters import filter2
from metrics.registry import Calibration, MetricSpec, Resources

BLOCK = 16
STRIDE = 4
K_LUM = 0.02874
GAMMA = 2.2
G_LUM = 0.5
C_SLOPE = 1.0
CI_THRESH = -5.0
CD_THRESH = -5.0
BETA1 = math.exp(-2.55 / 3.35)
BETA2 = 1.0 / (math.log(10.0) * 3.35)
SCALE_WEIGHTS = (0.5, 0.75, 1.0, 5.0, 6.0)
N_SCALES, N_ORIENT = 5, 4
MIN_WAVELENGTH, MULT, SIGMA_ON_F, D_THETA_ON_SIGMA = 3.0, 3.0, 0.55, 1.5


def _planes(x: torch.Tensor, channel: str) -> torch.Tensor:
    """The planes the model runs on, float64 on the 0..255 scale: N×1×H×W grey, or N×3×H×W for ``"rgb"``."""
    x = x.to(torch.float64)
    if channel == "rgb":
        return x * 255.0
    if channel == "gray":
        return rgb2gray(x, round_uint8=True) * 255.0
    if channel == "gray_float":
        return rgb2gray(x) * 255.0
    if channel == "yiq":
        return rgb2yiq(x)[:, :1] * 255.0
    if channel == "yiq_round":
        return torch.round(rgb2yiq(x)[:, :1] * 255.0)
    raise ValueError(f"mad: unknown channel {channel!r}")


def _window_sums(x: torch.Tensor, size: int) -> torch.Tensor:
    """Sums over the size×size windows starting every STRIDE pixels (last start at most H-16, W-16).

    The start grid is that of the MEX: starts 0, 4, ... while start <= dim - BLOCK, for every window size.
    """
    h, w = x.shape[-2:]
    rows = (h - BLOCK) // STRIDE + 1
    cols = (w - BLOCK) // STRIDE + 1
    x = x[..., : (cols - 1) * STRIDE + size].unfold(-1, size, STRIDE).sum(-1)
    return x[..., : (rows - 1) * STRIDE + size, :].unfold(-2, size, STRIDE).sum(-1)


def _block_moments(x: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and sum of squared deviations of every size×size block on the stride-4 start grid."""
    n = float(size * size)
    mean = _window_sums(x, size) / n
    ssd = (_window_sums(x * x, size) - n * mean * mean).clamp(min=0)
    return mean, ssd


def _tiles(grid: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Each block value fills its 4×4 tile, as the MEX writes its output; cropped/zero-filled to h×w."""
    t = grid.repeat_interleave(STRIDE, dim=-2).repeat_interleave(STRIDE, dim=-1)
    out = t.new_zeros(*t.shape[:-2], h, w)
    hh, ww = min(h, t.shape[-2]), min(w, t.shape[-1])
    out[..., :hh, :ww] = t[..., :hh, :ww]
    return out


def _interior_rms(mp: torch.Tensor) -> torch.Tensor:
    """``norm(mp(17:end-17, 17:end-17)(:)) / sqrt(numel)``."""
    inner = mp[..., BLOCK : mp.shape[-2] - BLOCK - 1, BLOCK : mp.shape[-1] - BLOCK - 1]
    return inner.pow(2).flatten(1).mean(dim=1).sqrt()


def make_csf(h: int, w: int, nfreq: float = 32.0, dtype=torch.float64, device=None) -> torch.Tensor:
    """``make_csf(h, w, nfreq)'``: the centred h×w CSF (zero frequency near the middle, half-sample offset)."""
    u = torch.arange(h, dtype=dtype, device=device) - h / 2 + 0.5
    v = torch.arange(w, dtype=dtype, device=device) - w / 2 + 0.5
    xr, yr = torch.meshgrid(u * (2 * nfreq / w), v * (2 * nfreq / w), indexing="ij")
    radfreq = torch.hypot(xr, yr)
    sym = 0.7
    radfreq = radfreq / ((1 - sym) / 2 * torch.cos(4 * torch.atan2(yr, xr)) + (1 + sym) / 2)
    csf = 2.6 * (0.0192 + 0.114 * radfreq) * torch.exp(-((0.114 * radfreq) ** 1.1))
    return torch.where(radfreq < 7.8909, torch.full_like(csf, 0.9809), csf)


def _log_gabor_filters(
    h: int, w: int, one_at: tuple[int, int], zero_at: tuple[int, int], eps: float, scale_major: bool, device=None
) -> torch.Tensor:
    """Kovesi's ``gaborconvolve`` log-Gabor bank (5 scales × 4 orientations), ``fftshift``-ed, in float64: 20×h×w.

    The two variants differ only in where the radius is set to one (``one_at``, so that ``log`` is finite) and
    the radial filter to zero (``zero_at``), in ``eps`` added to the radius before its log, and in the order
    (``scale_major``: MAD_index.m's; else the port's orientation-major order)."""
    dtype = torch.float64
    x = ((torch.arange(w, dtype=dtype, device=device) - w / 2) / (w / 2))[None, :].expand(h, w)
    y = ((torch.arange(h, dtype=dtype, device=device) - h / 2) / (h / 2))[:, None].expand(h, w)
    radius = torch.hypot(x, y).clone()
    radius[one_at] = 1.0
    log_radius = torch.log(radius + eps) if eps else torch.log(radius)
    theta = torch.atan2(-y, x)
    sin_t, cos_t = torch.sin(theta), torch.cos(theta)
    theta_sigma = math.pi / N_ORIENT / D_THETA_ON_SIGMA
    radials = []
    for s in range(N_SCALES):
        rfo = (1.0 / (MIN_WAVELENGTH * MULT**s)) / 0.5
        radial = torch.exp((log_radius - math.log(rfo)) ** 2 / -(2 * math.log(SIGMA_ON_F) ** 2))
        radial[zero_at] = 0.0
        radials.append(radial)
    spreads = []
    for o in range(N_ORIENT):
        angle = o * math.pi / N_ORIENT
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        spreads.append(torch.exp(-torch.atan2(ds, dc) ** 2 / (2 * theta_sigma**2)))
    if scale_major:
        pairs = [(r, sp) for r in radials for sp in spreads]
    else:
        pairs = [(r, sp) for sp in spreads for r in radials]
    return torch.stack([torch.fft.fftshift(r * sp) for r, sp in pairs])


def log_gabor_bank(h: int, w: int, device=None) -> torch.Tensor:
    """MAD_index.m's filters (scale-major), already ``fftshift``-ed: 20×h×w."""
    centre = ((h + 1) // 2, (w + 1) // 2)  # MATLAB round(rows/2+1), 0-based
    return _log_gabor_filters(h, w, centre, centre, 0.0, True, device)


class MAD(IQAMetric):
    min_size = 2 * BLOCK + 2

    def __init__(self, variant: str = "port", channel: str | None = None) -> None:
        """``channel`` defaults to ``"rgb"`` for the port (the calibrated default) and ``"gray"`` for MAD_index.m."""
        super().__init__()
        if variant not in ("port", "matlab"):
            raise ValueError(f"mad: variant must be 'port' or 'matlab', got {variant!r}")
        if channel is None:
            channel = "rgb" if variant == "port" else "gray"
        _planes(torch.zeros(1, 3, 1, 1), channel)  # validates the option
        if variant == "matlab" and channel == "rgb":
            raise ValueError("mad: variant 'matlab' works on one grey plane (MAD_index.m converts to grey)")
        self.variant = variant
        self.channel = channel
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _filters(self, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (h, w, str(device))
        if key not in self._cache:
            if self.variant == "port":
                # Complex64: the port filters in float32, and a complex filter multiplies fastest.
                filters = (
                    port_csf(h, w, device=device).to(torch.complex64),
                    port_gabor_bank(h, w, device=device).to(torch.complex64),
                )
            else:
                filters = (torch.fft.ifftshift(make_csf(h, w, device=device)), log_gabor_bank(h, w, device=device))
            self._cache = {key: filters}
        return self._cache[key]

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        h, w = dist.shape[-2:]
        csf, gabors = self._filters(h, w, dist.device)
        ref_p, dist_p = _planes(ref, self.channel), _planes(dist, self.channel)
        if self.variant == "port":
            d_detect = _port_detection(ref_p, dist_p, csf)  # N×C
            d_appear = _port_appearance(ref_p, dist_p, gabors)
        else:
            d_detect = self._detection(ref_p, dist_p, csf)  # N
            d_appear = self._appearance(ref_p, dist_p, gabors)
        alpha = 1.0 / (1.0 + BETA1 * d_detect**BETA2)
        mad = d_detect**alpha * d_appear ** (1 - alpha)
        return (mad.mean(dim=1) if mad.ndim == 2 else mad).float()

    @staticmethod
    def _detection(ref: torch.Tensor, dist: torch.Tensor, csf: torch.Tensor) -> torch.Tensor:
        h, w = ref.shape[-2:]
        lum = K_LUM * torch.cat([ref, dist]) ** (GAMMA / 3)
        lum = torch.fft.ifft2(torch.fft.fft2(lum) * csf).real
        lum_ref, lum_dist = lum.chunk(2)
        err = lum_dist - lum_ref
        _, ssd_err = _block_moments(err, BLOCK)
        std_err = (ssd_err / (BLOCK * BLOCK - 1)).sqrt()
        mean_ref, _ = _block_moments(lum_ref, BLOCK)
        _, ssd8 = _block_moments(lum_ref, BLOCK // 2)
        std_ref = _modified_std((ssd8 / (BLOCK * BLOCK // 4 - 1)).sqrt(), h, w)
        ci_ref = torch.log(std_ref / mean_ref)
        ci_dst = torch.log(std_err / mean_ref)
        ci_dst = torch.where(mean_ref < G_LUM, -math.inf, ci_dst)
        msk = _visibility(ci_ref, ci_dst)
        window = torch.full((BLOCK, BLOCK), 1.0 / BLOCK**2, dtype=ref.dtype, device=ref.device)
        lmse = filter2((ref - dist) ** 2, window, border="symmetric")
        return _interior_rms(_tiles(msk, h, w) * lmse) * 200.0

    @staticmethod
    def _appearance(ref: torch.Tensor, dist: torch.Tensor, gabors: torch.Tensor) -> torch.Tensor:
        n, _, h, w = ref.shape
        spectra = torch.fft.fft2(torch.cat([ref, dist]))  # 2N×1×H×W
        weights = torch.tensor(SCALE_WEIGHTS, dtype=ref.dtype, device=ref.device)
        weights = weights / weights.sum()
        mp = None
        for s in range(N_SCALES):
            bands = torch.fft.ifft2(spectra * gabors[s * N_ORIENT : (s + 1) * N_ORIENT]).abs()  # 2N×4×H×W
            std, skew, kurt = _block_stats(bands)
            (std_r, std_d), (sk_r, sk_d), (ku_r, ku_d) = std.chunk(2), skew.chunk(2), kurt.chunk(2)
            diff = (std_r - std_d).abs() + 2 * (sk_r - sk_d).abs() + (ku_r - ku_d).abs()
            term = weights[s] * diff.sum(dim=1, keepdim=True)
            mp = term if mp is None else mp + term
        assert mp is not None
        return _interior_rms(_tiles(mp, h, w))


def _visibility(ci_ref: torch.Tensor, ci_dst: torch.Tensor) -> torch.Tensor:
    """The visibility map: log-contrast of the error above the reference-dependent threshold, else 0."""
    sloped = C_SLOPE * (ci_ref - CI_THRESH) + CD_THRESH
    above = (ci_ref > CI_THRESH) & (ci_dst > sloped)
    flat = (ci_ref <= CI_THRESH) & (ci_dst > CD_THRESH)
    zero = torch.zeros_like(ci_dst)
    return torch.where(above, ci_dst - sloped, torch.where(flat, ci_dst - CD_THRESH, zero))


def _modified_std(std8: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``ical_std``'s modified std: min over the block's 8×8 std and its +4 neighbours that the MEX reads.

    The MEX reads the neighbour at +5 pixels (inside the next tile) only while that position is
    < dim - 15, so the neighbour start s + 4 counts when s + 5 <= dim - 16.
    """
    rows, cols = std8.shape[-2:]
    starts_r = torch.arange(rows, device=std8.device) * STRIDE
    starts_c = torch.arange(cols, device=std8.device) * STRIDE
    ok_r = (starts_r + 5 <= h - BLOCK)[:, None]
    ok_c = (starts_c + 5 <= w - BLOCK)[None, :]
    inf = torch.tensor(math.inf, dtype=std8.dtype, device=std8.device)
    padded = torch.nn.functional.pad(std8, (0, 1, 0, 1), value=math.inf)
    right = torch.where(ok_c, padded[..., :rows, 1:], inf)
    down = torch.where(ok_r, padded[..., 1:, :cols], inf)
    diag = torch.where(ok_r & ok_c, padded[..., 1:, 1:], inf)
    return torch.minimum(torch.minimum(std8, right), torch.minimum(down, diag))


def _block_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``ical_stat``: sample std, skewness and kurtosis (population moments) of the 16×16 blocks."""
    n = float(BLOCK * BLOCK)
    m1 = _window_sums(x, BLOCK) / n
    x2 = x * x
    m2 = _window_sums(x2, BLOCK) / n
    m3 = _window_sums(x2 * x, BLOCK) / n
    m4 = _window_sums(x2 * x2, BLOCK) / n
    mu2 = m1 * m1
    var = (m2 - mu2).clamp(min=0)  # population variance
    c3 = m3 - 3 * m1 * m2 + 2 * m1 * mu2
    c4 = m4 - 4 * m1 * m3 + 6 * mu2 * m2 - 3 * mu2 * mu2
    flat = var <= 1e-12 * m2
    safe = torch.where(flat, torch.ones_like(var), var)
    skew = torch.where(flat, 0.0, c3 / safe**1.5)
    kurt = torch.where(flat, 0.0, c4 / (safe * safe))
    std = (var * (n / (n - 1))).sqrt()
    return std, skew, kurt


# --------------------------------------------------------------------------------------------------------------
# The reference port's behaviour (variant="port"): with channel="rgb", what produced the official table's values.


def _grid_sums(x: torch.Tensor) -> torch.Tensor:
    """Sums over the 16×16 blocks at stride 4, on the compact (H-12)//4 × (W-12)//4 grid."""
    x = x.unfold(-1, BLOCK, STRIDE).sum(-1)
    return x.unfold(-2, BLOCK, STRIDE).sum(-1)


def _port_moments(x: torch.Tensor, higher: bool) -> tuple[torch.Tensor, ...]:
    """Mean and population std (sqrt(var + 1e-12)); with ``higher`` also skewness and excess kurtosis.

    The port's block statistics from raw power sums: the definition, exact enough in float64 only (the port path
    computes them in float32 with ``_group_stats`` and ``_block_moments_merged``; the tests compare the two).
    """
    n = float(BLOCK * BLOCK)
    m1 = _grid_sums(x) / n
    x2 = x * x
    m2 = _grid_sums(x2) / n
    mu2 = m1 * m1
    std = ((m2 - mu2).clamp(min=0) + _EPS).sqrt()
    if not higher:
        return m1, std
    m3 = _grid_sums(x2 * x) / n
    m4 = _grid_sums(x2 * x2) / n
    c3 = m3 - 3 * m1 * m2 + 2 * m1 * mu2
    c4 = m4 - 4 * m1 * m3 + 6 * mu2 * m2 - 3 * mu2 * mu2
    s2 = std * std
    return m1, std, c3 / (s2 * std), c4 / (s2 * s2) - 3.0


_EPS = 1e-12


def _block_major(grid: torch.Tensor) -> torch.Tensor:
    """N×C×R×Q block-grid values stored block-major (block, then channel) and read back as N×C×R×Q.

    The port collects each statistic as one value per (block, channel), blocks outer, and reshapes that sequence
    to channel × rows × cols; for C > 1 this moves values across channels and blocks. Identity for C = 1.
    """
    n, c, r, q = grid.shape
    return grid.permute(0, 2, 3, 1).reshape(n, c, r, q)


def port_csf(h: int, w: int, device=None) -> torch.Tensor:
    """The port's CSF multiplier on the unshifted spectrum: ``make_csf`` laid out W×H, read back as H×W."""
    csf = make_csf(h, w, device=device)
    return torch.fft.ifftshift(csf.T.reshape(h, w))


def port_gabor_bank(h: int, w: int, device=None) -> torch.Tensor:
    """The port's log-Gabor bank (20×H×W, orientation-major): its radius fudge lands one pixel off-centre."""
    one_at = (_round_half_even(h / 2 + 1), _round_half_even(w / 2 + 1))
    zero_at = (_round_half_even(h / 2), _round_half_even(w / 2))
    return _log_gabor_filters(h, w, one_at, zero_at, _EPS, False, device)


def _round_half_even(v: float) -> int:
    return int(round(v))  # Python's round is half-to-even, as numpy's


#: Complex elements per inverse-FFT batch of the appearance step, per thread (16 MiB in complex64): chunks are
#: larger with more threads so that a multi-threaded run keeps few (costly to synchronise) parallel ops.
_CHUNK = 1 << 21
#: Elements per row band (and per thread) of the post-FFT statistics: the band's temporaries (1 MiB in float32 per
#: thread) stay in cache and are recycled by the allocator instead of faulting in fresh pages for every
#: full-size intermediate. Per thread, so that multi-threaded runs keep few (costly to synchronise) parallel ops.
_BAND = 1 << 18


def _port_detection(ref: torch.Tensor, dist: torch.Tensor, csf: torch.Tensor) -> torch.Tensor:
    """d_detect per plane (N×C), in float32 as the port runs (block statistics merged stably, see _merge)."""
    ref, dist = ref.to(torch.float32), dist.to(torch.float32)
    lum = K_LUM * (torch.cat([ref, dist.abs()]) + _EPS) ** (GAMMA / 3)
    lum = torch.fft.ifft2(torch.fft.fft2(lum) * csf.to(torch.complex64)).real
    lum_ref, lum_dist = lum.chunk(2)
    mean_ref, s2_ref = _block_moments_merged(_group_stats(lum_ref, higher=False))
    _, s2_err = _block_moments_merged(_group_stats(lum_dist - lum_ref, higher=False))
    mean_ref, std_ref, std_err = (_block_major(t) for t in (mean_ref, (s2_ref + _EPS).sqrt(), (s2_err + _EPS).sqrt()))
    # 2×2 min-pool of the block grid (window ending at each block, edges ignored), halved.
    padded = torch.nn.functional.pad(std_ref, (1, 0, 1, 0), value=math.inf)
    std_ref = torch.minimum(
        torch.minimum(padded[..., 1:, 1:], padded[..., :-1, 1:]),
        torch.minimum(padded[..., 1:, :-1], padded[..., :-1, :-1]),
    ) / 2
    ci_ref = torch.log(((std_ref + _EPS) / (mean_ref + _EPS)).abs())
    ci_dst = torch.log(((std_err + _EPS) / (mean_ref + _EPS)).abs())
    ci_dst = torch.where(mean_ref < G_LUM, -1000.0, ci_dst)
    msk = _visibility(ci_ref, ci_dst)
    lmse = _block_sums((ref - dist).square()) / float(BLOCK * BLOCK)  # per channel: not read back block-major
    return (msk * lmse).pow(2).flatten(2).mean(dim=2).sqrt() * 200.0  # N×C


def _port_appearance(ref: torch.Tensor, dist: torch.Tensor, gabors: torch.Tensor) -> torch.Tensor:
    """d_appear per plane (N×C): the map of every plane, then read back block-major.

    float32 throughout, as the port. The 20 filters multiply the spectra of all planes in chunks of at most
    ``_CHUNK`` complex elements, through two buffers reused by every chunk.
    """
    n, c, h, w = ref.shape
    planes = n * c
    spectra = torch.fft.fft2(torch.stack([ref, dist]).reshape(2, planes, h, w).to(torch.float32))
    gabors = gabors.to(torch.complex64)  # a complex filter multiplies ~10× faster than a broadcast real one
    weights = torch.tensor(SCALE_WEIGHTS, dtype=torch.float32, device=ref.device)
    # The port weights by the orientation index (its loops name orientations gb_i); the bank is orientation-major.
    weights = (weights / weights.sum())[:N_ORIENT].repeat_interleave(N_SCALES)
    per_filter = max(1, _CHUNK * torch.get_num_threads() // (2 * h * w))
    step_p = min(planes, per_filter)
    step_f = min(gabors.shape[0], max(1, per_filter // step_p))
    product = spectra.new_empty(2, step_p, step_f, h, w)
    bands = torch.empty_like(product)
    maps = []
    for p0 in range(0, planes, step_p):
        spec = spectra[:, p0 : p0 + step_p, None]  # 2×P×1×H×W
        mp = None
        for f0 in range(0, gabors.shape[0], step_f):
            filt = gabors[f0 : f0 + step_f]
            shape = (2, spec.shape[1], filt.shape[0], h, w)
            if product.shape != shape:  # the last chunk of planes or filters
                product, bands = spectra.new_empty(shape), spectra.new_empty(shape)
            torch.fft.ifft2(torch.mul(spec, filt, out=product), out=bands)
            _, s2, s3, s4 = _block_moments_merged(_group_stats(bands, higher=True))
            std = (s2 + _EPS).sqrt()
            var = std * std
            skew, kurt = s3 / (var * std), s4 / (var * var) - 3.0
            diff = (std[0] - std[1]).abs() + 2 * (skew[0] - skew[1]).abs() + (kurt[0] - kurt[1]).abs()
            term = torch.einsum("pkrq,k->prq", diff, weights[f0 : f0 + step_f])
            mp = term if mp is None else mp + term
        maps.append(mp)
    mp = torch.cat(maps).reshape(n, c, *maps[0].shape[-2:])
    # The map is elementwise in the statistics, so reading it back block-major equals doing so for each of them.
    return _block_major(mp).pow(2).flatten(2).mean(dim=2).sqrt()  # N×C


def _group_sums(x: torch.Tensor) -> torch.Tensor:
    """Sums over the non-overlapping 4×4 groups of an H×W map whose sides are multiples of 4."""
    g = x.unflatten(-2, (x.shape[-2] // STRIDE, STRIDE)).sum(-2)
    return g[..., 0::4] + g[..., 1::4] + g[..., 2::4] + g[..., 3::4]


def _block_sums(x: torch.Tensor) -> torch.Tensor:
    """``_grid_sums`` through the 4×4 group sums: each 16×16 block at stride 4 is 4×4 groups."""
    g = _group_sums(x[..., : x.shape[-2] // STRIDE * STRIDE, : x.shape[-1] // STRIDE * STRIDE])
    g = g[..., :-3] + g[..., 1:-2] + g[..., 2:-1] + g[..., 3:]
    return g[..., :-3, :] + g[..., 1:-2, :] + g[..., 2:-1, :] + g[..., 3:, :]


def _group_stats(x: torch.Tensor, higher: bool) -> tuple[torch.Tensor, ...]:
    """Mean and central power sums (Σd², and with ``higher`` Σd³, Σd⁴) of every 4×4 group of an H×W map.

    A complex ``x`` stands for its magnitude sqrt(re² + im² + 1e-12). Groups are independent, so the map is
    processed in bands of rows (``_BAND`` elements) and the group-resolution results are concatenated.
    """
    h, w = x.shape[-2] // STRIDE * STRIDE, x.shape[-1] // STRIDE * STRIDE
    per_row = max(1, x[..., 0, :w].numel())
    rows = max(STRIDE, _BAND * torch.get_num_threads() // per_row // STRIDE * STRIDE)
    parts: list[tuple[torch.Tensor, ...]] = []
    for r0 in range(0, h, rows):
        band = x[..., r0 : min(h, r0 + rows), :w]
        if band.is_complex():
            sq = torch.view_as_real(band).square()
            band = (sq[..., 0] + sq[..., 1]).add_(_EPS).sqrt_()
        mean = _group_sums(band) / float(STRIDE * STRIDE)
        along_w = mean[..., None].expand(*mean.shape, STRIDE).flatten(-2)  # each group mean repeated 4× along W
        d = (band.unflatten(-2, (band.shape[-2] // STRIDE, STRIDE)) - along_w[..., :, None, :]).flatten(-3, -2)
        d2 = d * d
        part = (mean, _group_sums(d2))
        if higher:
            part += (_group_sums(d2 * d), _group_sums(d2 * d2))
        parts.append(part)
    return tuple(torch.cat(ts, dim=-2) for ts in zip(*parts))


def _merge(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...], n: float) -> tuple[torch.Tensor, ...]:
    """Mean and central power sums (Σ(x-μ)², [Σ(x-μ)³, Σ(x-μ)⁴]) of the union of two sets of n samples each.

    The pairwise update of Chan et al. / Pébay (2008) with equal counts: it only ever adds central quantities,
    so float32 keeps the precision of the data even where a block is nearly flat (raw power sums do not).
    """
    mu_a, s2a = a[:2]
    mu_b, s2b = b[:2]
    d = mu_b - mu_a
    d2 = d * d
    merged = (mu_a + 0.5 * d, s2a + s2b + d2 * (n / 2))
    if len(a) == 2:
        return merged
    s3a, s4a = a[2:]
    s3b, s4b = b[2:]
    s3 = s3a + s3b + 1.5 * d * (s2b - s2a)
    s4 = s4a + s4b + d2 * (d2 * (n / 8) + 1.5 * (s2a + s2b)) + 2 * d * (s3b - s3a)
    return merged + (s3, s4)


def _block_moments_merged(stats: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Group statistics merged into the 16×16 blocks at stride 4 (4×4 groups each, one group apart).

    Returns the block mean and the population central moments (Σd^k / 256) on the compact block grid, the same
    values as ``_port_moments`` computes from raw power sums.
    """
    n = float(STRIDE * STRIDE)
    for dim in (-1, -2):
        for shift in (1, 2):  # 1 → 2 → 4 groups along W, then along H
            size = stats[0].shape[dim]
            a = tuple(t.narrow(dim, 0, size - shift) for t in stats)
            b = tuple(t.narrow(dim, shift, size - shift) for t in stats)
            stats = _merge(a, b, n)
            n *= 2
    return (stats[0],) + tuple(t / n for t in stats[1:])


CALIBRATION = "pyiqa's PyTorch port of MAD on R, G, B, float32; max rel. error 1.0e-6"

SPECS = (
    MetricSpec(
        name="mad",
        mode="FR",
        lower_better=True,
        score_range=(0.0, float("inf")),
        paper=(
            "Larson & Chandler, Most apparent distortion: full-reference image quality assessment and the role "
            "of strategy, Journal of Electronic Imaging 19(1), 2010"
        ),
        calibration=Calibration.CALIBRATED,
        calibration_detail=CALIBRATION,
        ideal_score=0.0,
        factory=MAD,
        option_choices={"variant": ("port", "matlab"), "channel": ("rgb", "gray", "gray_float", "yiq", "yiq_round")},
        options={"variant": "port", "channel": "rgb"},
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=1500),
        calibration_key="mad",
    ),
)
