"""Synthetic per-image frames (the driver's shape) and one shared analysed run for the analysis/report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestrator.stats.fits import logistic_4
from orchestrator.stats.correlation import correlations

#: Bootstrap resamples in the tests: enough for stable intervals, small enough to be fast.
RESAMPLES = 300


def make_frame(mos: np.ndarray, score: np.ndarray, errors: dict[int, str] | None = None) -> pd.DataFrame:
    """A per-image table like ``orchestrator.store.cell_frame``'s; rows in ``errors`` failed (score NaN)."""
    n = len(mos)
    frame = pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64),
            "dist_name": [f"img{i:03d}.png" for i in range(n)],
            "ref_name": [f"ref{i // 4:03d}.png" for i in range(n)],
            "mos": np.asarray(mos, dtype=float),
            "split": "all",
            "score": np.asarray(score, dtype=float),
            "error": pd.Series([None] * n, dtype=object),
            "seconds": 0.01,
        }
    )
    for i, message in (errors or {}).items():
        frame.loc[i, "error"] = message
        frame.loc[i, "score"] = np.nan
    return frame


def summary_for(frames: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """The per-cell summary the driver builds (the columns analyse() relies on)."""
    rows = []
    for (dataset, metric), frame in frames.items():
        c = correlations(frame)
        rows.append({"metric": metric, "dataset": dataset, "split": "all", "n": c.n, "n_failed": c.n_failed,
                     "plcc": c.plcc, "srcc": c.srcc, "krcc": c.krcc, "sign_ok": True})  # fmt: skip
    return pd.DataFrame(rows)


def synthetic_frames(seed: int = 7) -> dict[tuple[str, str], pd.DataFrame]:
    """Two datasets. "alpha": an exact logistic metric, a near copy of it, a noisy decreasing metric with two
    failed images, and a constant metric; "beta": two noisy metrics."""
    rng = np.random.default_rng(seed)
    n = 60
    q = np.sort(rng.uniform(-3.0, 3.0, n))
    rng.shuffle(q)
    mos = logistic_4(q, 5.0, 1.0, 0.2, 0.8)  # MOS is exactly a 4PL of the hidden quality q
    frames = {
        ("alpha", "exact"): make_frame(mos, q),
        ("alpha", "near"): make_frame(mos, q + rng.normal(0.0, 0.02, n)),
        ("alpha", "noisy"): make_frame(mos, -(q + rng.normal(0.0, 1.5, n)), errors={3: "boom", 11: "boom"}),
        ("alpha", "flat"): make_frame(mos, np.full(n, 0.5)),
    }
    m = 40
    q2 = rng.uniform(0.0, 1.0, m)
    mos2 = 10.0 * q2 + rng.normal(0.0, 0.5, m)
    frames[("beta", "exact")] = make_frame(mos2, q2 + rng.normal(0.0, 0.1, m))
    frames[("beta", "noisy")] = make_frame(mos2, q2 + rng.normal(0.0, 0.4, m))
    return frames


@pytest.fixture(scope="session")
def analysed(tmp_path_factory):
    """(out, frames, summary, AnalysisResult) of one analyse() run on the synthetic frames."""
    from orchestrator.stats.analysis import analyse

    out = tmp_path_factory.mktemp("analysed")
    frames = synthetic_frames()
    summary = summary_for(frames)
    result = analyse(out, summary, frames, resamples=RESAMPLES, seed=3)
    return out, frames, summary, result


@pytest.fixture(scope="session")
def report_dir(analysed, tmp_path_factory) -> Path:
    """A run directory as the driver leaves it (summary.csv with the analysis columns, plan, pyiqa CSV)."""
    import json
    import shutil

    from orchestrator.results.export import write_results_csv

    out, _, _, result = analysed
    run = tmp_path_factory.mktemp("run") / "results"
    shutil.copytree(out, run)
    result.summary.to_csv(run / "summary.csv", index=False, float_format="%.10g")
    write_results_csv(result.summary, run / "benchmark_results.csv")
    plan = {"datasets": [{"dataset": d, "metrics": [{"metric": m}]} for d, m in sorted(synthetic_frames())],
            "batch_size": 8, "use_gpu": False, "limit": None}  # fmt: skip
    (run / "plan.json").write_text(json.dumps(plan))
    return run
