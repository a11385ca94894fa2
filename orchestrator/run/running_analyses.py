"""The statistics a run can make before its last image: each cell's own (fits, scatter plot) as the cell commits,
and each dataset's comparisons (intervals, ranks, significance, ranking plot) as soon as every cell of the dataset
has ended, on a few Ray tasks beside the scoring. Their plots are written and their values logged to the cells'
MLflow runs as they come, so what is left after the last image is the last datasets' comparisons, not the
whole matrix's.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from orchestrator.results.files import write_bytes_atomic
from orchestrator.results.store import CellStore
from orchestrator.results.summary import SummaryRow
from orchestrator.results.tracking import LiveTracking, cell_metrics
from orchestrator.run.analysis_tasks import CELLS_PER_TASK, AnalysisTasks
from orchestrator.run.cells import Cell
from orchestrator.run.plan import Plan
from orchestrator.stats.analysis import EMPTY_FRAME, cell_plot_path, ranking_plot_path
from orchestrator.stats.bootstrap import DEFAULT_METHOD
from orchestrator.stats.cell import CellAnalysis, analyse_cells, fit_columns
from orchestrator.stats.correlation import scored_rows
from orchestrator.stats.dataset import FRAME_COLUMNS, DatasetAnalysis, analyse_datasets

log = logging.getLogger(__name__)

#: Datasets compared on Ray tasks at once while scoring (each compares all of a dataset's metrics; datasets end
#: one after another, so one at a time keeps up without taking CPUs from the decode tasks).
DATASETS_IN_FLIGHT = 1

CellKey = tuple[str, str]


class RunningAnalyses:
    """Statistics made while the scoring goes on; see the module docstring.

    :meth:`cell_ended` is told of every pending cell as it ends (committed or given up), on one thread;
    :meth:`results` returns what was made, for ``analyse()`` not to make it again.
    """

    def __init__(self, plan: Plan, pending: dict[str, list[Cell]], store: CellStore, live: LiveTracking,
                 cells_in_flight: int) -> None:
        request = plan.request
        self._store = store
        self._out = Path(store.out)
        self._live = live
        self._settings = (request.bootstrap_resamples, request.seed, DEFAULT_METHOD)
        self._lock = threading.Lock()
        self._cells = AnalysisTasks(analyse_cells, cells_in_flight, CELLS_PER_TASK, self._cell_made)
        self._datasets = AnalysisTasks(analyse_datasets, DATASETS_IN_FLIGHT, 1, self._dataset_made)
        #: dataset → its cells in the plan's order (the summary's), for the datasets that have correlations.
        self._dataset_cells = {p.dataset.key: list(p.cells) for p in plan.passes if p.dataset.mode != "2AFC"}
        #: dataset → keys of its cells still being scored.
        self._open = {dataset: {c.key for c in pending.get(dataset, [])} for dataset in self._dataset_cells}
        #: dataset → metric → (frame, srcc) of its cells that ended in this run.
        self._ended: dict[str, dict[str, tuple[pd.DataFrame | None, float]]] = {d: {} for d in self._dataset_cells}
        self._cell_keys = {(c.dataset, c.metric): c.key for cells in self._dataset_cells.values() for c in cells}
        #: What came back and awaits its other half before being logged to the cell's MLflow run.
        self._made_cells: dict[CellKey, CellAnalysis] = {}
        self._made_datasets: set[str] = set()

    def start(self) -> None:
        """Compare the datasets every cell of which was served from the cache."""
        for dataset, keys in self._open.items():
            if not keys:
                self._dataset_complete(dataset)

    def cell_ended(self, cell: Cell, row: SummaryRow | None, frame: pd.DataFrame | None) -> None:
        """A pending cell committed (``row`` and ``frame``) or was given up (``None``)."""
        if cell.dataset not in self._dataset_cells:
            return  # 2AFC: its accuracy is all there is
        if row is not None and frame is not None:
            scored = scored_rows(frame)
            self._cells.add((cell.dataset, cell.metric), (
                scored["score"].to_numpy(dtype=float), scored["mos"].to_numpy(dtype=float),
                f"{cell.metric} @ {cell.dataset}", row.srcc))
        self._ended[cell.dataset][cell.metric] = (
            None if row is None or frame is None else frame[FRAME_COLUMNS], math.nan if row is None else row.srcc)
        self._open[cell.dataset].discard(cell.key)
        if not self._open[cell.dataset]:
            self._dataset_complete(cell.dataset)

    def results(self) -> tuple[dict[CellKey, CellAnalysis], dict[str, DatasetAnalysis]]:
        """Wait for what is under way (sending what still waits) and return the cells' and the datasets'
        statistics; a task that failed is left out (the driver makes it again)."""
        return self._cells.results(), self._datasets.results()

    def _dataset_complete(self, dataset: str) -> None:
        """Every cell of ``dataset`` has ended: send its comparisons, with the frames of the cells the cache
        served read back now."""
        metrics, frames, srcc = [], {}, {}
        for cell in self._dataset_cells[dataset]:
            metrics.append(cell.metric)
            if cell.metric in self._ended[dataset]:
                frame, srcc[cell.metric] = self._ended[dataset][cell.metric]
            elif self._store.is_committed(cell.key):
                frame, row = self._store.load_committed(cell.key)
                frame, srcc[cell.metric] = frame[FRAME_COLUMNS], _number(row.get("srcc"))
            else:  # not run in this invocation and not in the cache (the plan said it was)
                frame, srcc[cell.metric] = None, math.nan
            frames[cell.metric] = EMPTY_FRAME if frame is None else frame
        del self._ended[dataset]  # the frames now travel with the task
        resamples, seed, method = self._settings
        self._datasets.add(dataset, (dataset, metrics, srcc, frames, resamples, seed, method))

    # -- results as they come (on Ray's threads) -------------------------------------------------------------------

    def _cell_made(self, key: CellKey, made: CellAnalysis) -> None:
        write_bytes_atomic(made.scatter_png, cell_plot_path(self._out, *key))
        with self._lock:
            self._made_cells[key] = made
            ready = key[0] in self._made_datasets
        if ready:  # its dataset's comparisons were logged already: the fits and the plot go now
            self._live.cell_analysed(self._cell_keys[key], cell_metrics(fit_columns(made.fits)),
                                     cell_plot_path(self._out, *key))

    def _dataset_made(self, dataset: str, made: DatasetAnalysis) -> None:
        if made.ranking_png is not None:
            write_bytes_atomic(made.ranking_png, ranking_plot_path(self._out, dataset))
        with self._lock:
            self._made_datasets.add(dataset)
            cells = {m: self._made_cells.get((dataset, m)) for m in made.metrics}
        for metric, cell in cells.items():
            values = dict(made.columns[metric])
            if cell is not None:
                values.update(fit_columns(cell.fits))
            plot = cell_plot_path(self._out, dataset, metric) if cell is not None else None
            self._live.cell_analysed(self._cell_keys[(dataset, metric)], cell_metrics(values), plot)


def _number(value: Any) -> float:
    """A float for a summary value (JSON null and pandas' missing values: NaN)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
