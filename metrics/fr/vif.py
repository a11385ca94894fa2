"""Visual information fidelity (VIF), wavelet domain, as the authors' ``vifvec.m``.

Sheikh & Bovik, "Image information and visual quality", IEEE Trans. Image Processing 15(2), 2006.

The image (MATLAB ``rgb2gray`` luma rounded to uint8, on the 0..255 scale) is decomposed by a 4-level steerable
pyramid with Simoncelli's ``sp5Filters`` (6 orientations, 'reflect1' borders, i.e. mirror without repeating the
edge pixel). Of each level, the orientations 1 and 4 are used (the 8 sub-bands 4, 7, ..., 25 of ``vifvec``).
For each sub-band, cropped to a multiple of M = 3:

* distortion channel (``vifsub_est_M``): gain g and noise variance of the regression dist ≈ g·ref over
  (2^lev+1)² box windows (lev = 1 for the coarsest level … 4 for the finest), sampled at the centres of the
  non-overlapping 3×3 blocks;
* reference GSM (``refparams_vecgsm``): covariance C_U of all (overlapping) 3×3 coefficient vectors, the
  multiplier field s² = xᵀ C_U⁻¹ x / 9 on non-overlapping blocks and the eigenvalues λ_j of C_U;
* information: Σ log2(1 + g² s² λ_j / (σ_v² + σ_n²)) over Σ log2(1 + s² λ_j / σ_n²), σ_n² = 0.4, after dropping
  ceil(2^(lev-1)/3) block rows/columns on each border.

The pixel-domain multi-scale ``vifp_mscale`` does not reproduce the official values (its largest relative error
on the five pairs is 300%: 0.070 vs 0.0172 on I03), so the metric is the wavelet-domain one.

A constant reference carries no information (both sums are 0): the score is then NaN, as MATLAB's 0/0.

Calibration (5 TID2013 pairs, ``official_scores.csv`` row ``vif``, official values to 4 decimals): ours are
0.017229, 0.989072, 0.992438, 0.910289, 0.174511 for I03, I04, I06, I08, I19, i.e. within 3.3e-5 absolute of
the table on every image; the largest relative error is 1.7e-3 (I03, 0.017229 vs 0.0172, the table's rounding),
the others are below 6.1e-5.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from metrics.base import IQAMetric
from metrics.functional.color import rgb2gray
from metrics.registry import Calibration, MetricSpec, Resources
from metrics.spec import above

#: Steerable pyramid filters ``sp5Filters`` (Simoncelli & Freeman 1995; Karasaridis & Simoncelli 1996).
_LO0 = (
    (0.00341614, -0.01551246, -0.03848215, -0.01551246, 0.00341614),
    (-0.01551246, 0.05586982, 0.15925570, 0.05586982, -0.01551246),
    (-0.03848215, 0.15925570, 0.40304148, 0.15925570, -0.03848215),
    (-0.01551246, 0.05586982, 0.15925570, 0.05586982, -0.01551246),
    (0.00341614, -0.01551246, -0.03848215, -0.01551246, 0.00341614),
)
#: One quadrant-symmetric 9×9 kernel; ``lofilt`` is twice this table.
_LO_HALF = (
    (0.00085404, -0.00244917, -0.00387812, -0.00944432, -0.00962054),
    (-0.00244917, -0.00523281, -0.00661117, 0.00410600, 0.01002988),
    (-0.00387812, -0.00661117, 0.01396746, 0.03277038, 0.03981393),
    (-0.00944432, 0.00410600, 0.03277038, 0.06426333, 0.08169618),
    (-0.00962054, 0.01002988, 0.03981393, 0.08169618, 0.10096540),
)
#: Rows 0..3 of the first oriented band filter (its column 3 is zero; it is odd left-right, even up-down).
#: The fourth orientation is minus its transpose. The other four orientations are not used by VIF.
_B1_ROWS = (
    (0.00277643, -0.00986904, -0.01021852, 0.0, 0.01021852, 0.00986904, -0.00277643),
    (0.00496194, -0.00893064, -0.03075356, 0.0, 0.03075356, 0.00893064, -0.00496194),
    (0.01026699, 0.01189859, -0.08226445, 0.0, 0.08226445, -0.01189859, -0.01026699),
    (0.01455399, 0.02755155, -0.11732297, 0.0, 0.11732297, -0.02755155, -0.01455399),
)

LEVELS = 4
M = 3
SIGMA_NSQ = 0.4
TOL = 1e-15


def _quadrant_symmetric(half: tuple[tuple[float, ...], ...]) -> torch.Tensor:
    q = torch.tensor(half, dtype=torch.float64)
    top = torch.cat([q, q[:, :-1].flip(1)], dim=1)
    return torch.cat([top, top[:-1].flip(0)], dim=0)


def _band_filters() -> torch.Tensor:
    """The orientations 1 and 4 of ``sp5Filters`` as a 2×1×7×7 correlation kernel."""
    rows = torch.tensor(_B1_ROWS, dtype=torch.float64)
    b1 = torch.cat([rows, rows[:3].flip(0)], dim=0)
    return torch.stack([b1, -b1.T])[:, None]


def _corr_reflect1(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``corrDn(x, kernel, 'reflect1')`` for odd kernels: N×1×H×W → N×K×H×W (same size).

    Computed with FFTs: float64 direct convolution is slow on CPU, and float32 would cost digits.
    """
    kh, kw = kernel.shape[-2:]
    padded = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    size = padded.shape[-2:]
    spectrum = torch.fft.rfft2(padded, s=size) * torch.fft.rfft2(kernel.flip(-2, -1)[:, 0], s=size)
    # Circular convolution of the padded image: from index (kh-1, kw-1) on it is the 'valid' correlation.
    return torch.fft.irfft2(spectrum, s=size)[..., kh - 1 :, kw - 1 :]


