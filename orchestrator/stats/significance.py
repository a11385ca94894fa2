"""Is metric A better than metric B on the same images? Tests for two correlations that share MOS.

- SRCC: the paired bootstrap of SRCC(A) - SRCC(B) (``orchestrator.stats.bootstrap``): its interval and p-value.
- PLCC: Williams' t (Williams 1959, in the form of Steiger 1980, "Tests for comparing elements of a correlation
  matrix", Psychological Bulletin 87(2), eq. 7) and Steiger's Z (Steiger 1980, eq. 14, pooled correlation) for
  dependent correlations r(MOS, A) vs r(MOS, B) given r(A, B). Both assume Pearson correlations of roughly
  normal variables; they are reported for PLCC, where that assumption belongs.

scipy has no test for dependent correlations; the two closed forms are written out here and checked against
hand-computed values in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from orchestrator.stats.bootstrap import PairedBootstrap, bootstrap_p_value

SIGNIFICANCE_COLUMNS = [
    "dataset", "metric_a", "metric_b", "n_paired", "n_excluded", "resamples",
    "srcc_a", "srcc_b", "srcc_diff", "srcc_diff_ci_low", "srcc_diff_ci_high", "bootstrap_p",
    "plcc_a", "plcc_b", "r_ab", "williams_t", "williams_df", "williams_p", "steiger_z", "steiger_p",
    "vs_best", "indistinguishable",
]  # fmt: skip


#: Correlations closer than this are equal (e.g. two metrics that differ by a linear map, up to rounding).
EQUAL_TOLERANCE = 1e-12


@dataclass(frozen=True)
class ComparisonResult:
    statistic: float
    p_value: float
    df: float = math.nan


def _check(r12: float, r13: float, r23: float, n: int) -> None:
    for name, r in (("r12", r12), ("r13", r13), ("r23", r23)):
        if not -1.0 <= r <= 1.0:
            raise ValueError(f"{name} = {r} is not a correlation")
    if n <= 3:
        raise ValueError(f"n must be > 3 for tests of dependent correlations, got {n}")


def williams_t(r12: float, r13: float, r23: float, n: int) -> ComparisonResult:
    """Williams' t for H0: rho12 = rho13, variable 1 shared; t with n - 3 degrees of freedom, two-sided p."""
    _check(r12, r13, r23, n)
    det = 1.0 - r12**2 - r13**2 - r23**2 + 2.0 * r12 * r13 * r23
    rbar = (r12 + r13) / 2.0
    denominator = 2.0 * (n - 1) / (n - 3) * det + rbar**2 * (1.0 - r23) ** 3
    if math.isclose(r12, r13, rel_tol=0.0, abs_tol=EQUAL_TOLERANCE):
        return ComparisonResult(0.0, 1.0, n - 3)
    if denominator <= 0:
        return ComparisonResult(math.nan, math.nan, n - 3)
    t = (r12 - r13) * math.sqrt((n - 1) * (1.0 + r23) / denominator)
    return ComparisonResult(t, float(2.0 * stats.t.sf(abs(t), n - 3)), n - 3)


def steiger_z(r12: float, r13: float, r23: float, n: int) -> ComparisonResult:
    """Steiger's Z for H0: rho12 = rho13 (Fisher z, pooled mean correlation); two-sided normal p."""
    _check(r12, r13, r23, n)
    if math.isclose(r12, r13, rel_tol=0.0, abs_tol=EQUAL_TOLERANCE):
        return ComparisonResult(0.0, 1.0)
    if max(abs(r12), abs(r13)) >= 1.0:
        return ComparisonResult(math.nan, math.nan)
    rbar = (r12 + r13) / 2.0
    psi = r23 * (1.0 - 2.0 * rbar**2) - 0.5 * rbar**2 * (1.0 - 2.0 * rbar**2 - r23**2)
    covariance = psi / (1.0 - rbar**2) ** 2
    if covariance >= 1.0:
        return ComparisonResult(math.nan, math.nan)
    z = (math.atanh(r12) - math.atanh(r13)) * math.sqrt(n - 3) / math.sqrt(2.0 - 2.0 * covariance)
    return ComparisonResult(z, float(2.0 * stats.norm.sf(abs(z))))


def _or_nan(test, r12: float, r13: float, r23: float, n: int) -> ComparisonResult:
    """The test, or NaN when too few images (n <= 3) make it undefined."""
    return test(r12, r13, r23, n) if n > 3 else ComparisonResult(math.nan, math.nan)


def significance_table(
    dataset: str,
    mos: np.ndarray,
    scores: dict[str, np.ndarray],
    boot: PairedBootstrap,
    n_excluded: int,
) -> pd.DataFrame:
    """Every pair of metrics on one dataset, the one with the higher SRCC as ``metric_a``.

    ``scores`` and ``mos`` are the paired images (scored by every metric); ``boot`` their paired bootstrap.
    ``vs_best`` marks the pairs whose ``metric_a`` has the highest SRCC of the dataset; ``indistinguishable``
    is True when the SRCC difference's bootstrap interval (at the bootstrap's confidence level) contains 0.
    """
    order = sorted(boot.metrics, key=lambda m: boot.srcc[m], reverse=True)
    best = order[0]
    y = np.asarray(mos, dtype=float)
    # boot.plcc is oriented (>= 0 on all images); orient the scores the same way for r(A, B).
    oriented = {m: np.asarray(scores[m], dtype=float) * np.sign(stats.pearsonr(scores[m], y).statistic) for m in order}
    rows = []
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            diff, ci, dist = boot.srcc_difference(a, b)
            r_ab = float(stats.pearsonr(oriented[a], oriented[b]).statistic)
            w = _or_nan(williams_t, boot.plcc[a], boot.plcc[b], r_ab, boot.n)
            s = _or_nan(steiger_z, boot.plcc[a], boot.plcc[b], r_ab, boot.n)
            rows.append(
                {
                    "dataset": dataset, "metric_a": a, "metric_b": b, "n_paired": boot.n, "n_excluded": n_excluded,
                    "resamples": boot.resamples,
                    "srcc_a": boot.srcc[a], "srcc_b": boot.srcc[b], "srcc_diff": diff,
                    "srcc_diff_ci_low": ci.low, "srcc_diff_ci_high": ci.high, "bootstrap_p": bootstrap_p_value(dist),
                    "plcc_a": boot.plcc[a], "plcc_b": boot.plcc[b], "r_ab": r_ab,
                    "williams_t": w.statistic, "williams_df": w.df, "williams_p": w.p_value,
                    "steiger_z": s.statistic, "steiger_p": s.p_value,
                    "vs_best": a == best, "indistinguishable": bool(ci.contains(0.0)),
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=SIGNIFICANCE_COLUMNS)
