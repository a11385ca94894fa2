"""The statistics of one dataset that compare its metrics: bootstrap intervals, ranks, the significance table and
the ranking plot. They need every cell of the dataset and no other dataset, so the driver runs them as soon as a
dataset's last cell ends (on a Ray task, overlapping the scoring of the other datasets); ``analyse()`` makes the
ones still missing at the end of a run.

Pairing: one paired bootstrap resamples the same image ids for every metric. Only images scored by every metric
that has correlations on the dataset take part in the paired comparisons; the others are counted in
``n_excluded`` of the significance table and named in the notes. A metric whose own scored images differ from that
common set gets its interval from its own images (same seed), so each interval describes the SRCC / PLCC printed
next to it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from orchestrator.stats.bootstrap import PairedBootstrap, paired_bootstrap
from orchestrator.stats.correlation import MIN_IMAGES, scored_rows
from orchestrator.stats.plots import ranking_plot
from orchestrator.stats.significance import SIGNIFICANCE_COLUMNS, significance_table

#: The per-image columns the dataset's statistics read (the rest of a cell's frame stays on the driver).
FRAME_COLUMNS = ["id", "mos", "score", "error"]


@dataclass
class DatasetAnalysis:
    """What :func:`analyse_dataset` found for one dataset's metrics (in the order they were given)."""

    dataset: str
    metrics: list[str]
    #: metric → its interval, pairing and rank columns (``srcc_ci_low`` … ``analysis_note``).
    columns: dict[str, dict]
    #: The pairwise comparisons (``SIGNIFICANCE_COLUMNS``); empty when nothing could be compared.
    significance: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: The ranking plot as PNG bytes, or ``None`` with the reason in ``ranking_error``.
    ranking_png: bytes | None = None
    ranking_error: str = ""


