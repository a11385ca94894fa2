"""Bootstrap intervals: coverage of known true correlations, determinism, pairing, orientation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from orchestrator.stats.bootstrap import bootstrap_p_value, dense_codes, paired_bootstrap, tied_ranks


def bivariate(rng: np.random.Generator, rho: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    x, e = rng.standard_normal(n), rng.standard_normal(n)
    return x, rho * x + math.sqrt(1 - rho**2) * e


def true_spearman(rho: float) -> float:
    """Population Spearman correlation of a bivariate normal (Pearson 1907)."""
    return 6.0 / math.pi * math.asin(rho / 2.0)


@pytest.mark.parametrize("shape", [(40,), (3, 25), (2, 3, 17)])
def test_tied_ranks_equal_scipy_rankdata(rng, shape):
    values = rng.integers(0, 6, size=shape).astype(float) * 0.5  # many ties
    codes, size = dense_codes(values.ravel())
    got = tied_ranks(codes.reshape(shape), size)
    np.testing.assert_array_equal(got, stats.rankdata(values, axis=-1))


def test_point_estimates_are_the_absolute_correlations(rng):
    mos, score = bivariate(rng, 0.7, 80)
    boot = paired_bootstrap(mos, {"up": score, "down": -np.exp(score)}, resamples=50, seed=0)
    assert boot.srcc["up"] == pytest.approx(abs(stats.spearmanr(score, mos).statistic), abs=1e-12)
    assert boot.srcc["down"] == pytest.approx(boot.srcc["up"], abs=1e-12)
    assert boot.plcc["down"] == pytest.approx(abs(stats.pearsonr(-np.exp(score), mos).statistic), abs=1e-12)
    for name in ("up", "down"):
        assert boot.srcc_ci[name].contains(boot.srcc[name]) and boot.plcc_ci[name].contains(boot.plcc[name])


def test_interval_contains_the_true_value(rng):
    rho = 0.6
    mos, score = bivariate(rng, rho, 400)
    boot = paired_bootstrap(mos, {"m": score}, resamples=1000, seed=11)
    assert boot.plcc_ci["m"].contains(rho)
    assert boot.srcc_ci["m"].contains(true_spearman(rho))
    assert 0.05 < boot.srcc_ci["m"].high - boot.srcc_ci["m"].low < 0.25


def test_coverage_is_near_the_nominal_95_percent(rng):
    rho, trials = 0.5, 60
    covered_p = covered_s = 0
    for _ in range(trials):
        mos, score = bivariate(rng, rho, 100)
        boot = paired_bootstrap(mos, {"m": score}, resamples=300, seed=int(rng.integers(1 << 31)))
        covered_p += boot.plcc_ci["m"].contains(rho)
        covered_s += boot.srcc_ci["m"].contains(true_spearman(rho))
    # Binomial(60, 0.95): P(<= 50 covered) < 1%; a broken interval (too narrow or shifted) falls well below.
    assert covered_p > 50 and covered_s > 50


def test_same_seed_same_intervals_other_seed_other_intervals(rng):
    mos, score = bivariate(rng, 0.5, 60)
    other = score + rng.normal(0, 1, 60)
    a = paired_bootstrap(mos, {"a": score, "b": other}, resamples=200, seed=5)
    b = paired_bootstrap(mos, {"a": score, "b": other}, resamples=200, seed=5)
    c = paired_bootstrap(mos, {"a": score, "b": other}, resamples=200, seed=6)
    assert a.srcc_ci == b.srcc_ci and a.plcc_ci == b.plcc_ci and a.diff_ci == b.diff_ci
    np.testing.assert_array_equal(a.diff_distribution[("a", "b")], b.diff_distribution[("a", "b")])
    assert a.srcc_ci["a"] != c.srcc_ci["a"]


def test_resamples_are_paired_across_metrics(rng):
    """A monotone transform has the same SRCC in every resample only if both saw the same images."""
    mos, score = bivariate(rng, 0.5, 70)
    boot = paired_bootstrap(mos, {"a": score, "b": np.exp(score), "c": score + rng.normal(0, 1, 70)},
                            resamples=300, seed=1)  # fmt: skip
    dist = boot.diff_distribution[("a", "b")]
    assert dist.shape == (300,) and np.all(dist == 0.0)
    assert boot.diff_ci[("a", "b")].low == 0.0 == boot.diff_ci[("a", "b")].high
    assert bootstrap_p_value(dist) == 1.0
    # and a genuinely different metric does vary between resamples
    assert np.std(boot.diff_distribution[("a", "c")]) > 0.01
    diff, ci, flipped = boot.srcc_difference("c", "a")
    assert diff == pytest.approx(boot.srcc["c"] - boot.srcc["a"])
    np.testing.assert_array_equal(flipped, -boot.diff_distribution[("a", "c")])
    assert ci.low == -boot.diff_ci[("a", "c")].high


def test_bootstrap_p_value_by_hand():
    # 1 of 4 at or below 0, 3 at or above: 2 * (1 + 1) / (1 + 4)
    assert bootstrap_p_value(np.array([1.0, 2.0, 3.0, -1.0])) == pytest.approx(0.8)
    # all 99 above 0: 2 * (1 + 0) / (1 + 99)
    assert bootstrap_p_value(np.linspace(0.1, 1, 99)) == pytest.approx(0.02)
    assert math.isnan(bootstrap_p_value(np.array([np.nan])))


@pytest.mark.parametrize(
    ("mos", "scores", "message"),
    [
        (np.arange(5.0), {"m": np.array([0, 1, np.nan, 3, 4.0])}, "non-finite"),
        (np.arange(5.0), {"m": np.ones(5)}, "constant"),
        (np.arange(5.0), {"m": np.arange(4.0)}, "4 scores for 5"),
        (np.arange(2.0), {"m": np.arange(2.0)}, "at least 3"),
        (np.arange(5.0), {}, "no metrics"),
    ],
)
def test_invalid_input_is_refused(mos, scores, message):
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(mos, scores, resamples=10)