def _box_sum_blocks(x: torch.Tensor, size: int) -> torch.Tensor:
    """``corrDn(x, ones(size), 'reflect1', [3 3], [2 2])``: window sums at the centres of the 3×3 blocks."""
    p = size // 2
    x = F.pad(x, (p, p, p, p), mode="reflect")
    # Windows starting at padded index 1, 4, 7, ... are centred on the blocks' middle pixels.
    x = x[..., :, 1:].unfold(-1, size, M).sum(dim=-1)
    return x[..., 1:, :].unfold(-2, size, M).sum(dim=-1)


class VIF(IQAMetric):
    min_size = 32

    def __init__(self, sigma_nsq: float = SIGMA_NSQ) -> None:
        super().__init__()
        if sigma_nsq <= 0:
            raise ValueError(f"vif: sigma_nsq must be > 0, got {sigma_nsq}")
        self.sigma_nsq = float(sigma_nsq)
        self.register_buffer("lo0", torch.tensor(_LO0, dtype=torch.float64)[None, None], persistent=False)
        self.register_buffer("lo", 2.0 * _quadrant_symmetric(_LO_HALF)[None, None], persistent=False)
        self.register_buffer("bands", _band_filters(), persistent=False)

    def _subbands(self, x: torch.Tensor) -> list[torch.Tensor]:
        """N×2×h×w oriented sub-bands, finest level first."""
        out = []
        low = _corr_reflect1(x, self.lo0)
        for level in range(LEVELS):
            out.append(_corr_reflect1(low, self.bands))
            if level < LEVELS - 1:
                low = _corr_reflect1(low, self.lo)[..., ::2, ::2]
        return out

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        n = dist.shape[0]
        grey = torch.cat([ref, dist]).to(torch.float64)
        grey = rgb2gray(grey, round_uint8=True) * 255.0
        num = torch.zeros(n, dtype=torch.float64, device=dist.device)
        den = torch.zeros_like(num)
        for level, both in enumerate(self._subbands(grey)):
            lev = LEVELS - level  # vifvec's lev: 1 for the coarsest level, 4 for the finest
            h, w = (both.shape[-2] // M) * M, (both.shape[-1] // M) * M
            both = both[..., :h, :w]
            x, y = both[:n], both[n:]
            g, vv = self._channel(x, y, 2**lev + 1)
            ss, lam = self._gsm(x)
            off = math.ceil(2 ** (lev - 1) / M)
            g, vv, ss = (t[..., off : t.shape[-2] - off, off : t.shape[-1] - off] for t in (g, vv, ss))
            lam = lam[..., None, None, :]  # N×2×1×1×9
            g, vv, ss = g[..., None], vv[..., None], ss[..., None]
            num += torch.log2(1 + g * g * ss * lam / (vv + self.sigma_nsq)).sum(dim=(1, 2, 3, 4))
            den += torch.log2(1 + ss * lam / self.sigma_nsq).sum(dim=(1, 2, 3, 4))
        return (num / den).float()

    @staticmethod
    def _channel(x: torch.Tensor, y: torch.Tensor, winsize: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Gain g and noise variance vv of the distortion channel y = g x + v (``vifsub_est_M``)."""
        area = float(winsize * winsize)
        sums = _box_sum_blocks(torch.cat([x, y, x * y, x * x, y * y], dim=1), winsize)
        sx, sy, sxy, sxx, syy = sums.chunk(5, dim=1)
        mx, my = sx / area, sy / area
        cov = sxy - area * mx * my
        ss_x = (sxx - area * mx * mx).clamp(min=0)
        ss_y = (syy - area * my * my).clamp(min=0)
        g = cov / (ss_x + TOL)
        vv = (ss_y - g * cov) / area
        flat_x = ss_x < TOL
        g = torch.where(flat_x, 0.0, g)
        vv = torch.where(flat_x, ss_y, vv)  # sic: not divided by the window area, as in vifvec
        flat_y = ss_y < TOL
        g = torch.where(flat_y, 0.0, g)
        vv = torch.where(flat_y, 0.0, vv)
        negative = g < 0
        vv = torch.where(negative, ss_y, vv)
        g = g.clamp(min=0)
        return g, vv.clamp(min=TOL)

    @staticmethod
    def _gsm(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Multiplier field s² (N×B×h/3×w/3) and eigenvalues of C_U (N×B×9) (``refparams_vecgsm``)."""
        n, b, h, w = x.shape
        flat = x.reshape(n * b, 1, h, w)
        every = F.unfold(flat, M)  # (NB)×9×L, all overlapping blocks
        centred = every - every.mean(dim=2, keepdim=True)
        cu = centred @ centred.transpose(1, 2) / every.shape[2]
        blocks = F.unfold(flat, M, stride=M)  # non-overlapping blocks
        ss = (torch.linalg.pinv(cu, hermitian=True) @ blocks * blocks).sum(dim=1) / (M * M)
        lam = torch.linalg.eigvalsh(cu)
        return ss.reshape(n, b, h // M, w // M), lam.reshape(n, b, M * M)


CALIBRATION = "authors' vifvec.m on rgb2gray luma; max abs. error 3.3e-5, max rel. error 1.7e-3 = 4-decimal rounding of I03"

SPECS = (
    MetricSpec(
        name="vif",
        mode="FR",
        lower_better=False,
        score_range=(0.0, float("inf")),
        paper="Sheikh & Bovik, Image information and visual quality, IEEE TIP 15(2), 2006",
        calibration=Calibration.CALIBRATED,
        calibration_detail=CALIBRATION,
        ideal_score=1.0,
        factory=VIF,
        option_ranges={"sigma_nsq": above(0)},
        resources=Resources(num_cpus=1, num_gpus=0.05, memory_mb=400),
        calibration_key="vif",
    ),
)
