"""Run a benchmark request end to end: plan → sized pools → scheduled scoring with per-cell commits →
statistics → exports → MLflow.

Cells already committed under ``<out>/cells`` (same cell key) are not recomputed unless ``force``; a cell that
was partly scored when the driver died resumes from its committed parts. A metric whose actors keep dying is
isolated (split out of a shared pool) and given up for this run with its reason, never committed; the rest of the
matrix goes on, and every committed cell is written and logged whatever happens to the others.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from pathlib import Path
from typing import Callable

import pandas as pd

from orchestrator.results.export import leaderboard, write_results_csv, write_summary_csv
from orchestrator.results.files import write_text_atomic
from orchestrator.results.outlock import output_lock
from orchestrator.results.store import CellStore
from orchestrator.results.summary import NUMERIC_COLUMNS, SummaryRow
from orchestrator.results.tracking import LiveTracking, dump_json
from orchestrator.run.analysis_tasks import ANALYSIS_TASK_CPUS
from orchestrator.run.cells import Cell
from orchestrator.run.outcome import BenchmarkResult
from orchestrator.run.plan import DatasetPass, Plan, build_plan, describe_plan
from orchestrator.run.ray_session import logging_is_verbose, start_ray
from orchestrator.run.request import BenchmarkRequest
from orchestrator.run.running_analyses import RunningAnalyses
from orchestrator.run.scoring import connected_cluster, describe_dry_run, refuse_what_cannot_fit_here, score_cells
from orchestrator.stats.analysis import analyse
from orchestrator.stats.cell import CellAnalysis
from orchestrator.stats.correlation import (Correlations, correlations, expected_sign, failure_reasons, throughput,
                                            two_afc_accuracy)
from orchestrator.stats.dataset import DatasetAnalysis

Echo = Callable[[str], None]
log = logging.getLogger(__name__)

#: Cells' and datasets' statistics run on Ray tasks while scoring on clusters of at least this many CPUs; on a
#: smaller machine (a laptop) the processes they would start (matplotlib, SciPy) would slow the scoring more than
#: they save, so they run on the driver after the last image.
ANALYSIS_ON_RAY_MIN_CPUS = 8



def run_benchmark(request: BenchmarkRequest, echo: Echo = print) -> BenchmarkResult:
    echo("Validating the metric × dataset matrix ...")
    plan = build_plan(request, echo)
    echo(describe_plan(plan))
    out = Path(request.out)
    if request.dry_run:
        echo(describe_dry_run(plan))
        echo("Dry run: nothing was scored.")
        return BenchmarkResult(plan=plan, summary=None, out=out, results_csv=None)

    refuse_what_cannot_fit_here(plan, out)
    with output_lock(out, request.wait_for_lock):
        return _run_locked(plan, request, out, echo)


def _run_locked(plan: Plan, request: BenchmarkRequest, out: Path, echo: Echo) -> BenchmarkResult:
    """Score, analyse, write and log the plan; the caller holds the output folder's lock."""
    store = CellStore(out)
    result = BenchmarkResult(plan=plan, summary=None, out=out, results_csv=None, invocation_id=uuid.uuid4().hex)
    # MLflow follows the run live: the parent run opens now, each cell's child run as the cell commits.
    live = LiveTracking(echo=echo)
    live.start(request, plan.as_dict(), result.invocation_id, dict(request.extra_tags))
    if request.force:
        for cell in plan.cells:
            store.discard(cell.key)
    pending = {p.dataset.key: [c for c in p.cells if not store.is_committed(c.key)] for p in plan.passes}
    result.computed = sum(len(cells) for cells in pending.values())
    result.cached = len(plan.cells) - result.computed
    echo(f"{result.cached} cell(s) cached, {result.computed} to run")
    for cell in plan.cells:
        if store.is_committed(cell.key):  # served from the cache: tagged on the parent, not logged again
            _, row = store.load_committed(cell.key)
            live.cell_committed(row, store.publish(cell.key, cell.dataset, cell.metric), reused_from="cached")

    precomputed: dict[tuple[str, str], CellAnalysis] = {}
    datasets_made: dict[str, DatasetAnalysis] = {}
    if result.computed:
        with start_ray(request.ray_address, verbose=logging_is_verbose()):
            precomputed, datasets_made = _score_pending(plan, pending, store, result, live, echo)

    rows, frames = [], {}
    for dataset_pass in plan.passes:
        for cell in dataset_pass.cells:
            if store.is_committed(cell.key):
                frame, row = store.load_committed(cell.key)
            else:
                frame, row = None, _given_up_row(dataset_pass, cell, result.given_up.get(cell.key, "not run")).as_dict()
            rows.append(row)
            frames[(cell.dataset, cell.metric)] = frame
    summary = pd.DataFrame(rows)
    for column in NUMERIC_COLUMNS:
        if column not in summary:  # cells committed before the column existed
            summary[column] = math.nan
        summary[column] = pd.to_numeric(summary[column], errors="raise").astype(float)  # JSON null → NaN
    echo(f"Statistics: logistic fits ({len(precomputed)} made as cells committed), {request.bootstrap_resamples} "
         f"bootstrap resamples, pairwise significance ({len(datasets_made)} dataset(s) compared as they ended), plots")
    summary = _with_analysis(out, summary, frames, request, precomputed, datasets_made)
    result.summary = summary
    result.results_csv = Path(request.save_result_path) if request.save_result_path else out / "benchmark_results.csv"
    write_summary_csv(summary, out / "summary.csv")
    write_results_csv(summary, result.results_csv)
    if request.update_benchmark is not None:
        write_results_csv(summary, Path(request.update_benchmark), pyiqa_order=True)
    write_text_atomic(json.dumps(plan.as_dict(), indent=2, default=str), out / "plan.json")
    updated = f", updated {request.update_benchmark}" if request.update_benchmark is not None else ""
    echo(f"Wrote {out / 'summary.csv'}, {result.results_csv}{updated} and per-image Parquet files under "
         f"{out / 'scores'}")

    live.finish(result)
    if result.tracking_error:
        echo(f"WARNING: MLflow logging failed ({result.tracking_error}). All results are on disk under {out}; "
             f"log them later with `iqabench mlflow-sync --out {out}`")
    echo(leaderboard(summary))
    if result.given_up:
        echo(f"\n{len(result.given_up)} cell(s) could not be computed and were not committed; rerun to retry them.")
    return result


