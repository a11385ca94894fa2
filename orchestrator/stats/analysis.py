"""Beyond the raw correlations: logistic fits, bootstrap intervals, pairwise significance and plots, per run.

``analyse()`` is called by the driver once the per-cell summary exists. It reads nothing but the per-image frames
it is given, writes ``significance.csv``, ``analysis.json``, ``versions.json`` and ``plots/*.png`` under ``out``,
and returns the summary with extra columns (``ANALYSIS_COLUMNS``) for the driver to write and log.

Pairing: on each dataset, one paired bootstrap resamples the same image ids for every metric. Only images scored
by every metric that has correlations on the dataset take part in the paired comparisons; the others are
counted in ``n_excluded`` of ``significance.csv`` and named in the notes. A metric whose own scored images
differ from that common set gets its interval from its own images (same seed), so each interval describes the
SRCC / PLCC printed next to it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from orchestrator.stats.bootstrap import CONFIDENCE, DEFAULT_RESAMPLES, PairedBootstrap, paired_bootstrap
from orchestrator.stats.cell import CellAnalysis
from orchestrator.stats.fits import FitResult, fit_both
from orchestrator.stats.plots import heatmap_plot, ranking_plot, safe_name, scatter_plot
from orchestrator.stats.significance import SIGNIFICANCE_COLUMNS, significance_table
from orchestrator.stats.correlation import MIN_IMAGES, scored_rows
from orchestrator.results.files import write_text_atomic
from orchestrator.results.provenance import git_commit, versions

#: Columns ``analyse`` adds to the summary (in this order).
ANALYSIS_COLUMNS = [
    "plcc_4pl", "rmse_4pl", "plcc_5pl", "rmse_5pl", "fit_error",
    "srcc_ci_low", "srcc_ci_high", "plcc_ci_low", "plcc_ci_high", "ci_n",
    "n_paired", "srcc_rank", "tied_with_best", "analysis_note",
]  # fmt: skip
#: The numeric ones, to log as MLflow metrics of each cell's child run.
ANALYSIS_METRICS = (
    "plcc_4pl", "rmse_4pl", "plcc_5pl", "rmse_5pl",
    "srcc_ci_low", "srcc_ci_high", "plcc_ci_low", "plcc_ci_high", "srcc_rank",
)  # fmt: skip

SIGNIFICANCE_CSV = "significance.csv"
ANALYSIS_JSON = "analysis.json"
VERSIONS_JSON = "versions.json"
PLOTS_DIR = "plots"
HEATMAP_PNG = "srcc_heatmap.png"
#: Stands in for the frame of a cell that was not computed.
EMPTY_FRAME = pd.DataFrame({"id": pd.Series(dtype="int64"), "mos": pd.Series(dtype=float),
                            "score": pd.Series(dtype=float), "error": pd.Series(dtype=object)})  # fmt: skip


@dataclass(frozen=True)
class PlotFile:
    path: Path
    #: (dataset, metric) of the cell's child run, or ``None`` for the parent run.
    cell: tuple[str, str] | None
    kind: str


@dataclass
class AnalysisResult:
    summary: pd.DataFrame
    significance: pd.DataFrame
    plots: list[PlotFile]
    significance_csv: Path
    analysis_json: Path
    versions_json: Path
    notes: list[str] = field(default_factory=list)

    def cell_plots(self, dataset: str, metric: str) -> list[Path]:
        return [p.path for p in self.plots if p.cell == (dataset, metric)]

    def run_plots(self) -> list[Path]:
        return [p.path for p in self.plots if p.cell is None]


def _not_computed(model: str) -> FitResult:
    return FitResult(model, (), math.nan, math.nan, 0, error="no per-image results (the cell was not computed)")


def _reason(exc: Exception) -> str:
    """One line saying why a statistic could not be computed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _fits_or_failure(score: np.ndarray, mos: np.ndarray) -> list[FitResult]:
    """Both logistic fits of one cell; a fit that raises is recorded as failed with its reason."""
    try:
        return fit_both(score, mos)
    except Exception as exc:  # one cell's statistics never cost the others: the reason goes in its row
        return [FitResult(model, (), math.nan, math.nan, len(score), error=_reason(exc)) for model in ("4pl", "5pl")]


def _blank_columns(metrics: list[str], note: str = "") -> dict[str, dict]:
    """The per-metric analysis columns of a dataset before (or instead of) its intervals and ranks."""
    return {m: {**_no_interval(), "n_paired": 0, "srcc_rank": math.nan, "tied_with_best": pd.NA,
                "analysis_note": note} for m in metrics}  # fmt: skip


