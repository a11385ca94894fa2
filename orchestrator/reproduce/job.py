"""``iqabench reproduce --table FR|NR|IAA|Face``: run pyiqa's published protocol for one of its tables with every
metric of that table we register, and compare with the published numbers.

Writes, under ``--out`` (besides the benchmark's own outputs): ``<TABLE>_benchmark_results.csv``, our table in
pyiqa's format (its metrics in the published order, its datasets as columns), and ``<TABLE>_delta.csv``: per metric
and dataset our SRCC, the published SRCC and the difference, with ``flagged`` listing the datasets where they
differ by more than :data:`~orchestrator.reproduce.tables.SRCC_TOLERANCE` (or where ours could not be computed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

import metrics
from orchestrator.reproduce.tables import (
    PROTOCOLS,
    SRCC_TOLERANCE,
    Protocol,
    published,
    srcc_of,
)
from orchestrator.results.export import CELL_SUFFIX, format_cell, format_table
from orchestrator.results.files import write_text_atomic
from orchestrator.run.benchmark import run_benchmark
from orchestrator.run.outcome import BenchmarkResult
from orchestrator.run.plan import PlanError, parameter_fingerprint
from orchestrator.run.request import BenchmarkRequest

Echo = Callable[[str], None]


@dataclass(frozen=True)
class ReproduceRequest:
    table: str
    out: Path
    #: Metrics to run (each must be in the published table); None: every one of them that we register.
    metrics: tuple[str, ...] | None = None
    download: bool = False
    data_root: str | None = None
    ray_address: str | None = None
    batch_size: int = 8
    use_gpu: bool = False
    bootstrap_resamples: int = 1000


@dataclass
class ReproduceResult:
    benchmark: BenchmarkResult
    table_csv: Path
    delta_csv: Path
    #: (metric, dataset) cells whose SRCC differs from the published one by more than the tolerance.
    flagged: list[tuple[str, str]]


def metrics_to_run(protocol: Protocol, names: tuple[str, ...] | None, download: bool, echo: Echo) -> list[str]:
    """The metrics of the published table to run: ``names`` (checked), else every registered one whose weights are
    here (or will be fetched: ``download``); a :class:`PlanError` names what cannot run."""
    listed = list(published(protocol))
    registered = set(metrics.available())
    if names is not None:
        problems = [f"{name!r} is not in pyiqa's {protocol.table} table (its metrics: {', '.join(listed)})"
                    for name in names if name not in listed]
        problems += [f"{name!r} is not a registered metric" for name in names if name in listed and name not in registered]
        if problems:
            raise PlanError("iqabench reproduce: " + "; ".join(problems))
        return list(names)
    chosen = [name for name in listed if name in registered]
    absent = [name for name in listed if name not in registered]
    if absent:
        echo(f"Not registered here, left out: {', '.join(absent)}")
    if not download:
        missing = []
        for name in list(chosen):
            try:
                parameter_fingerprint(metrics.get_spec(name), fetch=False)
            except (OSError, RuntimeError, ValueError):
                missing.append(name)
                chosen.remove(name)
        if missing:
            echo(f"Weights not cached, left out (--download fetches them): {', '.join(missing)}")
    if not chosen:
        raise PlanError(f"iqabench reproduce: none of the metrics of pyiqa's {protocol.table} table can run here")
    return chosen


def _ours(summary: pd.DataFrame, protocol: Protocol, names: list[str]) -> dict[str, dict[str, tuple]]:
    """{metric: {dataset: (plcc, srcc, krcc)}} of the run's summary."""
    found: dict[str, dict[str, tuple]] = {}
    for row in summary.itertuples(index=False):
        if row.metric in names and row.dataset in protocol.datasets:
            found.setdefault(row.metric, {})[row.dataset] = (row.plcc, row.srcc, row.krcc)
    return found


def _fmt(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.4f}"


def write_tables(summary: pd.DataFrame, protocol: Protocol, names: list[str], out: Path) -> tuple[Path, Path, list]:
    """Our table in pyiqa's format and the delta table against the published one; returns their paths and the
    flagged (metric, dataset) cells."""
    ours = _ours(summary, protocol, names)
    reference = published(protocol)
    order = [m for m in reference if m in ours] + [m for m in names if m in ours and m not in reference]
    table_rows = [(m, {f"{d}{CELL_SUFFIX}": format_cell(*ours[m][d]) for d in protocol.datasets if d in ours[m]})
                  for m in order]
    table_csv = out / protocol.reference_file
    write_text_atomic(format_table([f"{d}{CELL_SUFFIX}" for d in protocol.datasets], table_rows), table_csv)

    header = [f"{d} {what}" for d in protocol.datasets for what in ("SRCC", "published SRCC", "delta")] + ["flagged"]
    delta_rows, flagged = [], []
    for metric in order:
        cells: dict[str, str] = {}
        wrong = []
        for d in protocol.datasets:
            mine = ours[metric].get(d, (math.nan,) * 3)[1]
            theirs = srcc_of(reference.get(metric, {}).get(d))
            cells[f"{d} SRCC"], cells[f"{d} published SRCC"] = _fmt(mine), _fmt(theirs)
            if math.isfinite(theirs):
                cells[f"{d} delta"] = _fmt(round(mine, 4) - theirs) if math.isfinite(mine) else "not computed"
                if not math.isfinite(mine) or abs(round(mine, 4) - theirs) > SRCC_TOLERANCE:
                    wrong.append(d)
        cells["flagged"] = ";".join(wrong)
        flagged += [(metric, d) for d in wrong]
        delta_rows.append((metric, cells))
    delta_csv = out / f"{protocol.table}_delta.csv"
    write_text_atomic(format_table(header, delta_rows), delta_csv)
    return table_csv, delta_csv, flagged


def run_reproduce(request: ReproduceRequest, echo: Echo = print) -> ReproduceResult:
    if request.table not in PROTOCOLS:
        raise PlanError(f"iqabench reproduce: unknown table {request.table!r} (known: {', '.join(PROTOCOLS)})")
    protocol = PROTOCOLS[request.table]
    names = metrics_to_run(protocol, request.metrics, request.download, echo)
    echo(f"Reproducing pyiqa's {protocol.table} table: {len(names)} metric(s) on {', '.join(protocol.datasets)}")
    result = run_benchmark(BenchmarkRequest(
        metrics=tuple(names), datasets=protocol.datasets, out=request.out, download=request.download,
        data_root=request.data_root, ray_address=request.ray_address, batch_size=request.batch_size,
        use_gpu=request.use_gpu, bootstrap_resamples=request.bootstrap_resamples,
        extra_tags={"iqabench.reproduce": protocol.table}), echo)
    table_csv, delta_csv, flagged = write_tables(result.summary, protocol, names, Path(request.out))
    echo(f"Wrote {table_csv} and {delta_csv}: {len(flagged)} cell(s) differ from the published SRCC by more than "
         f"{SRCC_TOLERANCE:g}" + (": " + ", ".join(f"{m} @ {d}" for m, d in flagged) if flagged else ""))
    return ReproduceResult(result, table_csv, delta_csv, flagged)