def _score_pending(plan: Plan, pending: dict[str, list[Cell]], store: CellStore, result: BenchmarkResult,
                   live: LiveTracking, echo: Echo) -> tuple[dict[tuple[str, str], CellAnalysis],
                                                            dict[str, DatasetAnalysis]]:
    """Score the pending cells on the connected cluster. On clusters of :data:`ANALYSIS_ON_RAY_MIN_CPUS` CPUs or
    more, each cell's own statistics (fits, scatter plot) run on a Ray task as it commits and each dataset's
    comparisons as its last cell ends (:class:`RunningAnalyses`); returns them. A failure of the scheduler itself
    gives up the cells not committed yet, with the reason, and keeps every committed one."""
    cluster = connected_cluster()
    running = None
    if cluster.cpus >= ANALYSIS_ON_RAY_MIN_CPUS:
        # A quarter of the decode tasks' CPUs: the statistics never hold the actors' blocks back.
        running = RunningAnalyses(plan, pending, store, live, int(cluster.decode_cpus / ANALYSIS_TASK_CPUS / 4))
        running.start()
    done_cells: list[str] = []

    def cell_done(cell: Cell, row: SummaryRow | None, reason: str | None, frame: pd.DataFrame | None) -> None:
        if row is None:
            result.given_up[cell.key] = reason or "not run"
            echo(f"  gave up {cell.label}: {reason}")
        else:
            done_cells.append(cell.key)
            echo(f"  committed {cell.label}: {row.n} scored, {row.n_failed} failed, SRCC {row.srcc:.4f} "
                 f"({len(done_cells)}/{result.computed} cells)")
            live.cell_committed(row.as_dict(), store.publish(cell.key, cell.dataset, cell.metric))
        if running is not None:
            running.cell_ended(cell, row, frame)

    try:
        score_cells(plan, pending, store, cluster, _summary_row, cell_done, echo, live.progress)
    except Exception as exc:  # the scheduler itself failed: keep every committed cell, say why
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
        echo(f"Scoring stopped: {reason}")
        log.warning("scoring stopped", exc_info=True)
        for cells in pending.values():
            for cell in cells:
                if not store.is_committed(cell.key):
                    result.given_up.setdefault(cell.key, f"gave up: {reason}")
    return running.results() if running is not None else ({}, {})


