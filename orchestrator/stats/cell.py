"""The statistics of one cell that need no other cell: its 4PL and 5PL fits and its scatter plot. The driver runs
them as each cell commits (on Ray tasks, overlapping the scoring of the other cells); what compares a dataset's
cells is :mod:`orchestrator.stats.dataset`, and only the run's heat map and tables are left for its end."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from orchestrator.stats.fits import FitResult, fit_both
from orchestrator.stats.plots import scatter_plot


@dataclass(frozen=True)
class CellAnalysis:
    fits: list[FitResult]
    #: The scatter plot (score vs MOS with the fitted curves), as PNG bytes.
    scatter_png: bytes


def fit_columns(fits: list[FitResult]) -> dict:
    """A cell's summary columns from its two fits: PLCC and RMSE after each, and why a fit failed."""
    by_model = {f.model: f for f in fits}
    errors = [f"{f.model.upper()}: {f.error}" for f in fits if not f.ok]
    return {
        "plcc_4pl": by_model["4pl"].plcc, "rmse_4pl": by_model["4pl"].rmse,
        "plcc_5pl": by_model["5pl"].plcc, "rmse_5pl": by_model["5pl"].rmse,
        "fit_error": "; ".join(errors),
    }  # fmt: skip


def analyse_cell(score: np.ndarray, mos: np.ndarray, title: str, srcc: float) -> CellAnalysis:
    """Fit both logistics to the cell's scored images and draw its scatter plot."""
    score = np.asarray(score, dtype=float)
    mos = np.asarray(mos, dtype=float)
    fits = fit_both(score, mos)
    buffer = io.BytesIO()
    scatter_plot(buffer, score, mos, fits, title, srcc)
    return CellAnalysis(fits, buffer.getvalue())


def analyse_cells(cells: list[tuple[np.ndarray, np.ndarray, str, float]]) -> list[CellAnalysis]:
    """:func:`analyse_cell` of several cells, in order (one Ray task for a few cells costs one task's overhead)."""
    return [analyse_cell(*cell) for cell in cells]
