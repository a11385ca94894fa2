"""IL-NIQE, the Integrated Local NIQE of Zhang, Zhang & Bovik.

Zhang, Zhang & Bovik, "A Feature-Enriched Completely Blind Image Quality Evaluator", IEEE Transactions on
Image Processing 24(8), 2015 (MATLAB release ``ILNIQE.zip`` of Lin Zhang, PolyU; ``computequality.m``).

As in the authors' ``computequality.m``: the uint8 RGB image is resized to 524×524 (MATLAB ``imresize``,
bicubic with anti-aliasing; the result of a uint8 image is rounded and saturated to 0..255) and cropped to
whole 84×84 patches (504×504); opponent colours O1 = 0.3R + 0.04G - 0.35B, O2 = 0.34R - 0.6G + 0.17B,
O3 = 0.06R + 0.63G + 0.27B. At two scales (patches 84 and 42), per patch, 234 features of 109 maps:

1. MSCN of O3 (5×5 Gaussian, sigma 5/6, 'replicate' borders): NIQE's 18 AGGD features (``metrics/nr/niqe.py``);
2. the gradient magnitudes ``sqrt(Ix² + Iy²) + eps`` of O1, O2, O3, with Ix, Iy = ``conv2(O, dx + i·dy, 'same')``
   of the Gaussian derivatives ``dx = x·exp(-(x² + y²)/(2σ²))`` (half width ceil(3σ), σ = 1.66 / s^0.28 at
   scale s): Weibull (scale, shape) each (MATLAB ``wblfit``, ``metrics/functional/weibull.py``);
3. the log-RGB opponent channels (``log(C + 1e-5)`` minus its image mean; (R+G+B)/√3, (R+G-2B)/√6, (R-G)/√2):
   mean and unbiased variance each;
4. AGGD (shape, mean of the left/right scales) of Ix, Iy of O1..O3 (6 maps), of the real and imaginary parts
   of O3 filtered by 12 log-Gabor filters (``ifft2(G·fft2(O3))``; 3 scales × 4 orientations, minimum
   wavelength 2.4 / s^0.87, multiplier 1.31, sigmaOnf 0.55, dThetaOnSigma 1.10, no low-pass; 24 maps) and of
   the x/y Gaussian derivatives of those 24 maps (48 maps);
5. Weibull (scale, shape) of the gradient magnitudes of the 24 log-Gabor maps.

Between the scales the opponent and RGB channels are filtered with ``fspecial('gaussian', 6, 0.9)``
('replicate') and every second pixel is kept. The 468 features of a patch (infinite values set to 10000) are
projected on the template's principal vectors, ``(f - meanOfSampleData)' · principleVectors``; the quality is
the mean over patches of ``sqrt((f - mu)' pinv((S + S_d)/2) (f - mu))``, with the template's MVG (mu, S), the
NaN-mean and complete-row covariance S_d of the image's projected patches, NaN entries of a patch replaced by
the NaN-mean, and NaN in the NaN-mean or S_d set to 2000. Lower is better (about 0..100 on natural images).

The template (``templateModel``: {mu 1×K, cov K×K, meanOfSampleData 468×1, principleVectors 468×K}, read by
position) is the authors' ``templatemodel.mat``, which pyiqa 0.1.16 publishes as ``ILNIQE_templateModel.mat``
in its weight repository; the release states no licence for redistribution, so it is not shipped but loaded
through the weight store (sha256 recorded at first use; see ``metrics/data/PROVENANCE.md``).

Calibration: equal to pyiqa 0.1.16's ``ilniqe`` on a template of the published layout made by the test
(tests/metrics/test_ilniqe.py; pyiqa does not round the resized image, so the full-pipeline comparison uses
524×524 images, where ``imresize`` is the identity, and the features are compared on small images without the
resize); against the official row ``ilniqe`` (rtol 0.04) only where the published template is cached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from metrics.base import IQAMetric
from metrics.deep.weights import WeightFile, load_mat
from metrics.functional.color import rgb2gray_uint8, round_half_away
from metrics.functional.filters import (
    correlate_1d,
    gaussian_kernel_1d,
    separable_filter2,
)
from metrics.functional.imresize import imresize
from metrics.functional.input_checks import check_per_image, raise_if_constant
from metrics.functional.nss import aggd_scale, fit_aggd, mscn
from metrics.functional.phase_congruency import log_gabor_bank
from metrics.functional.weibull import fit_weibull
from metrics.nr.niqe import nan_mean_cov, patch_features
from metrics.registry import Calibration, MetricSpec, Resources

MODEL_FILE = WeightFile("ILNIQE_templateModel.mat")
WEIGHT_FILES = {"ilniqe": (MODEL_FILE,)}

NORMALISED_SIZE = 524
PATCH = 84
FEATURES_PER_SCALE = 234
#: O1, O2, O3 as rows of weights of (R, G, B).
OPPONENT = ((0.3, 0.04, -0.35), (0.34, -0.6, 0.17), (0.06, 0.63, 0.27))
MSCN_WINDOW, MSCN_SIGMA = 5, 5.0 / 6.0
GAUSSIAN_DERIVATIVE_SIGMA, GAUSSIAN_DERIVATIVE_EXPONENT = 1.66, 0.28
LOG_OFFSET = 1e-5
LOG_GABOR_SCALES, LOG_GABOR_ORIENTATIONS = 3, 4
MIN_WAVELENGTH, LOG_GABOR_EXPONENT, MULT, SIGMA_ON_F, D_THETA_ON_SIGMA = 2.4, 0.87, 1.31, 0.55, 1.10
DOWNSAMPLE_SIGMA = 0.9
INF_CONST, NAN_CONST = 10000.0, 2000.0
EPS = 2.0**-52  # MATLAB eps


@dataclass(frozen=True)
class TemplateModel:
    """The pristine template: MVG (``mu`` K, ``cov`` K×K) of the projected features, and the projection."""

    mu: torch.Tensor
    cov: torch.Tensor
    sample_mean: torch.Tensor  # 468
    principal_vectors: torch.Tensor  # 468×K


def load_template() -> TemplateModel:
    """``templateModel`` of pyiqa's published ``ILNIQE_templateModel.mat`` (a 1×4 cell, read by position)."""
    cell = load_mat(MODEL_FILE)["templateModel"]
    mu, cov, sample_mean, vectors = (torch.from_numpy(cell.flat[i].astype("float64")) for i in range(4))
    mu, sample_mean = mu.reshape(-1), sample_mean.reshape(-1)
    k = mu.numel()
    if cov.shape != (k, k) or sample_mean.numel() != 2 * FEATURES_PER_SCALE or vectors.shape != (2 * FEATURES_PER_SCALE, k):
        raise ValueError(
            f"ilniqe: templateModel must be {{mu 1×K, cov K×K, meanOfSampleData {2 * FEATURES_PER_SCALE}×1, "
            f"principleVectors {2 * FEATURES_PER_SCALE}×K}}, got {tuple(mu.shape)}, {tuple(cov.shape)}, "
            f"{tuple(sample_mean.shape)}, {tuple(vectors.shape)}"
        )
    return TemplateModel(mu, cov, sample_mean, vectors)


