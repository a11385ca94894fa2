"""Outputs: pyiqa's ``benchmark_results.csv``, the long-form ``summary.csv``, and the printed leaderboard."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pandas as pd

from orchestrator.results.files import write_text_atomic
from orchestrator.results.summary import SUMMARY_COLUMNS

METRIC_HEADER = "Metric name"
CELL_SUFFIX = "(PLCC/SRCC/KRCC)"
#: 2AFC datasets (BAPPS) report one number, the 2AFC accuracy, in a column of their own.
TWO_AFC_SUFFIX = "(2AFC)"



class ResultsCsvError(ValueError):
    pass


def _fmt(value: float) -> str:
    return "--" if value is None or not math.isfinite(value) else str(round(float(value), 4))


def format_cell(plcc: float, srcc: float, krcc: float) -> str:
    """pyiqa's cell: ``plcc/srcc/krcc``, each rounded to 4 decimals."""
    return "/".join(_fmt(v) for v in (plcc, srcc, krcc))


def read_results_csv(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """(dataset column names in order, {metric: {column: cell}}) of an existing pyiqa-format file."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or not rows[0] or rows[0][0] != METRIC_HEADER:
        raise ResultsCsvError(f"{path}: not a pyiqa benchmark file (first header must be {METRIC_HEADER!r})")
    header = rows[0][1:]
    bad = [h for h in header if not h.endswith((CELL_SUFFIX, TWO_AFC_SUFFIX))]
    if bad:
        raise ResultsCsvError(f"{path}: column {bad[0]!r} is not of the form <dataset>{CELL_SUFFIX}")
    table: dict[str, dict[str, str]] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) > len(header) + 1:
            raise ResultsCsvError(f"{path}: line {line_no} has {len(row)} fields, the header {len(header) + 1}")
        table[row[0]] = {h: v for h, v in zip(header, row[1:]) if v}
    return header, table


def _first_plcc(cells: dict[str, str], first: str | None) -> float:
    """The PLCC of a row's first-column cell (NaN when absent or not a number), pyiqa's sort key."""
    try:
        value = float(cells.get(first or "", "").split("/")[0])
    except ValueError:
        return math.nan
    return value


def write_results_csv(summary: pd.DataFrame, path: Path, pyiqa_order: bool = False) -> None:
    """Write (merging into an existing file) the pyiqa-format table of ``summary``'s cells. ``pyiqa_order``: rows
    sorted as pyiqa's ``benchmark_results.py --update_benchmark`` sorts them, by the PLCC of the first dataset column,
    ascending, rows without one last (otherwise: the existing rows, then the new ones, in order)."""
    header, table = read_results_csv(path) if path.exists() else ([], {})
    for row in summary.itertuples(index=False):
        two_afc = math.isfinite(getattr(row, "accuracy_2afc", math.nan))
        col = f"{row.dataset}{TWO_AFC_SUFFIX if two_afc else CELL_SUFFIX}"
        if col not in header:
            header.append(col)
        cell = _fmt(row.accuracy_2afc) if two_afc else format_cell(row.plcc, row.srcc, row.krcc)
        table.setdefault(row.metric, {})[col] = cell
    rows = list(table.items())
    if pyiqa_order:
        first = header[0] if header else None
        rows.sort(key=lambda item: (math.isnan(_first_plcc(item[1], first)), _first_plcc(item[1], first)))
    write_text_atomic(format_table(header, rows), path)


def format_table(header: list[str], rows: list[tuple[str, dict[str, str]]], first: str = METRIC_HEADER) -> str:
    """A CSV of ``first`` + ``header`` columns, one line per (row name, {column: cell}); absent cells are empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([first, *header])
    for name, cells in rows:
        writer.writerow([name, *(cells.get(h, "") for h in header)])
    return buffer.getvalue()


def write_summary_csv(summary: pd.DataFrame, path: Path) -> None:
    """The long-form summary: the core columns, then the analysis columns where present."""
    from orchestrator.stats.analysis import ANALYSIS_COLUMNS

    columns = SUMMARY_COLUMNS + [c for c in ANALYSIS_COLUMNS if c in summary.columns]
    write_text_atomic(summary[columns].to_csv(index=False, float_format="%.10g"), path)


def leaderboard(summary: pd.DataFrame) -> str:
    """One ranked table per dataset (by SRCC), with failures and sign warnings next to the numbers."""
    lines = []
    for dataset, group in summary.groupby("dataset", sort=False):
        group = group.sort_values(["srcc", "accuracy_2afc"], ascending=False, na_position="last")
        lines.append(f"\nLeaderboard: {dataset} (split {group['split'].iloc[0]}, ranked by SRCC)")
        lines.append(
            f"{'#':>3}  {'metric':<16}{'n':>6}{'failed':>8}{'PLCC':>9}{'SRCC':>9}{'KRCC':>9}{'s/img':>10}  notes"
        )
        for rank, row in enumerate(group.itertuples(index=False), start=1):
            notes = []
            if not row.sign_ok:
                notes.append("SIGN contradicts lower_better")
            if row.n_failed:
                notes.append(f"failed: {row.failure_reasons}")
            spi = f"{row.seconds_per_image:.4f}" if math.isfinite(row.seconds_per_image) else "--"
            if math.isfinite(getattr(row, "accuracy_2afc", math.nan)):
                notes.insert(0, f"2AFC accuracy {row.accuracy_2afc:.4f}")
            lines.append(
                f"{rank:>3}  {row.metric:<16}{row.n:>6}{row.n_failed:>8}{_fmt(row.plcc):>9}{_fmt(row.srcc):>9}"
                f"{_fmt(row.krcc):>9}{spi:>10}  {'; '.join(notes)}"
            )
    return "\n".join(lines)
