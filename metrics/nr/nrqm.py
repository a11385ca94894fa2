"""NRQM, the no-reference quality metric for single-image super-resolution of Ma et al.

Ma, Yang, Yang & Yang, "Learning a no-reference quality metric for single-image super-resolution", Computer
Vision and Image Understanding 158, 2017 (MATLAB release ``chaoma99/sr-metric``).

On the grey levels (MATLAB ``rgb2gray`` of the uint8 image, 0..255, float64), three groups of statistics, each
mapped to a score by its own regression forest; the score is a linear combination of the three (higher is
better, about 0..10):

1. local frequency (18): on a three-level Gaussian pyramid of the image / 255 (3×3 Gaussian, sigma 0.5, zero
   borders, every second pixel from the second), the orthonormal 2-D DCT of 7×7 blocks at a stride of 3 (zero
   padding split around the image as pyiqa 0.1.16 does); per block, the GGD shape of the 48 AC coefficients
   (grid 0.03:0.001:10, ratio var/(E|x - mean|)², unbiased variance), the coefficient of variation of their
   magnitudes and the variance of that coefficient over three orientation groups; per level the mean of the
   lowest 10% (+1) shapes, the mean shape, and the means of the highest 10% and of all variation values;
2. global (45): a complex steerable pyramid of the image (two levels, six orientations; real parts of the bands,
   ``metrics.functional.steerable_pyramid``), each band divisively normalised by its 3×3 neighbourhood, its
   parent band (bicubic ``imresize`` to its size) and the other orientations (Gaussian scale mixture, covariance
   with its negative eigenvalues cleared, guard band 16 / 8 pixels); the GGD shapes of the 12 normalised bands
   and of the 6 two-scale pairs; the SSIM contrast-structure term (11×11 Gaussian, sigma 1.5, 'valid', data
   range 255, negative values set to 0) between each raw band (resized) and the high-pass residual (12) and
   between the normalised finest bands of each pair of orientations (15);
3. spatial (75): the singular values of the 25×P matrix of distinct 5×5 blocks (zero padded) of each pyramid
   level.

The forests and the linear weights (``NRQM_model.mat``: ``model.linear`` 4×1 and ``model.rf``, three forests
with ``lDau``, ``rDau``, split values, node predictions and split variables per node and tree, read by position
as pyiqa 0.1.16 reads them) exist only in pyiqa's weight repository: they are loaded through the weight store.
Minimum size 84×84 (the coarsest pyramid level must hold 25 5×5 blocks).

Calibration: equal to pyiqa 0.1.16's ``nrqm`` on a parameter file of the published layout made by the test, on
greyscale images (pyiqa takes YIQ's Y, which is MATLAB's ``rgb2gray`` up to rounding of a few grey levels)
(tests/metrics/test_nrqm_pi.py); against the official row ``nrqm`` only where the published file is cached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from metrics.base import IQAMetric
from metrics.deep.weights import WeightFile, load_mat
from metrics.fr.ssim import K2
from metrics.functional.color import rgb2gray_uint8
from metrics.functional.filters import gaussian_kernel_1d, separable_filter2
from metrics.functional.imresize import imresize
from metrics.functional.input_checks import check_per_image, raise_if_constant
from metrics.functional.nss import ggd_shape_from_ratio
from metrics.functional.steerable_pyramid import build_scf_pyramid
from metrics.registry import Calibration, MetricSpec, Resources

MODEL_FILE = WeightFile("NRQM_model.mat")
WEIGHT_FILES = {"nrqm": (MODEL_FILE,)}

MIN_SIZE = 84
GGD_GRID_START = 0.03
BLOCK, BLOCK_STRIDE, SVD_BLOCK = 7, 3, 5
ORIENTATIONS, GUARD_BAND = 6, 16


def _orientation_masks() -> torch.Tensor:
    """The three 7×7 groups of DCT coefficients (rows = vertical frequency) whose variation is compared."""
    groups = (
        [(0, range(1, 7)), (1, range(2, 7)), (2, range(4, 7)), (3, range(5, 7))],
        [(1, range(1, 2)), (2, range(2, 4)), (3, range(2, 5)), (4, range(3, 7)), (5, range(4, 7)), (6, range(4, 7))],
    )
    masks = torch.zeros(3, BLOCK, BLOCK, dtype=torch.bool)
    for g, rows in enumerate(groups):
        for r, cols in rows:
            masks[g, r, list(cols)] = True
    # the third group is the transpose of the first
    masks[2] = masks[0].T
    return masks


ORIENTATION_MASKS = _orientation_masks()


def dct_matrix(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The orthonormal DCT-II matrix (MATLAB ``dctmtx``): ``dct2(X) = C X C'``."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    c = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    c[0] /= math.sqrt(2.0)
    return c.to(dtype)


def gaussian_pyramid(x: torch.Tensor, levels: int = 3) -> list[torch.Tensor]:
    """``levels`` images: ``x``, then repeatedly the 3×3 Gaussian (sigma 0.5, zero borders), every second pixel
    from the second."""
    taps = gaussian_kernel_1d(3, 0.5, dtype=x.dtype, device=x.device)
    pyramid = [x]
    for _ in range(levels - 1):
        x = separable_filter2(x, taps, "zeros")[..., 1::2, 1::2]
        pyramid.append(x)
    return pyramid


def dct_blocks(x: torch.Tensor) -> torch.Tensor:
    """2-D DCTs of the 7×7 blocks at stride 3 of N×1×H×W ``x`` (zero padding ``(ceil(H/3)-1)·3 + 7 - H`` rows,
    the smaller half on top; likewise columns): N×P×7×7."""
    h, w = x.shape[-2:]
    pad_rows = (math.ceil(h / BLOCK_STRIDE) - 1) * BLOCK_STRIDE + BLOCK - h
    pad_cols = (math.ceil(w / BLOCK_STRIDE) - 1) * BLOCK_STRIDE + BLOCK - w
    padded = F.pad(x, (pad_cols // 2, pad_cols - pad_cols // 2, pad_rows // 2, pad_rows - pad_rows // 2))
    blocks = F.unfold(padded, BLOCK, stride=BLOCK_STRIDE).transpose(1, 2).reshape(x.shape[0], -1, BLOCK, BLOCK)
    c = dct_matrix(BLOCK, x.dtype).to(x.device)
    return c @ blocks @ c.T


def ggd_shape(samples: torch.Tensor) -> torch.Tensor:
    """GGD shape of each row (last dimension) from var / (E|x - mean|)² (unbiased variance, +1e-7)."""
    centred = samples - samples.mean(dim=-1, keepdim=True)
    rho = samples.var(dim=-1) / (centred.abs().mean(dim=-1) ** 2 + 1e-7)
    return ggd_shape_from_ratio(rho, GGD_GRID_START)


def magnitude_variation(samples: torch.Tensor, eps: float) -> torch.Tensor:
    """std(|x|) / (mean(|x|) + eps) of each row (unbiased std)."""
    magnitude = samples.abs()
    return magnitude.std(dim=-1) / (magnitude.mean(dim=-1) + eps)


def frequency_features(level: torch.Tensor) -> torch.Tensor:
    """The 6 local-frequency statistics of one pyramid level (N×1×H×W) → N×6."""
    blocks = dct_blocks(level)
    ac = blocks.flatten(2)[..., 1:]
    count = ac.shape[1]
    shapes = ggd_shape(ac).sort(dim=1).values
    variation = magnitude_variation(ac, 1e-7).sort(dim=1).values
    masks = ORIENTATION_MASKS.to(blocks.device)
    oriented = torch.stack([magnitude_variation(blocks[..., m], 1e-8) for m in masks], dim=-1)
    oriented = oriented.var(dim=-1).sort(dim=1).values
    low, high = math.ceil(0.1 * count) + 1, math.floor(0.9 * count)
    return torch.stack([
        shapes[:, :low].mean(dim=1), shapes.mean(dim=1),
        variation[:, high:].mean(dim=1), variation.mean(dim=1),
        oriented[:, high:].mean(dim=1), oriented.mean(dim=1),
    ], dim=1)


def _inner(x: torch.Tensor) -> torch.Tensor:
    """The N×h×w band without its one-pixel border, flattened: N×((h-2)(w-2))."""
    return x[:, 1:-1, 1:-1].flatten(1)


def normalise_band(band: torch.Tensor, parent: torch.Tensor | None, others: list[torch.Tensor]) -> torch.Tensor:
    """Divisive normalisation of one N×h×w band by the Gaussian scale mixture of its 3×3 neighbourhood, its
    parent (resized) and the other orientations: N×(h-2)×(w-2), zero mean."""
    n, h, w = band.shape
    columns = [F.unfold(band[:, None], 3).transpose(1, 2)]  # N×L×9
    divisor = 9
    if parent is not None:
        resized = imresize(parent[:, None], size=(h, w))[:, 0]
        columns.append(_inner(resized)[..., None])
        divisor += 1
    columns += [_inner(o)[..., None] for o in others]
    neighbours = torch.cat(columns, dim=2)  # N×L×D
    cov = neighbours.transpose(1, 2) @ neighbours / neighbours.shape[1]
    values, vectors = torch.linalg.eigh(cov)
    positive = values * (values > 0)
    total = positive.sum(dim=1, keepdim=True)
    values = positive * values.sum(dim=1, keepdim=True) / (total + (total == 0).to(values.dtype))
    cov = vectors @ torch.diag_embed(values) @ vectors.transpose(1, 2)
    centre = _inner(band)
    centre = centre - centre.mean(dim=1, keepdim=True)
    solved = torch.linalg.solve(cov.transpose(1, 2), neighbours.transpose(1, 2)).transpose(1, 2)
    z = ((solved * neighbours).sum(dim=2) / divisor).sqrt()
    nonzero = z != 0
    normalised = (centre * nonzero / (z * nonzero + 1e-12)).reshape(n, h - 2, w - 2)
    return normalised


class LocalMoments:
    """Local mean and mean square of an N×h×w image under the 11×11 Gaussian window (sigma 1.5, 'valid'),
    computed once and shared by every SSIM contrast-structure term the image enters."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x[:, None]
        self.window = gaussian_kernel_1d(11, 1.5, dtype=x.dtype, device=x.device)
        self.mean, self.square = separable_filter2(torch.cat([self.x, self.x * self.x], dim=1), self.window).unbind(1)

    def contrast_structure(self, other: LocalMoments) -> torch.Tensor:
        """Mean SSIM contrast-structure term (data range 255, negative values set to 0) → N."""
        c2 = (K2 * 255.0) ** 2
        cross = separable_filter2(self.x * other.x, self.window)[:, 0] - self.mean * other.mean
        spread = self.square - self.mean * self.mean + other.square - other.mean * other.mean
        return ((2 * cross + c2) / (spread + c2)).clamp(min=0).flatten(1).mean(dim=1)


