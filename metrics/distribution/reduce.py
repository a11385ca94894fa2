"""The set half of a distribution metric: statistics of features, reduced on the driver.

* :class:`FeatureMoments` — count, sum and sum of outer products of the features, in float64: the moments of
  shards merge by addition, so a sharded computation gives the single-process mean and covariance.
* :func:`frechet_distance` — ``‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^½`` (Heusel et al. 2017). The trace of
  the square root is the sum of the square roots of the eigenvalues of ``Σ₁^½ Σ₂ Σ₁^½`` (a symmetric positive
  semi-definite matrix with the eigenvalues of ``Σ₁ Σ₂``), computed with symmetric eigensolvers; eigenvalues
  below the numerical rank's threshold count as 0 (a set of N < D images has a covariance of rank N − 1, and the
  square roots of its rounding-noise eigenvalues would otherwise add about 1e-7 of noise to the distance).
* :func:`kernel_inception_distance` — KID (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018): the unbiased
  MMD² with the kernel ``(x·y / d + 1)³`` averaged over random subsets, drawn as pyiqa / clean-fid draw them.
* :func:`rbf_mmd` — the biased MMD with a Gaussian kernel (σ = 10) times 1000, as CMMD (Jayasumana et al., CVPR
  2024) reports it.
* :func:`inception_score` — IS (Salimans et al. 2016): ``exp E_x KL(p(y|x) ‖ p(y))`` per split of the
  images in their order, the mean and the (population) standard deviation over the splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FeatureMoments:
    """``count``, ``total`` (Σ f) and ``outer`` (Σ f fᵀ) of a set of D-dimensional features, in float64."""

    count: int
    total: np.ndarray
    outer: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> FeatureMoments:
        return cls(0, np.zeros(dim), np.zeros((dim, dim)))

    @classmethod
    def of(cls, features: np.ndarray) -> FeatureMoments:
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2:
            raise ValueError(f"features must be N×D, got shape {f.shape}")
        return cls(f.shape[0], f.sum(axis=0), f.T @ f)

    def merge(self, other: FeatureMoments) -> FeatureMoments:
        if self.total.shape != other.total.shape:
            raise ValueError(f"cannot merge moments of {self.total.shape[0]}-d and {other.total.shape[0]}-d features")
        return FeatureMoments(self.count + other.count, self.total + other.total, self.outer + other.outer)

    def mean(self) -> np.ndarray:
        return self.total / self.count

    def covariance(self) -> np.ndarray:
        """The unbiased sample covariance (N − 1 in the denominator, as ``numpy.cov``)."""
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 images, got {self.count}")
        mu = self.mean()
        return (self.outer - self.count * np.outer(mu, mu)) / (self.count - 1)


def _psd_eigenvalues(values: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric PSD matrix with those below its numerical rank's threshold (largest · size · ε,
    rounding noise of either sign) set to 0: their square roots would add noise of order √ε to the trace."""
    threshold = values.max(initial=0.0) * values.size * np.finfo(np.float64).eps
    return np.where(values > threshold, values, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(_psd_eigenvalues(values))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"statistics of different sizes: mean {mu1.shape} vs {mu2.shape}, covariance "
                         f"{sigma1.shape} vs {sigma2.shape}")
    root = _psd_sqrt(sigma1)
    product = root @ sigma2 @ root
    trace_sqrt = np.sqrt(_psd_eigenvalues(np.linalg.eigvalsh((product + product.T) / 2))).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def kernel_inception_distance(features1: np.ndarray, features2: np.ndarray, num_subsets: int = 100,
                              max_subset_size: int = 1000, rng: np.random.RandomState | None = None) -> float:
    """KID between two feature sets: the unbiased polynomial-kernel MMD² averaged over ``num_subsets`` subsets.

    Each subset draws ``m = min(N₁, N₂, max_subset_size)`` features without replacement from set 2, then from set 1,
    with ``rng.choice`` (the global NumPy generator when ``rng`` is None), in pyiqa's order.
    """
    f1, f2 = np.asarray(features1, dtype=np.float64), np.asarray(features2, dtype=np.float64)
    draw = rng if rng is not None else np.random
    dim = f1.shape[1]
    m = min(f1.shape[0], f2.shape[0], max_subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 images in each set, got {f1.shape[0]} and {f2.shape[0]}")
    total = 0.0
    for _ in range(num_subsets):
        x = f2[draw.choice(f2.shape[0], m, replace=False)]
        y = f1[draw.choice(f1.shape[0], m, replace=False)]
        within = (x @ x.T / dim + 1) ** 3 + (y @ y.T / dim + 1) ** 3
        across = (x @ y.T / dim + 1) ** 3
        total += (within.sum() - np.trace(within)) / (m - 1) - across.sum() * 2 / m
    return float(total / num_subsets / m)


def rbf_mmd(features1: np.ndarray, features2: np.ndarray, sigma: float = 10.0, scale: float = 1000.0) -> float:
    """``scale`` × the biased MMD² of two feature sets under the kernel exp(−‖x − y‖² / 2σ²)."""
    x, y = np.asarray(features1, dtype=np.float64), np.asarray(features2, dtype=np.float64)
    gamma = 1 / (2 * sigma ** 2)

    def mean_kernel(a: np.ndarray, b: np.ndarray) -> float:
        squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return float(np.exp(-gamma * squared).mean())

    return scale * (mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y))


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(mean, std) of the Inception Score over ``splits`` consecutive groups of the images.

    The groups are those of ``torch.chunk``: ⌈N / splits⌉ images each, the last one smaller, so fewer than
    ``splits`` groups when N is not large enough (pyiqa's semantics).
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"logits must be N×K with N >= 1, got shape {z.shape}")
    if splits < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    size = -(-z.shape[0] // splits)
    scores = []
    for start in range(0, z.shape[0], size):
        group_p, group_log_p = p[start:start + size], log_p[start:start + size]
        kl = (group_p * (group_log_p - np.log(group_p.mean(axis=0)))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
