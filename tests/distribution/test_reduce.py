"""The reductions of the distribution metrics against pyiqa 0.1.16's, on made-up features (no network)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from metrics.distribution.reduce import (
    FeatureMoments,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    rbf_mmd,
)


@pytest.fixture()
def fid_arch(distribution_env):
    """pyiqa's FID module, imported once the caches are set (pyiqa fixes its download folder at import)."""
    return pytest.importorskip("pyiqa.archs.fid_arch")


def _features(n: int, dim: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    return (np.abs(rng.normal(size=(n, dim)) @ mixing + shift)).astype(np.float32)


def test_moments_of_shards_merge_to_the_moments_of_the_whole_set():
    feats = _features(57, 12, 1)
    merged = FeatureMoments.empty(12)
    for shard in np.array_split(feats, [5, 6, 31]):
        merged = merged.merge(FeatureMoments.of(shard))
    assert merged.count == 57
    np.testing.assert_allclose(merged.mean(), feats.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(merged.covariance(), np.cov(feats, rowvar=False), rtol=1e-10, atol=1e-13)
    with pytest.raises(ValueError, match="at least 2 images"):
        FeatureMoments.of(feats[:1]).covariance()
    with pytest.raises(ValueError, match="cannot merge"):
        merged.merge(FeatureMoments.empty(3))


@pytest.mark.parametrize(("n1", "n2", "dim"), [(200, 150, 16), (9, 7, 64)])  # full rank; rank-deficient (N < D)
def test_frechet_distance_equals_pyiqa(n1, n2, dim, fid_arch):
    f1, f2 = _features(n1, dim, 2), _features(n2, dim, 3, shift=0.3)
    args = (f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))
    ours, theirs = frechet_distance(*args), fid_arch.frechet_distance(*args)
    assert theirs > 0.1
    assert abs(ours - theirs) <= 1e-6 * abs(theirs), (ours, theirs)
    mu, sigma = args[:2]
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6 * np.trace(sigma)


@pytest.mark.parametrize(("n1", "n2", "subset"), [(30, 25, 10), (12, 12, 1000)])
def test_kid_equals_pyiqa_with_the_same_draws(n1, n2, subset, fid_arch):
    f1, f2 = _features(n1, 16, 4), _features(n2, 16, 5, shift=0.5)
    np.random.seed(11)
    theirs = fid_arch.mmd_polynomial_kernel(f1, f2, num_subsets=20, max_subset_size=subset)
    ours = kernel_inception_distance(f1, f2, num_subsets=20, max_subset_size=subset, rng=np.random.RandomState(11))
    assert abs(theirs) > 1e-3
    assert abs(ours - theirs) <= 1e-4 * abs(theirs), (ours, theirs)
    other = kernel_inception_distance(f1, f2, num_subsets=20, max_subset_size=subset, rng=np.random.RandomState(12))
    # the draws matter only when the subsets are smaller than the sets (else they are the sets, permuted)
    assert (abs(other - ours) > 1e-6 * abs(ours)) == (subset < min(n1, n2))


def test_rbf_mmd_equals_pyiqa(fid_arch):
    f1, f2 = _features(20, 8, 6) * 4, _features(15, 8, 7, shift=1.0) * 4
    theirs = float(fid_arch.mmd_rbf_kernel(f1, f2))
    ours = rbf_mmd(f1, f2)
    assert theirs > 1.0
    assert abs(ours - theirs) <= 1e-4 * abs(theirs), (ours, theirs)


@pytest.mark.parametrize(("n", "splits"), [(25, 10), (7, 10), (40, 4), (6, 1)])
def test_inception_score_equals_pyiqa_with_its_splits(n, splits, monkeypatch):
    """pyiqa's ``InceptionScore.forward`` on the same logits (its feature extraction replaced by them)."""
    is_arch = pytest.importorskip("pyiqa.archs.inceptionscore_arch")
    logits = (np.random.default_rng(n).normal(size=(n, 1008)) * 3).astype(np.float32)
    monkeypatch.setattr(is_arch, "get_folder_features", lambda *args, **kwargs: logits)
    theirs = is_arch.InceptionScore.forward(types.SimpleNamespace(model=None), "unused", splits=splits, verbose=False)
    mean, std = inception_score(logits, splits)
    size = -(-n // splits)
    assert mean > 1.0 if size > 1 else mean == 1.0  # one image per group: p(y) = p(y|x), KL = 0
    assert abs(mean - theirs["inception_score_mean"]) <= 1e-5 * theirs["inception_score_mean"]
    assert abs(std - theirs["inception_score_std"]) <= 1e-5 * theirs["inception_score_mean"]
    groups = -(-n // size)  # torch.chunk's number of groups
    assert (std == 0) == (groups == 1 or size == 1)