def gaussian_derivatives(x: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``conv2(x, dx + 1i·dy, 'same')`` (zero borders) of every channel of N×C×H×W ``x``: (Ix, Iy), with
    ``dx = X·exp(-(X² + Y²)/(2σ²))`` (X the column offset), ``dy`` its transpose, half width ceil(3σ). Both are
    separable; conv2 flips the window, so the odd factor enters with its sign changed."""
    half = math.ceil(3 * sigma)
    offsets = torch.arange(-half, half + 1, dtype=torch.float64)
    even = torch.exp(-(offsets**2) / (2 * sigma * sigma))
    odd_flipped = -offsets * even
    padded = F.pad(x, (half, half, half, half))
    ix = correlate_1d(correlate_1d(padded, even, -2), odd_flipped, -1)
    iy = correlate_1d(correlate_1d(padded, odd_flipped, -2), even, -1)
    return ix, iy


def gradient_magnitude(ix: torch.Tensor, iy: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(ix * ix + iy * iy) + EPS


def _blocks(maps: torch.Tensor, patch: int) -> torch.Tensor:
    """N×C×H×W (H, W multiples of ``patch``) → N×P×C×patch²: the patches row by row (same order at each scale)."""
    n, c, h, w = maps.shape
    rows, cols = h // patch, w // patch
    blocks = maps.reshape(n, c, rows, patch, cols, patch).permute(0, 2, 4, 1, 3, 5)
    return blocks.reshape(n, rows * cols, c, patch * patch)


def _weibull_features(blocks: torch.Tensor) -> torch.Tensor:
    """N×P×C×M → N×P×2C: (scale, shape) per channel."""
    n, p, c, m = blocks.shape
    scale, shape = fit_weibull(blocks.reshape(-1, m))
    return torch.stack((scale, shape), dim=1).reshape(n, p, 2 * c)


def _aggd_features(blocks: torch.Tensor) -> torch.Tensor:
    """N×P×C×M → N×P×2C: AGGD shape and mean of the left and right scales per channel."""
    n, p, c, m = blocks.shape
    alpha, left, right = fit_aggd(blocks.reshape(-1, m))
    mean_scale = (aggd_scale(alpha, left) + aggd_scale(alpha, right)) / 2
    return torch.stack((alpha, mean_scale), dim=1).reshape(n, p, 2 * c)


def _moment_features(blocks: torch.Tensor) -> torch.Tensor:
    """N×P×C×M → N×P×2C: mean and unbiased variance per channel."""
    n, p, c, _ = blocks.shape
    return torch.stack((blocks.mean(dim=3), blocks.var(dim=3)), dim=3).reshape(n, p, 2 * c)


def _log_gabor_responses(o3: torch.Tensor, scale: int) -> torch.Tensor:
    """The 24 maps (real, imaginary) of O3 (N×1×H×W) filtered by the 12 log-Gabor filters, scale-major."""
    h, w = o3.shape[-2:]
    bank = log_gabor_bank(h, w, LOG_GABOR_SCALES, LOG_GABOR_ORIENTATIONS, MIN_WAVELENGTH / scale**LOG_GABOR_EXPONENT,
                          MULT, SIGMA_ON_F, D_THETA_ON_SIGMA, lowpass=False, dtype=o3.dtype, device=o3.device)
    bank = bank.transpose(0, 1).reshape(-1, h, w)  # scale-major: (scale, orientation)
    response = torch.fft.ifft2(bank * torch.fft.fft2(o3))  # N×12×H×W
    return torch.stack((response.real, response.imag), dim=2).flatten(1, 2)


def scale_features(rgb: torch.Tensor, opponent: torch.Tensor, scale: int) -> torch.Tensor:
    """The 234 features of every patch (N×P×234) of one scale: RGB and opponent channels N×3×H×W (float64)."""
    patch = PATCH // scale
    o3 = opponent[:, 2:3]
    structdis, _ = mscn(o3, "replicate", window=MSCN_WINDOW, sigma=MSCN_SIGMA)
    sigma = GAUSSIAN_DERIVATIVE_SIGMA / scale**GAUSSIAN_DERIVATIVE_EXPONENT
    ix, iy = gaussian_derivatives(opponent, sigma)
    log_rgb = torch.log(rgb + LOG_OFFSET)
    log_rgb = log_rgb - log_rgb.mean(dim=(2, 3), keepdim=True)
    r, g, b = log_rgb.unbind(dim=1)
    colour = torch.stack(((r + g + b) / math.sqrt(3), (r + g - 2 * b) / math.sqrt(6), (r - g) / math.sqrt(2)), dim=1)
    responses = _log_gabor_responses(o3, scale)
    response_ix, response_iy = gaussian_derivatives(responses, sigma)

    aggd_maps = torch.cat((
        torch.stack((ix, iy), dim=2).flatten(1, 2),  # IxO1, IyO1, IxO2, ...
        responses,
        torch.stack((response_ix, response_iy), dim=2).flatten(1, 2),  # per map: x, y derivative
    ), dim=1)
    return torch.cat((
        patch_features(structdis, patch),  # row by row, as _blocks
        _weibull_features(_blocks(gradient_magnitude(ix, iy), patch)),
        _moment_features(_blocks(colour, patch)),
        _aggd_features(_blocks(aggd_maps, patch)),
        _weibull_features(_blocks(gradient_magnitude(response_ix, response_iy), patch)),
    ), dim=2)


def downsample(x: torch.Tensor) -> torch.Tensor:
    """``imfilter(x, fspecial('gaussian', 6, 0.9), 'replicate')`` keeping every second pixel from the first."""
    taps = gaussian_kernel_1d(math.ceil(6 * DOWNSAMPLE_SIGMA), DOWNSAMPLE_SIGMA, dtype=x.dtype, device=x.device)
    return separable_filter2(x, taps, "replicate")[..., ::2, ::2]


class ILNIQE(IQAMetric):
    min_size = 2  # the image is resized to 524×524 first

    def __init__(self) -> None:
        super().__init__()
        self.template = load_template()

    def _check(self, x: torch.Tensor, what: str) -> None:
        check_per_image(x, self._name(), what)
        super()._check(x, what)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        raise_if_constant(rgb2gray_uint8(dist), self._name())
        levels = round_half_away(dist.double() * 255.0)  # the uint8 image
        return self.quality(levels).float()

    def normalise(self, levels: torch.Tensor) -> torch.Tensor:
        """``imresize(uint8 image, [524 524])``: bicubic, anti-aliased, rounded and saturated to 0..255."""
        resized = imresize(levels, size=(NORMALISED_SIZE, NORMALISED_SIZE))
        return round_half_away(resized.clamp(0.0, 255.0))

    def features(self, levels: torch.Tensor, resize: bool = True) -> torch.Tensor:
        """The 468 features (both scales) of every patch, N×P×468, of N×3×H×W RGB levels 0..255 (float64);
        ``resize=False`` skips the resize to 524×524 (the image must hold at least one 84×84 patch)."""
        rgb = self.normalise(levels) if resize else levels.double()
        h, w = rgb.shape[-2:]
        rgb = rgb[..., : h // PATCH * PATCH, : w // PATCH * PATCH]
        if rgb.numel() == 0:
            raise ValueError(f"ilniqe: the image ({h}×{w}) holds no {PATCH}×{PATCH} patch")
        opponent = torch.einsum("kc,nchw->nkhw", torch.tensor(OPPONENT, dtype=rgb.dtype, device=rgb.device), rgb)
        per_scale = []
        for scale in (1, 2):
            per_scale.append(scale_features(rgb, opponent, scale))
            if scale == 1:
                rgb, opponent = downsample(rgb), downsample(opponent)
        return torch.cat(per_scale, dim=2)

    def quality(self, levels: torch.Tensor, resize: bool = True) -> torch.Tensor:
        """IL-NIQE (float64, N) of N×3×H×W RGB levels 0..255."""
        features = self.features(levels, resize)
        features = torch.where(torch.isinf(features), INF_CONST, features)
        t = self.template
        projected = (features - t.sample_mean.to(features)) @ t.principal_vectors.to(features)  # N×P×K
        mu_dist, cov_dist = nan_mean_cov(projected)
        mu_dist = torch.nan_to_num(mu_dist, nan=NAN_CONST)
        cov_dist = torch.nan_to_num(cov_dist, nan=NAN_CONST)
        inverse = torch.linalg.pinv((t.cov.to(features) + cov_dist) / 2)
        filled = torch.where(torch.isnan(projected), mu_dist.unsqueeze(1), projected)
        diff = filled - t.mu.to(features)
        distances = torch.sqrt(((diff @ inverse) * diff).sum(dim=2))
        return distances.mean(dim=1)


SPECS = (
    MetricSpec(
        name="ilniqe",
        mode="NR",
        lower_better=True,
        score_range=(0.0, float("inf")),  # about 0..100 on natural images
        paper=(
            "Zhang, Zhang & Bovik, A Feature-Enriched Completely Blind Image Quality Evaluator, "
            "IEEE Transactions on Image Processing 24(8), 2015"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="= pyiqa 0.1.16 on a test-made ILNIQE_templateModel.mat; official row ilniqe where the "
        "published template is cached",
        factory=ILNIQE,
        resources=Resources(num_cpus=1, num_gpus=0.05, memory_mb=2500),
        calibration_key="ilniqe",
    ),
)
