"""Visual saliency-induced index (VSI).

Zhang, Shen & Li, "VSI: a visual saliency-induced index for perceptual image quality assessment", IEEE Trans.
Image Processing 23(10), 2014; saliency by SDSP: Zhang, Gong & Zhang, "SDSP: a novel saliency detection method
by combining simple priors", ICIP 2013.

Two variants. The default, ``variant='reference'``, reproduces the values of the calibration table (see
below); ``variant='matlab'`` follows the authors' ``VSI.m``/SDSP as they describe it. SDSP: each RGB channel (0..255)
resized to 256×256 with MATLAB ``imresize(..., 'bilinear')`` (antialiased when shrinking,
``metrics.functional.imresize``), sRGB → CIELab (D50 white 0.9642/1/0.8251, CIE epsilon 0.008856, kappa
903.3), frequency prior = magnitude of the log-Gabor band-passed (omega0 0.021, sigmaF 1.34, zero beyond
normalised radius 0.5) L, a, b; location prior ``exp(-d^2 / 145^2)`` around (128, 128); colour prior
``1 - exp(-(a_n^2 + b_n^2) / 0.001^2)`` on min-max normalised a, b; their product resized back bilinearly and
min-max normalised to [0, 1]. VSI: LMN opponent colours (L = 0.06 R + 0.63 G + 0.27 B, M = 0.30 R + 0.04 G -
0.35 B, N = 0.34 R - 0.60 G + 0.17 B), the FSIM automatic down-sampling (F = max(1, round(min(H, W)/256)), F×F
average, every F-th pixel) of L, M, N and both saliency maps, Scharr gradient magnitude of L, and

    VSI = sum(S_VS · S_G^0.40 · real((S_M · S_N)^0.02) · VS_m) / sum(VS_m)

with S_X = (2 x y + C) / (x^2 + y^2 + C), C = 1.27 (saliency), 386 (gradient), 130 (M and N),
VS_m = max(VS_ref, VS_dist), and MATLAB's complex power for negative S_M·S_N. Computed in float64.

``variant='reference'`` (the default) reproduces the re-implementation that produced the reference values in
``official_scores.csv`` (Ding et al.'s IQA-optimization ``VSI.py``; the authors' values are not published). Found
by trying, it differs from the above in: SDSP at the image's own size (no 256×256 resize), XYZ multiplied
(not divided) by the D65 white 0.950456/1/1.088754 with the 6-decimal sRGB matrix, location prior centred on
0-based coordinates, frequencies at radius exactly 0.5 dropped, and |S_M · S_N|^0.02 instead of the real part.

Calibration (5 TID2013 pairs, 4 published decimals), measured:
- ``variant='matlab'``: largest relative error 1.28e-2 (I03 0.924424 vs 0.9139, I04 0.949691 vs 0.9620,
  I06 0.987606 vs 0.9922, I08 0.953862 vs 0.9571, I19 0.927203 vs 0.9262), inside the 0.01 + 1% tolerance;
  the gap is the difference between the two algorithms (mostly the 256×256 saliency), not an error.
- default ``variant='reference'``: largest relative error 7.7e-5 (I03 0.913829, I04 0.961970, I06 0.992202,
  I08 0.957113, I19 0.926219).
"""

from __future__ import annotations

import torch

from metrics.base import IQAMetric
from metrics.functional.imresize import imresize
from metrics.functional.similarity_maps import auto_downsample, real_power, scharr_magnitude, similarity
from metrics.registry import MetricSpec, Resources

C_VS, C_GM, C_CHROM = 1.27, 386.0, 130.0
ALPHA, LAMBDA = 0.40, 0.020
SIGMA_F, OMEGA_0, SIGMA_D, SIGMA_C = 1.34, 0.0210, 145.0, 0.001
SDSP_SIZE = 256
VARIANTS = ("matlab", "reference")

_LMN = (
    (0.06, 0.63, 0.27),
    (0.30, 0.04, -0.35),
    (0.34, -0.60, 0.17),
)
#: sRGB → XYZ as in SDSP's ``RGB2Lab`` (D50 white), and as in the re-implementation behind the reference values.
_RGB2XYZ = {
    "matlab": (
        (0.4124564, 0.3575761, 0.1804375),
        (0.2126729, 0.7151522, 0.0721750),
        (0.0193339, 0.1191920, 0.9503041),
    ),
    "reference": (
        (0.412453, 0.357580, 0.180423),
        (0.212671, 0.715160, 0.072169),
        (0.019334, 0.119193, 0.950227),
    ),
}
#: XYZ is divided by this white: D50 in SDSP; the reciprocal of D65 in the re-implementation (it multiplies).
_WHITE = {"matlab": (0.9642, 1.0, 0.8251), "reference": (1 / 0.950456, 1.0, 1 / 1.088754)}
_CIE_EPSILON, _CIE_KAPPA = 0.008856, 903.3


def _mix(x: torch.Tensor, rows: tuple[tuple[float, ...], ...]) -> torch.Tensor:
    return torch.einsum("oc,nchw->nohw", torch.tensor(rows, dtype=x.dtype, device=x.device), x)


