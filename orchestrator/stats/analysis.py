"""Beyond the raw correlations: logistic fits, bootstrap intervals, pairwise significance and plots, per run.

``analyse()`` is called by the driver once the per-cell summary exists. It reads nothing but the per-image frames
it is given, writes ``significance.csv``, ``analysis.json``, ``versions.json`` and ``plots/*.png`` under ``out``,
and returns the summary with extra columns (``ANALYSIS_COLUMNS``) for the driver to write and log. What was made
while the run was scoring (each cell's fits and scatter plot, :mod:`orchestrator.stats.cell`; each finished
dataset's intervals, significance and ranking, :mod:`orchestrator.stats.dataset`) is passed in and not made again.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from orchestrator.stats.bootstrap import CONFIDENCE, DEFAULT_METHOD, DEFAULT_RESAMPLES
from orchestrator.stats.cell import CellAnalysis, fit_columns
from orchestrator.stats.dataset import DatasetAnalysis, analyse_dataset, reason
from orchestrator.stats.fits import FitResult, fit_both
from orchestrator.stats.plots import heatmap_plot, safe_name, scatter_plot
from orchestrator.stats.significance import SIGNIFICANCE_COLUMNS
from orchestrator.stats.correlation import scored_rows
from orchestrator.results.files import write_bytes_atomic, write_text_atomic
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


def _fits_or_failure(score: np.ndarray, mos: np.ndarray) -> list[FitResult]:
    """Both logistic fits of one cell; a fit that raises is recorded as failed with its reason."""
    try:
        return fit_both(score, mos)
    except Exception as exc:  # one cell's statistics never cost the others: the reason goes in its row
        return [FitResult(model, (), math.nan, math.nan, len(score), error=reason(exc)) for model in ("4pl", "5pl")]


def analyse(
    out: Path,
    summary: pd.DataFrame,
    frames: dict[tuple[str, str], pd.DataFrame],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    method: str = DEFAULT_METHOD,
    precomputed: Mapping[tuple[str, str], CellAnalysis] | None = None,
    precomputed_datasets: Mapping[str, DatasetAnalysis] | None = None,
) -> AnalysisResult:
    """Fits, intervals, significance and plots for every cell of ``summary``; see the module docstring.

    ``frames[(dataset, metric)]`` is the per-image table of each summary row (failed rows: non-null ``error``),
    or ``None`` for a cell that was not computed (it gets no fit, interval, comparison or scatter plot).
    ``precomputed``: the cells whose fits and scatter plot were already made (:func:`analyse_cell`, as they
    committed); ``precomputed_datasets``: the datasets whose comparisons were already made
    (:func:`analyse_dataset` of the same metrics, in the summary's order, as their last cell ended); the others
    are analysed here.
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
        extra[(dataset, metric)] = fit_columns(fits[(dataset, metric)])
        for fit in fits[(dataset, metric)]:
            if not fit.ok:
                notes.append(f"{dataset}/{metric}: {fit.model.upper()} fit failed: {fit.error}")
    datasets = {}
    for dataset, group in summary.groupby("dataset", sort=False):
        metrics = group["metric"].tolist()
        made = (precomputed_datasets or {}).get(dataset)
        if made is None or made.metrics != metrics:
            made = analyse_dataset(dataset, metrics, dict(zip(metrics, group["srcc"])),
                                   {m: frames[(dataset, m)] for m in metrics}, resamples, seed, method)
        datasets[dataset] = made
        notes.extend(made.notes)
        for metric, values in made.columns.items():
            extra[(dataset, metric)].update(values)
    enriched = summary.copy()
    for column in ANALYSIS_COLUMNS:
        enriched[column] = [extra[(d, m)][column] for d, m in zip(summary["dataset"], summary["metric"])]
    enriched["tied_with_best"] = enriched["tied_with_best"].astype("boolean")
    tables = [d.significance for d in datasets.values() if len(d.significance)]
    significance = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)

    plots = _plots(out, enriched, frames, fits, absent, precomputed, datasets, notes)
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
    datasets: Mapping[str, DatasetAnalysis],
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
            notes.append(f"{what}: plot not drawn: {reason(exc)}")
            return
        plots.append(plot)

    def keep(plot: PlotFile, png: bytes) -> None:
        """A plot drawn earlier (on a Ray task, as PNG bytes), written now unless it is there already."""
        if not (plot.path.is_file() and plot.path.read_bytes() == png):
            write_bytes_atomic(png, plot.path)
        plots.append(plot)

    for row in summary.itertuples(index=False):
        key = (row.dataset, row.metric)
        if key in absent:
            continue
        path = cell_plot_path(out, row.dataset, row.metric)
        if key in precomputed:
            keep(PlotFile(path, key, "scatter"), precomputed[key].scatter_png)
            continue
        scored = scored_rows(frames[key])
        draw(f"{row.dataset}/{row.metric}", PlotFile(path, key, "scatter"), lambda: scatter_plot(
            path, scored["score"].to_numpy(dtype=float), scored["mos"].to_numpy(dtype=float), fits[key],
            f"{row.metric} @ {row.dataset}", row.srcc))  # fmt: skip
    draw("heatmap", PlotFile(root / HEATMAP_PNG, None, "heatmap"), lambda: heatmap_plot(root / HEATMAP_PNG, summary))
    for dataset, made in datasets.items():
        plot = PlotFile(ranking_plot_path(out, dataset), None, "ranking")
        if made.ranking_png is None:
            notes.append(f"{dataset} ranking: plot not drawn: {made.ranking_error}")
        else:
            keep(plot, made.ranking_png)
    return plots


def cell_plot_path(out: Path, dataset: str, metric: str) -> Path:
    """Where the scatter plot of a cell is written (a cell that was not computed has none)."""
    return Path(out) / PLOTS_DIR / safe_name(dataset) / f"{safe_name(metric)}.png"


def ranking_plot_path(out: Path, dataset: str) -> Path:
    """Where the ranking plot of a dataset is written."""
    return Path(out) / PLOTS_DIR / f"ranking_{safe_name(dataset)}.png"


def run_artifacts(out: Path) -> list[tuple[Path, str]]:
    """The files for the parent MLflow run, with their artifact folder: the analysis tables and the run plots."""
    out = Path(out)
    tables = [(out / name, "analysis") for name in (SIGNIFICANCE_CSV, ANALYSIS_JSON, VERSIONS_JSON)]
    plots = [(p, PLOTS_DIR) for p in sorted((out / PLOTS_DIR).glob("*.png"))]
    return [(path, folder) for path, folder in tables + plots if path.is_file()]
