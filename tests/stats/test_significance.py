"""Williams' t and Steiger's Z against hand-computed values and by simulation; the pairwise table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from orchestrator.stats.bootstrap import paired_bootstrap
from orchestrator.stats.significance import significance_table, steiger_z, williams_t


def test_williams_t_hand_computed():
    # r12 = .4, r13 = .5, r23 = .1, n = 103 (the example of psych::r.test's documentation: t = -0.89, p = 0.37)
    # |R| = 1 - .16 - .25 - .01 + 2(.4)(.5)(.1) = .62
    # denominator = 2 (102/100) .62 + ((.4 + .5)/2)^2 (1 - .1)^3 = 1.2648 + .2025 * .729 = 1.4124225
    # t = (.4 - .5) sqrt(102 * 1.1 / 1.4124225) = -.1 * sqrt(79.43821...) = -0.891281...
    expected = -0.1 * math.sqrt(102 * 1.1 / 1.4124225)
    result = williams_t(0.4, 0.5, 0.1, 103)
    assert result.statistic == pytest.approx(expected, abs=1e-12)
    assert round(result.statistic, 2) == -0.89
    assert result.df == 100
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(expected), 100), abs=1e-12)
    assert round(result.p_value, 2) == 0.37


def test_steiger_z_hand_computed():
    # rbar = .45; psi = .1 (1 - 2 * .2025) - .5 * .2025 (1 - 2 * .2025 - .01) = .0595 - .05923125 = .00026875
    # c = psi / (1 - .2025)^2; Z = (atanh .4 - atanh .5) sqrt(100) / sqrt(2 - 2c)
    c = 0.00026875 / (1 - 0.2025) ** 2
    expected = (math.atanh(0.4) - math.atanh(0.5)) * 10.0 / math.sqrt(2 - 2 * c)
    result = steiger_z(0.4, 0.5, 0.1, 103)
    assert result.statistic == pytest.approx(expected, abs=1e-12)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(expected)), abs=1e-12)


def test_williams_determinant_matches_numpy(rng):
    for _ in range(20):
        a = rng.standard_normal((3, 50))
        r = np.corrcoef(a)
        r12, r13, r23 = r[0, 1], r[0, 2], r[1, 2]
        rbar = (r12 + r13) / 2
        det = np.linalg.det(r)
        t = (r12 - r13) * math.sqrt(49 * (1 + r23) / (2 * 49 / 47 * det + rbar**2 * (1 - r23) ** 3))
        assert williams_t(r12, r13, r23, 50).statistic == pytest.approx(t, rel=1e-9)
        assert williams_t(r13, r12, r23, 50).statistic == pytest.approx(-t, rel=1e-9)


def test_equal_correlations_give_no_difference():
    for test in (williams_t, steiger_z):
        result = test(0.7, 0.7, 1.0, 30)
        assert result.statistic == 0.0 and result.p_value == 1.0


def _trivariate(rng, r12, r13, r23, n):
    cov = np.array([[1, r12, r13], [r12, 1, r23], [r13, r23, 1]])
    return rng.multivariate_normal(np.zeros(3), cov, size=n).T


def test_type_one_error_and_power_by_simulation(rng):
    """Under H0 (rho12 = rho13) about 5% of tests reject; with a real gap nearly all do."""
    trials, n = 400, 60
    rejected = {"williams": 0, "steiger": 0}
    for _ in range(trials):
        y, a, b = _trivariate(rng, 0.5, 0.5, 0.4, n)
        r12, r13, r23 = (stats.pearsonr(u, v).statistic for u, v in ((y, a), (y, b), (a, b)))
        rejected["williams"] += williams_t(r12, r13, r23, n).p_value < 0.05
        rejected["steiger"] += steiger_z(r12, r13, r23, n).p_value < 0.05
    for name, count in rejected.items():
        assert 8 <= count <= 36, (name, count)  # Binomial(400, .05): mean 20, P outside [8, 36] < 0.1%
    power = 0
    for _ in range(50):
        y, a, b = _trivariate(rng, 0.85, 0.5, 0.5, n)
        r12, r13, r23 = (stats.pearsonr(u, v).statistic for u, v in ((y, a), (y, b), (a, b)))
        power += williams_t(r12, r13, r23, n).p_value < 0.05
    assert power >= 45


def test_invalid_arguments():
    with pytest.raises(ValueError, match="not a correlation"):
        williams_t(1.2, 0.3, 0.1, 10)
    with pytest.raises(ValueError, match="n must be > 3"):
        steiger_z(0.2, 0.3, 0.1, 3)


def test_table_orders_pairs_and_marks_the_best_group(rng):
    n = 120
    mos = rng.standard_normal(n)
    good = mos + rng.normal(0, 0.3, n)
    scores = {"worse": mos + rng.normal(0, 1.5, n), "good": good, "twin": -good * 2.0 + 1.0}
    boot = paired_bootstrap(mos, scores, resamples=300, seed=0)
    table = significance_table("d", mos, scores, boot, n_excluded=4)
    assert len(table) == 3
    assert (table["srcc_a"] >= table["srcc_b"]).all()
    assert (table["n_paired"] == n).all() and (table["n_excluded"] == 4).all()
    twins = table[(table["metric_a"].isin(["good", "twin"])) & (table["metric_b"].isin(["good", "twin"]))].iloc[0]
    assert twins["srcc_diff"] == 0.0 and twins["indistinguishable"] and twins["bootstrap_p"] == 1.0
    assert twins["r_ab"] == pytest.approx(1.0)  # oriented: the twin is decreasing, its orientation flips it
    assert twins["williams_t"] == 0.0
    versus_worse = table[table["metric_b"] == "worse"]
    assert not versus_worse["indistinguishable"].any()
    assert (versus_worse["williams_p"] < 0.05).all() and (versus_worse["steiger_p"] < 0.05).all()
    best = table[table["vs_best"]]
    assert best["metric_a"].nunique() == 1 and len(best) == 2