def rgb255_to_lab(x: torch.Tensor, variant: str = "matlab") -> torch.Tensor:
    """SDSP's ``RGB2Lab``: N×3×H×W sRGB on 0..255 → CIELab (D50 white for ``variant='matlab'``)."""
    c = x / 255.0
    linear = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055).clamp(min=0.0) ** 2.4)
    white = torch.tensor(_WHITE[variant], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    xyz = _mix(linear, _RGB2XYZ[variant]) / white
    f = torch.where(xyz > _CIE_EPSILON, xyz.clamp(min=0.0) ** (1.0 / 3.0), (_CIE_KAPPA * xyz + 16.0) / 116.0)
    fx, fy, fz = f.unbind(dim=1)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def sdsp_log_gabor(rows: int, cols: int, dtype: torch.dtype, device: torch.device, keep_nyquist: bool = True):
    """SDSP's log-Gabor band-pass (zero frequency at [0, 0]; 0 at DC and beyond normalised radius 0.5).

    MATLAB zeroes frequencies with u1^2 + u2^2 > 0.25, keeping the radius-0.5 points (``keep_nyquist``).
    """
    u1 = (torch.arange(1, cols + 1, dtype=dtype, device=device) - (cols // 2 + 1)) / (cols - cols % 2)
    u2 = (torch.arange(1, rows + 1, dtype=dtype, device=device) - (rows // 2 + 1)) / (rows - rows % 2)
    r2 = torch.fft.ifftshift(u2[:, None] ** 2 + u1[None, :] ** 2)
    inside = r2 <= 0.25 if keep_nyquist else r2 < 0.25
    radius = torch.sqrt(r2)
    radius[0, 0] = 1.0
    lg = torch.exp(-(torch.log(radius / OMEGA_0) ** 2) / (2.0 * SIGMA_F**2))
    lg = torch.where(inside, lg, torch.zeros_like(lg))
    lg[0, 0] = 0.0
    return lg


def _minmax(x: torch.Tensor) -> torch.Tensor:
    """``mat2gray``: (x - min) / (max - min) per image and channel (0 where x is constant)."""
    lo = x.amin(dim=(-2, -1), keepdim=True)
    span = x.amax(dim=(-2, -1), keepdim=True) - lo
    safe = torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, (x - lo) / safe, torch.zeros_like(x))


def sdsp(x255: torch.Tensor, variant: str = "matlab") -> torch.Tensor:
    """SDSP saliency (N×1×H×W in [0, 1]) of N×3×H×W RGB images on the 0..255 scale.

    ``variant='matlab'`` works at 256×256 as SDSP does; ``'reference'`` at the image's own size, with the
    location prior centred on 0-based coordinates, as the re-implementation behind the reference values.
    """
    rows, cols = x255.shape[-2:]
    matlab = variant == "matlab"
    small = imresize(x255, (SDSP_SIZE, SDSP_SIZE), method="bilinear") if matlab else x255
    lab = rgb255_to_lab(small, variant)
    h, w = lab.shape[-2:]
    lg = sdsp_log_gabor(h, w, lab.dtype, lab.device, keep_nyquist=matlab)
    band = torch.fft.ifft2(torch.fft.fft2(lab) * lg).real
    frequency_prior = torch.sqrt((band**2).sum(dim=1, keepdim=True))
    first = 1.0 if matlab else 0.0
    ys = torch.arange(h, dtype=lab.dtype, device=lab.device) + first - h / 2
    xs = torch.arange(w, dtype=lab.dtype, device=lab.device) + first - w / 2
    location_prior = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / SIGMA_D**2)
    ab = _minmax(lab[:, 1:])
    colour_prior = 1.0 - torch.exp(-(ab**2).sum(dim=1, keepdim=True) / SIGMA_C**2)
    saliency = frequency_prior * location_prior * colour_prior
    if matlab:
        saliency = imresize(saliency, (rows, cols), method="bilinear")
    return _minmax(saliency)


class VSI(IQAMetric):
    #: Down-sampling and 3×3 gradients need a few pixels.
    min_size = 8

    def __init__(self, variant: str = "matlab") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"vsi: variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        both = torch.cat([ref, dist]).double() * 255.0
        vs_ref, vs_dist = auto_downsample(sdsp(both, self.variant)).chunk(2)
        lmn_ref, lmn_dist = auto_downsample(_mix(both, _LMN)).chunk(2)
        g_ref, g_dist = scharr_magnitude(lmn_ref[:, :1]), scharr_magnitude(lmn_dist[:, :1])
        s_vs = similarity(vs_ref, vs_dist, C_VS)
        s_g = similarity(g_ref, g_dist, C_GM)
        s_mn = similarity(lmn_ref[:, 1:2], lmn_dist[:, 1:2], C_CHROM) * similarity(
            lmn_ref[:, 2:3], lmn_dist[:, 2:3], C_CHROM
        )
        chroma = real_power(s_mn, LAMBDA) if self.variant == "matlab" else s_mn.abs() ** LAMBDA
        weight = torch.maximum(vs_ref, vs_dist)
        sim = s_vs * s_g**ALPHA * chroma
        weight_sum = weight.flatten(1).sum(dim=1)
        weighted = (sim * weight).flatten(1).sum(dim=1) / weight_sum
        uniform = sim.flatten(1).mean(dim=1)
        return torch.where(weight_sum > 0, weighted, uniform).float()


SPECS = (
    MetricSpec(
        name="vsi",
        mode="FR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=(
            "Zhang, Shen & Li, VSI: a visual saliency-induced index for perceptual image quality assessment, "
            "IEEE TIP 23(10), 2014; SDSP saliency: Zhang, Gong & Zhang, SDSP: a novel saliency detection "
            "method by combining simple priors, ICIP 2013"
        ),
        calibration=(
            "calibrated (max rel. error 7.7e-5; variant='matlab', VSI.m/SDSP as described, is within 1.3e-2)"
        ),
        ideal_score=1.0,
        factory=VSI,
        options={"variant": "reference"},
        resources=Resources(num_cpus=1.0, num_gpus=0.1, memory_mb=500),
        calibration_key="vsi",
    ),
)
