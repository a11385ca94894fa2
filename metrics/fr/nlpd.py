"""Normalised Laplacian pyramid distance (NLPD).

Laparra, Ballé, Berardino & Simoncelli, "Perceptual image quality assessment using a normalized Laplacian
pyramid", Proc. IS&T Human Vision and Electronic Imaging (HVEI), 2016.

As in the authors' ``NLP_dist.m`` on grey images in [0, 1]: a six-level Laplacian pyramid with Burt & Adelson's
5-tap filter (0.05, 0.25, 0.4, 0.25, 0.05) — low-pass with symmetric borders then every second sample; expansion by
zero insertion (×4, after a one-pixel replicated border) and the same filter with zero borders — then every level
is divided by sigma_k plus the convolution (``conv2(..., 'same')``) of its absolute value with the level's
neighbour filter, with the authors' constants (learned on McGill). The distance is the mean over levels of the
root-mean-square difference of the normalised coefficients. Lower is better; identical images score 0.

Calibration (5 TID2013 pairs, ``official_scores.csv``): on MATLAB ``rgb2gray`` luma rounded to uint8 and divided
by 255 the largest relative error is 2.8e-7 (7.3e-8 with the pyramid in float64; I03 0.561610, I04 0.0195348, I06 0.0159156, I08 0.302802,
I19 0.432605, all equal to the official values to 6 digits); the BT.601 ``rgb2ycbcr`` luma (``channel='y'``)
gives 0 on I04/I06 and is 9% off on I03.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.base import IQAMetric
from metrics.functional.color import check_channel, luma
from metrics.functional.filters import correlate_1d, pad
from metrics.registry import Calibration, MetricSpec, Resources

LEVELS = 6
SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)
#: The authors' divisive-normalisation neighbour filters, 5×5 with zeros outside the rows/columns listed:
#: (row, col, value) triples, 0-based, as in DN_filters of NLP_dist.m.
_DN_TAPS = (
    ((1, 2, 0.1011), (2, 1, 0.1493), (2, 3, 0.1460), (2, 4, 0.0072), (3, 2, 0.1015)),
    ((1, 2, 0.0757), (2, 1, 0.1986), (2, 3, 0.1846), (3, 2, 0.0837)),
    ((1, 2, 0.0477), (2, 1, 0.2138), (2, 3, 0.2243), (3, 2, 0.0467)),
    ((2, 1, 0.2503), (2, 3, 0.2616)),
    ((2, 1, 0.2598), (2, 3, 0.2552)),
    ((2, 1, 0.2215), (2, 3, 0.0717)),
)
_BURT_ADELSON = (0.05, 0.25, 0.4, 0.25, 0.05)



def dn_filters() -> torch.Tensor:
    """The six 5×5 neighbour filters (float64, LEVELS×5×5), as ``conv2`` takes them."""
    filters = torch.zeros(LEVELS, 5, 5, dtype=torch.float64)
    for level, taps in enumerate(_DN_TAPS):
        for row, col, value in taps:
            filters[level, row, col] = value
    return filters


def conv2_same_sparse(x: torch.Tensor, taps: tuple[tuple[int, int, float], ...], size: int = 5) -> torch.Tensor:
    """``conv2(x, F, 'same')`` (zero borders, flipped kernel) for a size×size F given by its non-zero taps."""
    half = size // 2
    h, w = x.shape[-2:]
    padded = F.pad(x, (half, half, half, half))
    out = torch.zeros_like(x)
    for row, col, value in taps:
        r0, c0 = 2 * half - row, 2 * half - col
        out.add_(padded[..., r0 : r0 + h, c0 : c0 + w], alpha=value)
    return out


def _upsample(x: torch.Tensor, dim: int, length: int) -> torch.Tensor:
    """One axis of :meth:`NLPD._expand`: ``length`` samples of the zero-inserted, filtered signal."""
    n = x.shape[dim]
    f0, f1, f2, f3, f4 = (2.0 * v for v in _BURT_ADELSON)
    even = x.narrow(dim, 2, n - 2) * f0
    even.add_(x.narrow(dim, 1, n - 2), alpha=f2).add_(x.narrow(dim, 0, n - 2), alpha=f4)
    odd = x.narrow(dim, 2, n - 2) * f1
    odd.add_(x.narrow(dim, 1, n - 2), alpha=f3)
    shape = list(x.shape)
    shape[dim] = length
    out = x.new_empty(shape)
    index = [slice(None)] * x.dim()
    index[dim] = slice(0, None, 2)
    out[tuple(index)] = even.narrow(dim, 0, (length + 1) // 2)
    index[dim] = slice(1, None, 2)
    out[tuple(index)] = odd.narrow(dim, 0, length // 2)
    return out


class NLPD(IQAMetric):
    #: The fifth level must keep two samples for the symmetric 2-pixel border of the last low-pass.
    min_size = 2 ** (LEVELS - 2) + 1

    def __init__(self, channel: str = "gray") -> None:
        super().__init__()
        self.channel = check_channel("nlpd", channel)

    #: Precision of the pyramid (float32 keeps the calibration to 6 digits, see the module docstring; float64
    #: is kept selectable for checks). The per-level mean squares are accumulated in float64.
    compute_dtype: torch.dtype = torch.float32

    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        """imfilter(x, f'·f, 'symmetric') then x(1:2:end, 1:2:end): only the kept samples are computed (the 5×5
        filter f'·f is separable: columns, then rows, with the 5-tap f)."""
        x = pad(x, 2, 2, 2, 2, "symmetric")
        return correlate_1d(correlate_1d(x, _BURT_ADELSON, -2, stride=2), _BURT_ADELSON, -1, stride=2)

    def _expand(self, x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Replicate a 1-pixel border, insert zeros (×4), filter with f'·f (zero borders), crop to ``shape``.

        Along each axis, zero insertion then the 5-tap filter (times 2) gives, at the kept even positions 2m,
        2·(f0 x[m] + f2 x[m-1] + f4 x[m-2]) and at the odd ones 2m+1, 2·(f1 x[m] + f3 x[m-1]); the crop starts
        at position 4 (m = 2), and the replicated border covers every sample it needs.
        """
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return _upsample(_upsample(x, -2, shape[-2]), -1, shape[-1])

    def _normalised_pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        levels = []
        for level in range(LEVELS):
            if level < LEVELS - 1:
                low = self._reduce(x)
                band, x = x - self._expand(low, x.shape), low
            else:
                band = x
            activity = conv2_same_sparse(band.abs(), _DN_TAPS[level])
            levels.append(band / (SIGMAS[level] + activity))
        return levels

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        assert ref is not None
        both = torch.cat([luma(ref, self.channel), luma(dist, self.channel)]).to(self.compute_dtype)
        n = ref.shape[0]
        rms = [
            (level[:n] - level[n:]).square_().sum(dim=(1, 2, 3), dtype=torch.float64).div_(level[0].numel()).sqrt_()
            for level in self._normalised_pyramid(both)
        ]
        return torch.stack(rms, dim=1).mean(dim=1).float()


SPECS = (
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="nlpd",
        mode="FR",
        lower_better=True,
        score_range=(0.0, float("inf")),
        paper=(
            "Laparra, Ballé, Berardino & Simoncelli, Perceptual image quality assessment using a normalized "
            "Laplacian pyramid, Proc. IS&T Human Vision and Electronic Imaging, 2016"
        ),
        calibration=Calibration.CALIBRATED,
        calibration_detail="NLP_dist.m on rgb2gray luma / 255; max rel. error 2.8e-7",
        ideal_score=0.0,
        factory=NLPD,
        option_choices={"channel": ("gray", "y")},
        options={"channel": "gray"},
        resources=Resources(num_cpus=0.5, num_gpus=0.05, memory_mb=300),
        calibration_key="nlpd",
    ),
)
