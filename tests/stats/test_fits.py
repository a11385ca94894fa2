"""The VQEG logistic fits against data generated exactly from the model, and failures that must be reported."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from orchestrator.stats import fits
from orchestrator.stats.fits import fit_logistic


def four(x, b1, b2, b3, b4):
    """The 4PL written out independently of the module."""
    return b2 + (b1 - b2) / (1.0 + np.exp((b3 - x) / abs(b4)))


def five(x, b1, b2, b3, b4, b5):
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(b2 * (x - b3)))) + b4 * x + b5


@pytest.mark.parametrize(
    "params",
    [(9.0, 1.0, 40.0, 8.0), (1.0, 9.0, 40.0, 8.0), (95.0, 5.0, 0.3, 0.05)],
    ids=["increasing", "decreasing", "small-scale"],
)
def test_4pl_recovers_exact_parameters(rng, params):
    x = rng.uniform(params[2] - 4 * params[3], params[2] + 4 * params[3], 150)
    mos = four(x, *params)
    fit = fit_logistic(x, mos, "4pl")
    assert fit.ok, fit.error
    np.testing.assert_allclose(fit.params, params, rtol=1e-6, atol=1e-9)
    assert fit.plcc == pytest.approx(1.0, abs=1e-10)
    assert fit.rmse == pytest.approx(0.0, abs=1e-7)
    assert fit.n == 150


def test_5pl_recovers_exact_parameters_in_canonical_sign(rng):
    x = rng.uniform(0.0, 100.0, 200)
    true = (6.0, 0.1, 50.0, 0.02, 3.0)
    mos = five(x, *true)
    fit = fit_logistic(x, mos, "5pl")
    assert fit.ok, fit.error
    np.testing.assert_allclose(fit.params, true, rtol=1e-6, atol=1e-9)
    assert fit.plcc == pytest.approx(1.0, abs=1e-10) and fit.rmse == pytest.approx(0.0, abs=1e-7)
    # (-b1, -b2) draws the same curve; the fit reports the b2 > 0 form.
    flipped = fit_logistic(x, five(x, -6.0, -0.1, 50.0, 0.02, 3.0), "5pl")
    np.testing.assert_allclose(flipped.params, true, rtol=1e-6, atol=1e-9)


def test_fit_is_invariant_to_the_metric_scale(rng):
    x = rng.uniform(-2, 2, 120)
    mos = four(x, 5.0, 1.0, 0.3, 0.6) + rng.normal(0, 0.2, 120)
    base = fit_logistic(x, mos, "4pl")
    scaled = fit_logistic(1000.0 * x + 7.0, mos, "4pl")
    assert scaled.plcc == pytest.approx(base.plcc, abs=1e-6)
    assert scaled.rmse == pytest.approx(base.rmse, rel=1e-6)
    assert scaled.params[2] == pytest.approx(1000.0 * base.params[2] + 7.0, rel=1e-5)
    assert scaled.params[3] == pytest.approx(1000.0 * base.params[3], rel=1e-5)


def test_reported_plcc_and_rmse_match_the_returned_curve(rng):
    x = rng.uniform(0, 1, 100)
    mos = 1 + 4 * x**2 + rng.normal(0, 0.3, 100)
    for model, func in (("4pl", four), ("5pl", five)):
        fit = fit_logistic(x, mos, model)
        pred = func(x, *fit.params)
        assert fit.plcc == pytest.approx(stats.pearsonr(pred, mos).statistic, abs=1e-12)
        assert fit.rmse == pytest.approx(math.sqrt(np.mean((pred - mos) ** 2)), rel=1e-12)
        # the noise is 0.3; a sound fit leaves about that much
        assert 0.2 < fit.rmse < 0.4


def test_fit_beats_raw_plcc_on_a_saturating_metric(rng):
    x = rng.uniform(-4, 4, 200)
    mos = four(x, 5.0, 1.0, 0.0, 0.7) + rng.normal(0, 0.1, 200)
    raw = abs(stats.pearsonr(x, mos).statistic)
    assert fit_logistic(x, mos, "4pl").plcc > raw + 0.02
    assert fit_logistic(x, mos, "5pl").plcc > raw + 0.02


@pytest.mark.parametrize(
    ("score", "mos", "reason"),
    [
        (np.ones(10), np.arange(10.0), "constant score"),
        (np.arange(10.0), np.ones(10), "constant MOS"),
        (np.arange(4.0), np.arange(4.0), "too few images"),
        (np.array([0.0, 1.0, np.nan, 3.0, 4.0, 5.0, 6.0]), np.arange(7.0), "non-finite"),
    ],
)
def test_impossible_fits_are_reported(score, mos, reason):
    for model in ("4pl", "5pl"):
        fit = fit_logistic(score, mos, model)
        assert not fit.ok and reason in fit.error
        assert math.isnan(fit.plcc) and math.isnan(fit.rmse) and fit.params == ()
        with pytest.raises(ValueError, match="fit failed"):
            fit.predict(np.zeros(3))


def test_a_fit_that_does_not_converge_is_reported(rng, monkeypatch):
    monkeypatch.setattr(fits, "MAX_FEV", 2)
    x = rng.uniform(0, 1, 50)
    fit = fit_logistic(x, 1 + 4 * x + rng.normal(0, 0.3, 50), "4pl")
    assert not fit.ok
    assert fit.error.startswith("no start converged (9 tried)") and "RuntimeError" in fit.error
    assert math.isnan(fit.plcc)


def test_unknown_model_is_an_error():
    with pytest.raises(ValueError, match="unknown model"):
        fit_logistic(np.arange(10.0), np.arange(10.0), "3pl")


@pytest.mark.parametrize(("model", "params"), [("4pl", (5.0, 1.0, 0.3, 0.7)), ("5pl", (3.0, 1.5, -0.2, 0.4, 2.0))])
def test_analytic_jacobians_match_finite_differences(rng, model, params):
    x = rng.uniform(-2, 2, 30)
    func, jac = fits.MODELS[model][0], fits.JACOBIANS[model]
    numeric = np.column_stack([
        (func(x, *np.add(params, step)) - func(x, *np.subtract(params, step))) / 2e-6
        for step in np.eye(len(params)) * 1e-6
    ])  # fmt: skip
    np.testing.assert_allclose(jac(x, *params), numeric, rtol=1e-5, atol=1e-7)


def test_linear_data_still_gets_a_5pl_fit(rng):
    """On a straight line with noise the 5PL optimum drifts towards a step; the bounds keep it finite."""
    x = rng.uniform(0, 1, 40) + rng.normal(0, 0.4, 40)
    mos = 10 * x + rng.normal(0, 2.0, 40)
    fit = fit_logistic(x, mos, "5pl")
    assert fit.ok, fit.error
    assert fit.plcc >= abs(stats.pearsonr(x, mos).statistic) - 1e-9  # the line is a 5PL with b1 = 0
