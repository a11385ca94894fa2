"""VQEG nonlinear mappings from metric score to MOS: the 4- and 5-parameter logistic fits, PLCC and RMSE after them.

4PL (VQEG FR-TV Phase II report, 2003):
    ``Q(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``
5PL (Sheikh, Sabir & Bovik, "A statistical evaluation of recent full reference image quality assessment
algorithms", IEEE TIP 2006):
    ``Q(x) = b1 * (1/2 - 1 / (1 + exp(b2 * (x - b3)))) + b4 * x + b5``

Fitting is ``scipy.optimize.curve_fit`` on the standardised score ``z = (x - mean) / std`` (so the start does not
depend on the metric's scale), with an analytic Jacobian and bounds (``_bounds``). The 4PL runs from a small grid
of data-driven starts, the lowest residual winning; the 5PL starts from the 4PL optimum (the grid is its
fallback). Parameters are returned in the metric's own units. A fit that fails carries its reason in
``FitResult.error``; it is never silently replaced by the raw numbers.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import optimize, special, stats

Model = Callable[..., np.ndarray]

#: Most function evaluations per start.
MAX_FEV = 1000
#: Most function evaluations of one fit over all its starts: scores that no logistic follows (noise) would
#: otherwise run every start to its limit, seconds per cell on a few thousand images.
TOTAL_FEV = 3000
#: Scale of the logistic on the standardised score: from a near step to a near straight line.
SLOPE_RANGE = (1e-3, 1e3)
#: Start grid on the standardised score: slopes × centres (as quantiles of z).
START_SLOPES = (0.5, 1.0, 2.0)
START_CENTRES = (0.25, 0.5, 0.75)


def logistic_4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """The VQEG 4-parameter logistic: from ``b2`` (x → -inf) to ``b1`` (x → +inf), centre ``b3``, scale ``|b4|``."""
    return (b1 - b2) * special.expit((x - b3) / abs(b4)) + b2


def logistic_5(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """The 5-parameter logistic with a linear term (Sheikh et al. 2006); ``1/(1 + exp(u)) = expit(-u)``."""
    return b1 * (0.5 - special.expit(-b2 * (x - b3))) + b4 * x + b5


def jacobian_4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """d logistic_4 / d(b1, b2, b3, b4), for ``b4 > 0`` (the fit bounds it so)."""
    s = special.expit((x - b3) / b4)
    ds = (b1 - b2) * s * (1.0 - s)
    return np.column_stack([s, 1.0 - s, -ds / b4, -ds * (x - b3) / b4**2])


def jacobian_5(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """d logistic_5 / d(b1, ..., b5)."""
    g = special.expit(-b2 * (x - b3))
    dg = b1 * g * (1.0 - g)
    return np.column_stack([0.5 - g, dg * (x - b3), -dg * b2, x, np.ones_like(x)])


MODELS: dict[str, tuple[Model, int]] = {"4pl": (logistic_4, 4), "5pl": (logistic_5, 5)}
JACOBIANS: dict[str, Model] = {"4pl": jacobian_4, "5pl": jacobian_5}


@dataclass(frozen=True)
class FitResult:
    model: str
    #: Parameters in the metric's units (``b1..bK``); empty when the fit failed.
    params: tuple[float, ...]
    #: PLCC between the fitted prediction and MOS (signed; positive for any sensible fit).
    plcc: float
    #: Root mean square error of the prediction against MOS, in MOS units.
    rmse: float
    n: int
    #: Why there is no fit (``None`` when it succeeded).
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def predict(self, x: np.ndarray) -> np.ndarray:
        if not self.ok:
            raise ValueError(f"{self.model} fit failed: {self.error}")
        return MODELS[self.model][0](np.asarray(x, dtype=float), *self.params)


def _failed(model: str, n: int, reason: str) -> FitResult:
    return FitResult(model=model, params=(), plcc=math.nan, rmse=math.nan, n=n, error=reason)


def _starts(model: str, z: np.ndarray, mos: np.ndarray, increasing: bool) -> list[list[float]]:
    lo, hi = float(np.min(mos)), float(np.max(mos))
    starts = []
    for slope, q in itertools.product(START_SLOPES, START_CENTRES):
        centre = float(np.quantile(z, q))
        if model == "4pl":
            top, bottom = (hi, lo) if increasing else (lo, hi)
            starts.append([top, bottom, centre, slope])
        else:
            amplitude = (hi - lo) if increasing else (lo - hi)
            starts.append([amplitude, slope, centre, 0.0, float(np.mean(mos))])
    return starts


def _bounds(model: str, z: np.ndarray) -> tuple[list[float], list[float]]:
    """Bounds on the standardised score: the centre within 3 standard deviations of the data, the slope between
    a step and a straight line. They keep degenerate optima (a logistic flattened into the linear term of the
    5PL, or a step) finite, so the optimiser stops at a usable curve instead of running to infinity."""
    lo, hi = float(np.min(z)) - 3.0, float(np.max(z)) + 3.0
    inf = np.inf
    if model == "4pl":
        return [-inf, -inf, lo, SLOPE_RANGE[0]], [inf, inf, hi, SLOPE_RANGE[1]]
    return [-inf, -1.0 / SLOPE_RANGE[0], lo, -inf, -inf], [inf, 1.0 / SLOPE_RANGE[0], hi, inf, inf]


def _to_metric_units(model: str, p: np.ndarray, mu: float, sd: float) -> tuple[float, ...]:
    """Parameters fitted on ``z = (x - mu) / sd`` → the same curve written in ``x``."""
    if model == "4pl":
        b1, b2, b3, b4 = p
        return float(b1), float(b2), float(mu + sd * b3), float(sd * abs(b4))
    b1, b2, b3, b4, b5 = p
    if b2 < 0:  # (b1, b2) and (-b1, -b2) draw the same curve; keep b2 > 0
        b1, b2 = -b1, -b2
    return float(b1), float(b2 / sd), float(mu + sd * b3), float(b4 / sd), float(b5 - b4 * mu / sd)


def _best_fit(model: str, z: np.ndarray, y: np.ndarray, starts: list[list[float]], errors: list[str]):
    """The lowest-residual ``curve_fit`` over ``starts`` (parameters on ``z``), or ``None``; failures go to
    ``errors``."""
    func = MODELS[model][0]
    best: tuple[float, np.ndarray] | None = None
    budget = TOTAL_FEV
    for p0 in starts:
        if budget <= 0:
            errors.append(f"{model.upper()}: evaluation budget ({TOTAL_FEV}) spent")
            break
        try:
            with warnings.catch_warnings():
                # A covariance that cannot be estimated does not invalidate the point estimate we use.
                warnings.simplefilter("ignore", optimize.OptimizeWarning)
                params, _, info, _, _ = optimize.curve_fit(
                    func, z, y, p0=p0, jac=JACOBIANS[model], bounds=_bounds(model, z), method="trf",
                    max_nfev=min(MAX_FEV, budget), full_output=True,
                )
        except (RuntimeError, ValueError) as exc:
            errors.append(f"{model.upper()} {type(exc).__name__}: {exc}")
            budget -= min(MAX_FEV, budget)
            continue
        budget -= int(info.get("nfev", MAX_FEV))
        pred = func(z, *params)
        if not np.isfinite(pred).all():
            errors.append(f"{model.upper()}: non-finite prediction")
            continue
        sse = float(np.sum((pred - y) ** 2))
        if best is None or sse < best[0]:
            best = (sse, params)
    return None if best is None else best[1]


def fit_both(score: np.ndarray, mos: np.ndarray) -> list[FitResult]:
    """The 4PL and the 5PL fit of one cell; the 5PL starts from the 4PL's optimum, found once."""
    four_start: list = []
    four = fit_logistic(score, mos, "4pl", _four_out=four_start)
    return [four, fit_logistic(score, mos, "5pl", _four_in=four_start)]


