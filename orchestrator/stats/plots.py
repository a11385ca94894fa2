"""PNG figures with matplotlib's Agg canvas (no pyplot, no display, no global state).

Per cell: score vs MOS with the fitted 4PL / 5PL curves. Per run: the SRCC heat map (metrics × datasets) and, per
dataset, the metrics ranked by SRCC with their bootstrap intervals.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from orchestrator.stats.fits import FitResult

DPI = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file-name-safe version of a metric or dataset name."""
    return _UNSAFE.sub("_", name).strip("._") or "_"


def _new_figure(width: float, height: float, margins: dict[str, float] | None = None) -> Figure:
    """A figure laid out by matplotlib's constrained layout, or with fixed ``margins`` (``subplots_adjust``
    keywords: half the drawing time, for the one-axes figures drawn per cell)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout=None if margins else "constrained")
    if margins:
        figure.subplots_adjust(**margins)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path | BinaryIO) -> Path | BinaryIO:
    """Write the PNG to ``path`` (its folder made as needed) or into a binary buffer."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def _fmt(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def scatter_plot(
    path: Path | BinaryIO, score: np.ndarray, mos: np.ndarray, fits: list[FitResult], title: str, srcc: float
) -> Path | BinaryIO:
    """Score vs MOS, one point per scored image, with every successful fit drawn over the score range."""
    figure = _new_figure(5.5, 4.2, margins={"left": 0.12, "right": 0.97, "bottom": 0.11, "top": 0.87})
    ax = figure.add_subplot()
    ax.scatter(score, mos, s=12, alpha=0.6, color="tab:blue", edgecolors="none", label=f"images (n={len(score)})")
    if len(score):
        grid = np.linspace(float(np.min(score)), float(np.max(score)), 200)
        for fit, style in zip(fits, ("-", "--")):
            if fit.ok:
                ax.plot(grid, fit.predict(grid), style, lw=1.8,
                        label=f"{fit.model.upper()}: PLCC {_fmt(fit.plcc)}, RMSE {_fmt(fit.rmse)}")
            else:
                ax.plot([], [], " ", label=f"{fit.model.upper()} fit failed: {fit.error}"[:80])
    ax.set_xlabel("metric score")
    ax.set_ylabel("MOS")
    ax.set_title(f"{title}\nSRCC {_fmt(srcc)}", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return _save(figure, path)


def heatmap_plot(path: Path, summary: pd.DataFrame) -> Path:
    """SRCC of every cell, metrics as rows and datasets as columns (grey where there is no value)."""
    table = summary.pivot_table(index="metric", columns="dataset", values="srcc", aggfunc="first", dropna=False)
    table = table.loc[table.mean(axis=1).sort_values(ascending=False).index]
    rows, cols = table.shape
    figure = _new_figure(max(4.0, 1.3 * cols + 2.5), max(2.5, 0.4 * rows + 1.5))
    ax = figure.add_subplot()
    values = np.ma.masked_invalid(table.to_numpy(dtype=float))
    image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_facecolor("0.85")
    ax.set_xticks(range(cols), [str(c) for c in table.columns], rotation=30, ha="right")
    ax.set_yticks(range(rows), [str(r) for r in table.index])
    for i in range(rows):
        for j in range(cols):
            value = table.iat[i, j]
            if math.isfinite(value):
                ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=8,
                        color="white" if value < 0.6 else "black")
    figure.colorbar(image, ax=ax, label="SRCC")
    ax.set_title("SRCC by metric and dataset", fontsize=10)
    return _save(figure, path)


def ranking_plot(path: Path, dataset: str, rows: pd.DataFrame) -> Path:
    """Metrics of one dataset ranked by SRCC, with bootstrap intervals; the best group in a second colour.

    ``rows`` has columns metric, srcc, srcc_ci_low, srcc_ci_high and tied_with_best.
    """
    rows = rows.sort_values("srcc", ascending=True, na_position="first")
    figure = _new_figure(6.0, max(2.5, 0.35 * len(rows) + 1.3))
    ax = figure.add_subplot()
    y = np.arange(len(rows))
    srcc = rows["srcc"].to_numpy(dtype=float)
    low = rows["srcc_ci_low"].to_numpy(dtype=float)
    high = rows["srcc_ci_high"].to_numpy(dtype=float)
    tied = rows["tied_with_best"].fillna(False).astype(bool).to_numpy()
    colours = ["tab:orange" if t else "tab:blue" for t in tied]
    ax.barh(y, np.nan_to_num(srcc), color=colours)
    has_ci = np.isfinite(low) & np.isfinite(high)
    ax.errorbar(srcc[has_ci], y[has_ci], xerr=[srcc[has_ci] - low[has_ci], high[has_ci] - srcc[has_ci]],
                fmt="none", ecolor="black", capsize=3, lw=1)
    ax.set_yticks(y, rows["metric"].tolist())
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("SRCC (95% bootstrap interval)")
    ax.set_title(f"{dataset}: ranked by SRCC (orange: indistinguishable from the best)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return _save(figure, path)
