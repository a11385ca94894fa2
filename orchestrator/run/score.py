"""``iqabench score``: score images that have no opinion scores with any metrics, on Ray, as ``bench`` scores a
dataset: one cell per metric on the image set (keyed by content: metric, options, weights, every file's sha256),
the same pools, scheduler and decode-once blocks (:func:`orchestrator.run.scoring.score_cells`), each cell
committed as it finishes, so a rerun reuses committed cells and a killed run resumes from the images it had
committed. Writes ``<out>/<name>.csv`` and ``<out>/<name>.parquet`` (:mod:`orchestrator.results.image_scores`)
and logs an MLflow run (:mod:`orchestrator.results.score_tracking`).

A metric that compares whole sets (a distribution metric) would be one more kind of cell on the same plan: its
result one row per set instead of one per image.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from orchestrator.results.image_scores import image_scores_table, metric_summary, write_image_scores
from orchestrator.results.outlock import output_lock
from orchestrator.results.score_tracking import log_score_run
from orchestrator.results.store import CellStore
from orchestrator.results.summary import SummaryRow
from orchestrator.results.tracking import dump_json
from orchestrator.run.cells import Cell
from orchestrator.run.plan import DatasetPass, Plan, describe_plan
from orchestrator.run.ray_session import logging_is_verbose, start_ray
from orchestrator.run.request import ScoreRequest
from orchestrator.run.score_plan import build_score_plan
from orchestrator.run.scoring import connected_cluster, describe_dry_run, refuse_what_cannot_fit_here, score_cells
from orchestrator.stats.correlation import failure_reasons, throughput

Echo = Callable[[str], None]
log = logging.getLogger(__name__)


@dataclass
class ScoreResult:
    plan: Plan
    #: One row per image, one column per metric (None after a dry run).
    table: pd.DataFrame | None
    out: Path
    csv_path: Path | None = None
    parquet_path: Path | None = None
    cached: int = 0
    computed: int = 0
    #: metric → why it has no scores (its actors kept failing, or it could not be built).
    given_up: dict[str, str] = field(default_factory=dict)
    tracking_uri: str | None = None
    run_id: str | None = None
    tracking_error: str | None = None


def score_summary_row(dataset_pass: DatasetPass, cell: Cell, frame: pd.DataFrame, estimated: float = math.nan
                      ) -> SummaryRow:
    """A scoring cell's committed summary: images scored and failed, the time per image (no correlations:
    there are no opinion scores)."""
    scored = int(frame["error"].isna().sum())
    seconds_per_image, images_per_second = throughput(frame)
    nan = math.nan
    return SummaryRow(
        metric=cell.metric, dataset=cell.dataset, split=dataset_pass.split, n=scored, n_failed=len(frame) - scored,
        plcc=nan, srcc=nan, krcc=nan, sign_ok=True, seconds_per_image=seconds_per_image,
        images_per_second=images_per_second, failure_reasons=failure_reasons(frame), mode=cell.spec.mode,
        options=dump_json(dict(cell.options)), cell_key=cell.key, estimated_seconds_per_image=estimated,
    )


def run_score(request: ScoreRequest, echo: Echo = print) -> ScoreResult:
    echo("Validating the metrics and the images ...")
    plan = build_score_plan(request, echo)
    echo(describe_plan(plan))
    out = Path(request.out)
    if request.dry_run:
        echo(describe_dry_run(plan))
        echo("Dry run: nothing was scored.")
        return ScoreResult(plan=plan, table=None, out=out)
    refuse_what_cannot_fit_here(plan, out)
    with output_lock(out, request.wait_for_lock):
        return _score_locked(plan, request, out, echo)


def _score_locked(plan: Plan, request: ScoreRequest, out: Path, echo: Echo) -> ScoreResult:
    store = CellStore(out)
    result = ScoreResult(plan=plan, table=None, out=out)
    (image_set,) = plan.passes
    if request.force:
        for cell in image_set.cells:
            store.discard(cell.key)
    pending = [c for c in image_set.cells if not store.is_committed(c.key)]
    result.computed, result.cached = len(pending), len(image_set.cells) - len(pending)
    echo(f"{result.cached} metric(s) cached, {result.computed} to run")
    if pending:
        with start_ray(request.ray_address, verbose=logging_is_verbose()):
            _score_pending(plan, {image_set.dataset.key: pending}, store, result, echo)

    frames = {c.metric: store.load_committed(c.key)[0] for c in image_set.cells if store.is_committed(c.key)}
    result.table = image_scores_table(image_set.manifest.table, frames)
    result.csv_path, result.parquet_path = write_image_scores(result.table, out, request.name)
    echo(f"Wrote {result.csv_path} and {result.parquet_path}: {len(result.table)} image(s) × {len(frames)} metric(s)")
    summary = metric_summary(result.table, list(frames))
    for metric, values in summary.items():
        echo(f"  {metric:<14} {int(values['n'])} scored, {int(values['n_failed'])} failed, mean {values['mean']:.6g}")
    _log_to_mlflow(plan, request, result, summary, echo)
    if result.given_up:
        echo(f"{len(result.given_up)} metric(s) could not be computed and were not committed; rerun to retry them.")
    return result


def _score_pending(plan: Plan, pending: dict[str, list[Cell]], store: CellStore, result: ScoreResult,
                   echo: Echo) -> None:
    """Score the pending cells on the connected cluster; a failure of the scheduler itself gives up the cells not
    committed yet, with the reason, and keeps every committed one."""
    def cell_done(cell: Cell, row: SummaryRow | None, reason: str | None, frame: pd.DataFrame | None) -> None:
        if row is None:
            result.given_up[cell.metric] = reason or "not run"
            echo(f"  gave up {cell.label}: {reason}")
        else:
            echo(f"  committed {cell.label}: {row.n} scored, {row.n_failed} failed")

    try:
        score_cells(plan, pending, store, connected_cluster(), score_summary_row, cell_done, echo)
    except Exception as exc:  # the scheduler itself failed: keep every committed cell, say why
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
        echo(f"Scoring stopped: {reason}")
        log.warning("scoring stopped", exc_info=True)
        for cells in pending.values():
            for cell in cells:
                if not store.is_committed(cell.key):
                    result.given_up.setdefault(cell.metric, f"gave up: {reason}")


def _log_to_mlflow(plan: Plan, request: ScoreRequest, result: ScoreResult, summary: dict[str, dict[str, float]],
                   echo: Echo) -> None:
    """The run's MLflow record; a store that cannot be reached is a warning (the tables are on disk)."""
    (image_set,) = plan.passes
    params = {"target": request.target, "ref": request.ref, "images": image_set.manifest.num_rows,
              "metrics": ",".join(c.metric for c in image_set.cells), "batch_size": request.batch_size,
              "use_gpu": request.use_gpu, **{f"options.{c.metric}": dump_json(dict(c.options)) for c in image_set.cells}}
    artifacts = [p for p in (result.csv_path, result.parquet_path) if p is not None]
    try:
        result.tracking_uri, result.run_id = log_score_run(
            result.out, plan.as_dict(), params, summary, artifacts, explicit_uri=request.tracking_uri,
            experiment=request.experiment, invocation_id=uuid.uuid4().hex, tags=dict(request.extra_tags),
            roots={image_set.dataset.key: image_set.dataset.dataroot_target})
        echo(f"Logged to MLflow at {result.tracking_uri} (run {result.run_id})")
    except Exception as exc:  # the results are on disk; the store's failure is reported, never raised
        result.tracking_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        echo(f"WARNING: MLflow logging failed ({result.tracking_error}); the scores are in {result.csv_path}")