def _analyse_dataset_guarded(
    dataset: str, metrics: list[str], frames: dict[tuple[str, str], pd.DataFrame], resamples: int, seed: int,
    method: str, notes: list[str],
) -> tuple[dict[str, dict], pd.DataFrame]:
    """:func:`_analyse_dataset`; when its statistics cannot be computed (a constant or non-finite MOS, say), its
    cells get NaN with the reason in ``analysis_note`` and every other dataset goes on."""
    try:
        return _analyse_dataset(dataset, metrics, frames, resamples, seed, method, notes)
    except Exception as exc:  # recorded in each of the dataset's rows and in the notes, never raised
        reason = f"statistics failed: {_reason(exc)}"
        notes.append(f"{dataset}: {reason}")
        return _blank_columns(metrics, reason), pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)


def _fit_columns(fits: list[FitResult]) -> dict:
    by_model = {f.model: f for f in fits}
    errors = [f"{f.model.upper()}: {f.error}" for f in fits if not f.ok]
    return {
        "plcc_4pl": by_model["4pl"].plcc, "rmse_4pl": by_model["4pl"].rmse,
        "plcc_5pl": by_model["5pl"].plcc, "rmse_5pl": by_model["5pl"].rmse,
        "fit_error": "; ".join(errors),
    }  # fmt: skip


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


def _analyse_dataset(
    dataset: str, metrics: list[str], frames: dict[tuple[str, str], pd.DataFrame], resamples: int, seed: int,
    method: str, notes: list[str],
) -> tuple[dict[str, dict], pd.DataFrame]:
    """Intervals, ranks and the significance table of one dataset's metrics."""
    scores = {m: _series(frames[(dataset, m)], "score") for m in metrics}
    mos = {m: _series(frames[(dataset, m)], "mos") for m in metrics}
    columns = _blank_columns(metrics)
    usable = [m for m in metrics if _has_correlation(scores[m])]
    for m in sorted(set(metrics) - set(usable)):
        columns[m]["analysis_note"] = "no correlation (too few scored images or constant score): not compared"
    if not usable:
        return columns, pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)
    common = sorted(set.intersection(*(set(scores[m].index) for m in usable)))
    every = set.union(*(set(frames[(dataset, m)]["id"]) for m in usable))
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


def analyse(
    out: Path,
    summary: pd.DataFrame,
    frames: dict[tuple[str, str], pd.DataFrame],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    method: str = "percentile",
    precomputed: Mapping[tuple[str, str], CellAnalysis] | None = None,
) -> AnalysisResult:
    """Fits, intervals, significance and plots for every cell of ``summary``; see the module docstring.

    ``frames[(dataset, metric)]`` is the per-image table of each summary row (failed rows: non-null ``error``),
    or ``None`` for a cell that was not computed (it gets no fit, interval, comparison or scatter plot).
    ``precomputed``: the cells whose fits and scatter plot were already made (:func:`analyse_cell`, as they
    committed); the others are analysed here.
    """
    precomputed = dict(precomputed or {})
    out = Path(out)
    missing = [(d, m) for d, m in zip(summary["dataset"], summary["metric"]) if (d, m) not in frames]
    if missing:
        raise KeyError(f"no per-image frame for cell(s) {missing}")
    notes: list[str] = []
    absent = {key for key, frame in frames.items() if frame is None}
    frames = {key: (EMPTY_FRAME if frame is None else frame) for key, frame in frames.items()}
    extra: dict[tuple[str, str], dict] = {}
    fits: dict[tuple[str, str], list[FitResult]] = {}
    for dataset, metric in zip(summary["dataset"], summary["metric"]):
        scored = scored_rows(frames[(dataset, metric)])
        score, mos = scored["score"].to_numpy(dtype=float), scored["mos"].to_numpy(dtype=float)
        if (dataset, metric) in absent:
            fits[(dataset, metric)] = [_not_computed("4pl"), _not_computed("5pl")]
        elif (dataset, metric) in precomputed:
            fits[(dataset, metric)] = list(precomputed[(dataset, metric)].fits)
        else:
            fits[(dataset, metric)] = _fits_or_failure(score, mos)
        extra[(dataset, metric)] = _fit_columns(fits[(dataset, metric)])
        for fit in fits[(dataset, metric)]:
            if not fit.ok:
                notes.append(f"{dataset}/{metric}: {fit.model.upper()} fit failed: {fit.error}")
    tables = []
    for dataset, group in summary.groupby("dataset", sort=False):
        columns, table = _analyse_dataset_guarded(dataset, group["metric"].tolist(), frames, resamples, seed, method,
                                                  notes)
        for metric, values in columns.items():
            extra[(dataset, metric)].update(values)
        if len(table):
            tables.append(table)
    enriched = summary.copy()
    for column in ANALYSIS_COLUMNS:
        enriched[column] = [extra[(d, m)][column] for d, m in zip(summary["dataset"], summary["metric"])]
    enriched["tied_with_best"] = enriched["tied_with_best"].astype("boolean")
    significance = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)

    plots = _plots(out, enriched, frames, fits, absent, precomputed, notes)
    significance_csv = out / SIGNIFICANCE_CSV
    write_text_atomic(significance.to_csv(index=False, float_format="%.10g"), significance_csv)
    settings = {"resamples": resamples, "seed": seed, "method": method, "confidence": CONFIDENCE,
                "fits": ["4pl", "5pl"], "notes": notes}  # fmt: skip
    analysis_json = out / ANALYSIS_JSON
    write_text_atomic(json.dumps(settings, indent=2), analysis_json)
    versions_json = out / VERSIONS_JSON
    write_text_atomic(json.dumps({"git_commit": git_commit(), "versions": versions()}, indent=2), versions_json)
    return AnalysisResult(
        summary=enriched, significance=significance, plots=plots, significance_csv=significance_csv,
        analysis_json=analysis_json, versions_json=versions_json, notes=notes,
    )  # fmt: skip