def _resized(band: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """MATLAB ``imresize(band, size)`` (bicubic) of an N×h×w band; the identity at its own size."""
    return band if tuple(band.shape[-2:]) == tuple(size) else imresize(band[:, None], size=size)[:, 0]


def global_features(image: torch.Tensor) -> torch.Tensor:
    """The 45 steerable-pyramid statistics of N×1×H×W grey levels → N×45."""
    pyr = build_scf_pyramid(image, height=2, order=ORIENTATIONS - 1, keep_levels=(0, 1))
    bands = [pyr.bands[level][:, 0, b].real for level in range(2) for b in range(ORIENTATIONS)]
    normalised = []
    for level in range(2):
        for b in range(ORIENTATIONS):
            idx = level * ORIENTATIONS + b
            parent = bands[idx + ORIENTATIONS] if level == 0 else None
            others = [bands[level * ORIENTATIONS + o] for o in range(ORIENTATIONS) if o != b]
            band = normalise_band(bands[idx], parent, others)
            guard = GUARD_BAND // 2**level
            band = band[:, guard:-guard, guard:-guard]
            normalised.append(band - band.mean(dim=(1, 2), keepdim=True))
    n = image.shape[0]
    features = [ggd_shape(b.reshape(n, -1)) for b in normalised]
    features += [ggd_shape(torch.cat([normalised[b].reshape(n, -1), normalised[b + ORIENTATIONS].reshape(n, -1)],
                                     dim=1)) for b in range(ORIENTATIONS)]
    highpass = LocalMoments(pyr.highpass[:, 0])
    size = tuple(pyr.highpass.shape[-2:])
    features += [LocalMoments(_resized(b, size)).contrast_structure(highpass) for b in bands]
    finest = [LocalMoments(b) for b in normalised[:ORIENTATIONS]]
    features += [finest[i].contrast_structure(finest[j])
                 for i in range(ORIENTATIONS) for j in range(i + 1, ORIENTATIONS)]
    return torch.stack(features, dim=1)


def singular_value_features(level: torch.Tensor) -> torch.Tensor:
    """Singular values of the distinct 5×5 blocks (zero padded right and bottom) of N×1×H×W → N×25."""
    h, w = level.shape[-2:]
    padded = F.pad(level, (0, -w % SVD_BLOCK, 0, -h % SVD_BLOCK))
    columns = F.unfold(padded, SVD_BLOCK, stride=SVD_BLOCK)  # N×25×P
    return torch.linalg.svdvals(columns)


@dataclass(frozen=True)
class RegressionForest:
    """A forest of regression trees as node tables (nodes × trees): children (1-based, 0 at a leaf), split value,
    node prediction and split variable (1-based)."""

    left: torch.Tensor
    right: torch.Tensor
    threshold: torch.Tensor
    prediction: torch.Tensor
    variable: torch.Tensor

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Mean over the trees of the leaf each row of ``features`` (N×F) reaches (go left when ``x <= split``)."""
        n, n_features = features.shape
        nodes, trees = self.left.shape
        tree = torch.arange(trees).expand(n, trees)
        node = torch.zeros(n, trees, dtype=torch.long)
        last = node
        done = torch.zeros(n, trees, dtype=torch.bool)
        out = torch.zeros(n, trees, dtype=torch.float64)
        for _ in range(nodes):
            column = (self.variable[node, tree] - 1) % n_features  # a leaf's 0 reads the last column, unused
            go_left = features.gather(1, column) <= self.threshold[node, tree]
            child = torch.where(go_left, self.left[node, tree], self.right[node, tree]) - 1
            leaf = (child < 0) & ~done
            out = torch.where(leaf, self.prediction[node, tree], out)
            done = done | leaf
            last = node
            if bool(done.all()):
                break
            node = torch.where(done, node, child)
        out = torch.where(done, out, self.prediction[last, tree])  # no leaf within ``nodes`` steps
        return out.mean(dim=1)


def load_model() -> tuple[torch.Tensor, list[RegressionForest]]:
    """The linear weights (4) and the three forests of pyiqa's ``NRQM_model.mat``."""
    model = load_mat(MODEL_FILE)["model"]
    linear = torch.from_numpy(model["linear"][0, 0].astype("float64")).reshape(-1)
    if linear.numel() != 4:
        raise ValueError(f"nrqm: model.linear must hold 4 weights, got {linear.numel()}")
    forests = []
    for i in range(3):
        fields = model["rf"][0, 0][0, i][0, 0]
        tables = {k: torch.from_numpy(fields[k].astype("float64" if k in (4, 5) else "int64")) for k in (0, 1, 4, 5, 6)}
        forests.append(RegressionForest(left=tables[0], right=tables[1], threshold=tables[4], prediction=tables[5],
                                        variable=tables[6]))
    return linear, forests


class NRQM(IQAMetric):
    min_size = MIN_SIZE

    def __init__(self) -> None:
        super().__init__()
        self.linear, self.forests = load_model()

    def _check(self, x: torch.Tensor, what: str) -> None:
        check_per_image(x, self._name(), what)
        super()._check(x, what)

    def features(self, gray: torch.Tensor) -> list[torch.Tensor]:
        """The three feature groups (N×18, N×45, N×75) of N×1×H×W grey levels 0..255 (float64)."""
        pyramid = gaussian_pyramid(gray / 255.0)
        frequency = torch.cat([frequency_features(level) for level in pyramid], dim=1)
        spatial = torch.cat([singular_value_features(level) for level in pyramid], dim=1)
        return [frequency, global_features(gray), spatial]

    def quality(self, gray: torch.Tensor) -> torch.Tensor:
        """NRQM (float64, N) of N×1×H×W grey levels 0..255."""
        raise_if_constant(gray, self._name())
        cpu = [f.cpu() for f in self.features(gray.double())]
        votes = [forest.predict(f) for forest, f in zip(self.forests, cpu)]
        design = torch.stack([torch.ones_like(votes[0]), *votes], dim=1)
        return (design @ self.linear).to(gray.device)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        return self.quality(rgb2gray_uint8(dist)).float()


SPECS = (
    MetricSpec(
        name="nrqm",
        mode="NR",
        lower_better=False,
        score_range=(-float("inf"), float("inf")),  # about 0..10, a linear combination is not bounded
        paper=(
            "Ma, Yang, Yang & Yang, Learning a no-reference quality metric for single-image super-resolution, "
            "Computer Vision and Image Understanding 158, 2017"
        ),
        calibration=Calibration.EQUIVALENT,
        calibration_detail="= pyiqa 0.1.16 on a test-made NRQM_model.mat; official row nrqm where the published "
        "file is cached",
        factory=NRQM,
        resources=Resources(num_cpus=1, num_gpus=0.05, memory_mb=1500),
        calibration_key="nrqm",
    ),
)