def _with_analysis(out: Path, summary: pd.DataFrame, frames: dict, request: BenchmarkRequest,
                   precomputed: dict[tuple[str, str], CellAnalysis],
                   datasets_made: dict[str, DatasetAnalysis]) -> pd.DataFrame:
    """Fits, intervals, significance and plots for the correlation cells (2AFC cells have their accuracy)."""
    correlated = summary["accuracy_2afc"].isna()
    two_afc = {(r.dataset, r.metric) for r in summary[~correlated].itertuples()}
    analysed = analyse(
        out, summary[correlated].reset_index(drop=True), {k: v for k, v in frames.items() if k not in two_afc},
        resamples=request.bootstrap_resamples, seed=request.seed, precomputed=precomputed,
        precomputed_datasets=datasets_made,
    ).summary
    if not two_afc:
        return analysed
    merged = pd.concat([analysed, summary[~correlated]], ignore_index=True)
    plan_order = {(r.dataset, r.metric): i for i, r in enumerate(summary.itertuples())}
    rank = [plan_order[(d, m)] for d, m in zip(merged["dataset"], merged["metric"])]
    return merged.iloc[sorted(range(len(merged)), key=rank.__getitem__)].reset_index(drop=True)


def _mos_lower_better(dataset_pass: DatasetPass) -> bool:
    return dataset_pass.dataset.mos_lower_better


def _summary_row(dataset_pass: DatasetPass, cell: Cell, frame: pd.DataFrame, estimated: float = math.nan) -> SummaryRow:
    two_afc = dataset_pass.dataset.mode == "2AFC"
    if two_afc:  # judgements, not opinion scores: the 2AFC accuracy replaces the correlations
        scored = int(frame["error"].isna().sum())
        corr = Correlations(scored, len(frame) - scored, math.nan, math.nan, math.nan, 0)
    else:
        corr = correlations(frame)
    want = expected_sign(cell.spec.lower_better, _mos_lower_better(dataset_pass))
    seconds_per_image, images_per_second = throughput(frame)
    return SummaryRow(
        metric=cell.metric, dataset=cell.dataset, split=dataset_pass.split, n=corr.n, n_failed=corr.n_failed,
        plcc=corr.plcc, srcc=corr.srcc, krcc=corr.krcc, sign_ok=corr.sign in (0, want),
        seconds_per_image=seconds_per_image, images_per_second=images_per_second,
        failure_reasons=failure_reasons(frame), mode=cell.spec.mode, options=dump_json(dict(cell.options)),
        cell_key=cell.key, accuracy_2afc=two_afc_accuracy(frame, cell.spec.lower_better) if two_afc else math.nan,
        estimated_seconds_per_image=estimated,
    )


def _given_up_row(dataset_pass: DatasetPass, cell: Cell, reason: str) -> SummaryRow:
    nan = math.nan
    return SummaryRow(
        metric=cell.metric, dataset=cell.dataset, split=dataset_pass.split, n=0,
        n_failed=dataset_pass.manifest.num_rows, plcc=nan, srcc=nan, krcc=nan, sign_ok=True, seconds_per_image=nan,
        images_per_second=nan, failure_reasons=f"{dataset_pass.manifest.num_rows}× {reason}", mode=cell.spec.mode,
        options=dump_json(dict(cell.options)), cell_key=cell.key,
    )
