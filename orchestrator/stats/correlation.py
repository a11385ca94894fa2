"""Agreement with human opinion: PLCC (no fitting), SRCC and KRCC (tau-b) with scipy, per cell."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: Fewer scored images than this give no correlations (NaN), not a misleading number.
MIN_IMAGES = 3


@dataclass(frozen=True)
class Correlations:
    n: int
    n_failed: int
    plcc: float
    srcc: float
    krcc: float
    #: Sign of SRCC before taking the absolute value (+1, -1, or 0 when undefined).
    sign: int


def scored_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that count: no error and a finite score."""
    ok = frame["error"].isna() & np.isfinite(frame["score"].astype(float))
    return frame[ok]


def correlations(frame: pd.DataFrame) -> Correlations:
    scored = scored_rows(frame)
    n, n_failed = len(scored), len(frame) - len(scored)
    if n < MIN_IMAGES:
        return Correlations(n, n_failed, math.nan, math.nan, math.nan, 0)
    score = scored["score"].to_numpy(dtype=float)
    mos = scored["mos"].to_numpy(dtype=float)
    if np.ptp(score) == 0 or np.ptp(mos) == 0:
        return Correlations(n, n_failed, math.nan, math.nan, math.nan, 0)
    plcc = stats.pearsonr(score, mos).statistic
    srcc = stats.spearmanr(score, mos).statistic
    krcc = stats.kendalltau(score, mos, variant="b").statistic
    sign = int(np.sign(srcc)) if np.isfinite(srcc) else 0
    return Correlations(n, n_failed, abs(float(plcc)), abs(float(srcc)), abs(float(krcc)), sign)


def expected_sign(metric_lower_better: bool, mos_lower_better: bool) -> int:
    """+1 when a better image should get both a higher score and a higher MOS (or both lower)."""
    return -1 if metric_lower_better != mos_lower_better else 1


def failure_reasons(frame: pd.DataFrame, top: int = 3, examples: int = 3) -> str:
    """The most common error messages of a cell, with counts and example images ("" when nothing failed)."""
    failed = frame[frame["error"].notna()]
    if failed.empty:
        return ""
    counts = Counter(failed["error"])
    parts = []
    for message, count in counts.most_common(top):
        names = failed.loc[failed["error"] == message, "dist_name"].head(examples).tolist()
        more = ", ..." if count > len(names) else ""
        parts.append(f"{count}× {message} [{', '.join(map(str, names))}{more}]")
    if len(counts) > top:
        parts.append(f"and {len(counts) - top} other reason(s)")
    return "; ".join(parts)


def throughput(frame: pd.DataFrame) -> tuple[float, float]:
    """(mean seconds per scored image in the model, images per second of wall time across the pool)."""
    scored = scored_rows(frame)
    if scored.empty:
        return math.nan, math.nan
    seconds_per_image = float(scored["seconds"].mean())
    span = float(frame["finished"].max() - frame["started"].min())
    return seconds_per_image, (len(scored) / span if span > 0 else math.nan)


def two_afc_accuracy(frame: pd.DataFrame, lower_better: bool) -> float:
    """BAPPS 2AFC accuracy: with distances d0, d1 (lower = more similar to the reference; a higher-better
    metric's score is negated) and ``judge`` the fraction of observers who preferred candidate 1, each
    judgement scores (d0 < d1)·(1 − judge) + (d0 > d1)·judge + (d0 = d1)·0.5; the accuracy is their mean."""
    scored = frame[frame["error"].isna()]
    d0 = scored["score"].to_numpy(dtype=float)
    d1 = scored["score_b"].to_numpy(dtype=float)
    ok = np.isfinite(d0) & np.isfinite(d1)
    if not ok.any():
        return math.nan
    d0, d1, judge = d0[ok], d1[ok], scored["judge"].to_numpy(dtype=float)[ok]
    if not lower_better:
        d0, d1 = -d0, -d1
    agree = np.where(d0 < d1, 1.0 - judge, np.where(d0 > d1, judge, 0.5))
    return float(agree.mean())