def reason(exc: BaseException) -> str:
    """One line saying why a statistic or plot could not be made."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def blank_columns(metrics: list[str], note: str = "") -> dict[str, dict]:
    """The per-metric columns of a dataset before (or instead of) its intervals and ranks."""
    return {m: {**_no_interval(), "n_paired": 0, "srcc_rank": math.nan, "tied_with_best": pd.NA,
                "analysis_note": note} for m in metrics}  # fmt: skip


def analyse_dataset(dataset: str, metrics: list[str], srcc: dict[str, float], frames: dict[str, pd.DataFrame],
                    resamples: int, seed: int, method: str) -> DatasetAnalysis:
    """Intervals, ranks, the significance table and the ranking plot of one dataset's ``metrics``.

    ``frames[metric]``: the cell's per-image table (failed rows: non-null ``error``; a cell that was not computed
    has an empty one); ``srcc[metric]``: the SRCC of its summary row, the bar of the ranking plot. Statistics
    that cannot be computed (a constant or non-finite MOS, say) give NaN with the reason in ``analysis_note`` and
    the notes; a plot that cannot be drawn gives its reason in ``ranking_error``. Never raises for the data.
    """
    notes: list[str] = []
    try:
        columns, table = _compare(dataset, metrics, frames, resamples, seed, method, notes)
    except Exception as exc:  # recorded in each of the dataset's rows and in the notes, never raised
        why = f"statistics failed: {reason(exc)}"
        notes.append(f"{dataset}: {why}")
        columns, table = blank_columns(metrics, why), pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)
    result = DatasetAnalysis(dataset, list(metrics), columns, table, notes)
    rows = pd.DataFrame([{"metric": m, "srcc": srcc[m], **columns[m]} for m in metrics])
    buffer = io.BytesIO()
    try:
        ranking_plot(buffer, dataset, rows)
        result.ranking_png = buffer.getvalue()
    except Exception as exc:  # a plot never costs the statistics: its reason is noted by the caller
        result.ranking_error = reason(exc)
    return result


def analyse_datasets(work: list[tuple]) -> list[DatasetAnalysis]:
    """:func:`analyse_dataset` of each argument tuple, in order (the body of one Ray task)."""
    return [analyse_dataset(*arguments) for arguments in work]


def _series(frame: pd.DataFrame, column: str) -> pd.Series:
    scored = scored_rows(frame)
    duplicated = scored["id"][scored["id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"duplicate image ids in a per-image frame: {duplicated.tolist()[:5]}")
    return scored.set_index("id")[column].astype(float)


def _has_correlation(score: pd.Series) -> bool:
    return len(score) >= MIN_IMAGES and np.ptp(score.to_numpy()) > 0


def _interval_columns(boot: PairedBootstrap, metric: str) -> dict:
    return {
        "srcc_ci_low": boot.srcc_ci[metric].low, "srcc_ci_high": boot.srcc_ci[metric].high,
        "plcc_ci_low": boot.plcc_ci[metric].low, "plcc_ci_high": boot.plcc_ci[metric].high, "ci_n": boot.n,
    }  # fmt: skip


def _no_interval() -> dict:
    return {"srcc_ci_low": math.nan, "srcc_ci_high": math.nan, "plcc_ci_low": math.nan, "plcc_ci_high": math.nan,
            "ci_n": 0}  # fmt: skip


def _compare(
    dataset: str, metrics: list[str], frames: dict[str, pd.DataFrame], resamples: int, seed: int, method: str,
    notes: list[str],
) -> tuple[dict[str, dict], pd.DataFrame]:
    """Intervals, ranks and the significance table of one dataset's metrics."""
    scores = {m: _series(frames[m], "score") for m in metrics}
    mos = {m: _series(frames[m], "mos") for m in metrics}
    columns = blank_columns(metrics)
    usable = [m for m in metrics if _has_correlation(scores[m])]
    for m in sorted(set(metrics) - set(usable)):
        columns[m]["analysis_note"] = "no correlation (too few scored images or constant score): not compared"
    if not usable:
        return columns, pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)
    common = sorted(set.intersection(*(set(scores[m].index) for m in usable)))
    every = set.union(*(set(frames[m]["id"]) for m in usable))
    excluded = len(every) - len(common)
    reference = mos[usable[0]]
    for m in usable[1:]:
        shared = reference.index.intersection(mos[m].index)
        if not np.array_equal(reference[shared].to_numpy(), mos[m][shared].to_numpy()):
            raise ValueError(f"{dataset}: MOS differs between the frames of {usable[0]} and {m} for the same ids")
    y = reference.reindex(common).to_numpy() if common else np.array([])
    paired_scores = {m: scores[m].reindex(common).to_numpy() for m in usable}
    paired_ok = len(common) >= MIN_IMAGES and np.ptp(y) > 0 and all(np.ptp(s) > 0 for s in paired_scores.values())
    boot = None
    if paired_ok:
        boot = paired_bootstrap(y, paired_scores, resamples=resamples, seed=seed, method=method)
        for message, count in boot.warnings.items():
            notes.append(f"{dataset}: paired bootstrap warned {count}× {message}")
    if excluded:
        notes.append(
            f"{dataset}: {excluded} image(s) not scored by every metric are excluded from the paired comparisons "
            f"({len(common)} paired images)"
        )
    for m in usable:
        own = set(scores[m].index)
        columns[m]["n_paired"] = len(common) if paired_ok else 0
        if boot is not None and own == set(common):
            columns[m].update(_interval_columns(boot, m))
        else:
            single = paired_bootstrap(
                mos[m].to_numpy(), {m: scores[m].to_numpy()}, resamples=resamples, seed=seed, method=method
            )
            columns[m].update(_interval_columns(single, m))
            columns[m]["analysis_note"] = (
                f"interval over its own {len(own)} scored images; paired comparisons over {len(common)}"
                if paired_ok else "interval over its own scored images; too few common images to compare"
            )  # fmt: skip
            for message, count in single.warnings.items():
                notes.append(f"{dataset}/{m}: bootstrap warned {count}× {message}")
    if boot is None:
        notes.append(f"{dataset}: fewer than {MIN_IMAGES} usable common images; no paired comparison")
        return columns, pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)
    table = significance_table(dataset, y, paired_scores, boot, n_excluded=excluded)
    ranked = sorted(usable, key=lambda m: boot.srcc[m], reverse=True)
    tied = dict(zip(table.loc[table["vs_best"], "metric_b"], table.loc[table["vs_best"], "indistinguishable"]))
    for rank, m in enumerate(ranked, start=1):
        columns[m]["srcc_rank"] = rank
        columns[m]["tied_with_best"] = True if rank == 1 else bool(tied[m])
    return columns, table