def _plots(
    out: Path,
    summary: pd.DataFrame,
    frames: dict[tuple[str, str], pd.DataFrame],
    fits: dict[tuple[str, str], list[FitResult]],
    absent: set[tuple[str, str]],
    precomputed: Mapping[tuple[str, str], CellAnalysis],
    notes: list[str],
) -> list[PlotFile]:
    """Every plot of the run; one that cannot be drawn is left out and named in ``notes`` (files still raise)."""
    root = out / PLOTS_DIR
    plots = []

    def draw(what: str, plot: PlotFile, make: Callable[[], object]) -> None:
        try:
            make()
        except OSError:
            raise
        except Exception as exc:  # a plot never costs the run: named in the notes, left out
            notes.append(f"{what}: plot not drawn: {_reason(exc)}")
            return
        plots.append(plot)

    for row in summary.itertuples(index=False):
        key = (row.dataset, row.metric)
        if key in absent:
            continue
        path = cell_plot_path(out, row.dataset, row.metric)
        if key in precomputed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(precomputed[key].scatter_png)
            plots.append(PlotFile(path, key, "scatter"))
            continue
        scored = scored_rows(frames[key])
        draw(f"{row.dataset}/{row.metric}", PlotFile(path, key, "scatter"), lambda: scatter_plot(
            path, scored["score"].to_numpy(dtype=float), scored["mos"].to_numpy(dtype=float), fits[key],
            f"{row.metric} @ {row.dataset}", row.srcc))  # fmt: skip
    draw("heatmap", PlotFile(root / HEATMAP_PNG, None, "heatmap"), lambda: heatmap_plot(root / HEATMAP_PNG, summary))
    for dataset, group in summary.groupby("dataset", sort=False):
        path = root / f"ranking_{safe_name(dataset)}.png"
        draw(f"{dataset} ranking", PlotFile(path, None, "ranking"), lambda: ranking_plot(path, dataset, group))
    return plots


def cell_plot_path(out: Path, dataset: str, metric: str) -> Path:
    """Where the scatter plot of a cell is written (a cell that was not computed has none)."""
    return Path(out) / PLOTS_DIR / safe_name(dataset) / f"{safe_name(metric)}.png"


def run_artifacts(out: Path) -> list[tuple[Path, str]]:
    """The files for the parent MLflow run, with their artifact folder: the analysis tables and the run plots."""
    out = Path(out)
    tables = [(out / name, "analysis") for name in (SIGNIFICANCE_CSV, ANALYSIS_JSON, VERSIONS_JSON)]
    plots = [(p, PLOTS_DIR) for p in sorted((out / PLOTS_DIR).glob("*.png"))]
    return [(path, folder) for path, folder in tables + plots if path.is_file()]