def fit_logistic(score: np.ndarray, mos: np.ndarray, model: str = "4pl", *, _four_out: list | None = None,
                 _four_in: list | None = None) -> FitResult:
    """Fit ``model`` ("4pl" or "5pl") mapping ``score`` to ``mos``; PLCC and RMSE of the fitted prediction.

    (``_four_out`` / ``_four_in``: :func:`fit_both` hands the 4PL optimum on the standardised score to the 5PL.)"""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {sorted(MODELS)}")
    func, k = MODELS[model]
    x = np.asarray(score, dtype=float)
    y = np.asarray(mos, dtype=float)
    n = len(x)
    if len(y) != n:
        raise ValueError(f"score and mos differ in length ({n} vs {len(y)})")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return _failed(model, n, "non-finite score or MOS")
    if n <= k:
        return _failed(model, n, f"too few images ({n}) for {k} parameters")
    if np.ptp(x) == 0:
        return _failed(model, n, "constant score")
    if np.ptp(y) == 0:
        return _failed(model, n, "constant MOS")
    mu, sd = float(np.mean(x)), float(np.std(x))
    z = (x - mu) / sd
    increasing = bool(stats.spearmanr(x, y).statistic >= 0)
    errors: list[str] = []
    best = None
    if model == "5pl":
        # The 4PL optimum, rewritten as a 5PL with no linear term, is a start close to the 5PL optimum.
        four = _four_in[0] if _four_in else _best_fit("4pl", z, y, _starts("4pl", z, y, increasing), errors)
        if four is not None:
            b1, b2, b3, b4 = four
            best = _best_fit("5pl", z, y, [[b1 - b2, 1.0 / b4, b3, 0.0, (b1 + b2) / 2.0]], errors)
    if best is None:
        best = _best_fit(model, z, y, _starts(model, z, y, increasing), errors)
    if model == "4pl" and _four_out is not None and best is not None:
        _four_out.append(best)
    if best is None:
        return _failed(model, n, f"no start converged ({len(errors)} tried); last: {errors[-1]}")
    params = _to_metric_units(model, best, mu, sd)
    pred = func(x, *params)
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    if np.ptp(pred) == 0:
        return FitResult(model, params, math.nan, rmse, n, error="fitted curve is flat (no PLCC)")
    plcc = float(stats.pearsonr(pred, y).statistic)
    return FitResult(model=model, params=params, plcc=plcc, rmse=rmse, n=n)
