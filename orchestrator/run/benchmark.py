"""Run a benchmark request end to end: plan → Ray Data passes → committed cells → statistics → exports → MLflow.

Cells already committed under ``<out>/cells`` (same cell key) are not recomputed unless ``force``; a cell that
was partly scored when the driver died resumes from its committed parts. A pass that fails (a metric actor
dying repeatedly, say) is retried one metric at a time, so that one bad metric cannot take the others down; a
metric that still fails is given up for this run, reported with its reason, and not committed.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.stats.analysis import analyse
from orchestrator.results.export import leaderboard, write_results_csv, write_summary_csv
from orchestrator.run.placement import Placement, place_in_waves, shared_actors
from orchestrator.run.plan import Cell, DatasetPass, build_plan, describe_plan
from orchestrator.run.outcome import BenchmarkResult
from orchestrator.run.request import BenchmarkRequest
from orchestrator.stats.correlation import Correlations, correlations, expected_sign, failure_reasons, throughput, two_afc_accuracy
from orchestrator.results.files import write_text_atomic
from orchestrator.results.store import CellStore, cell_frame, result_part
from orchestrator.results.tracking import dump_json, log_run, open_tracker_in_background, tracking_uri

Echo = Callable[[str], None]

#: Streamed results are committed to disk at least every ``request.checkpoint_every`` rows or this often.
FLUSH_SECONDS = 10.0


def _start_ray(address: str | None, echo: Echo) -> bool:
    """Connect to (or start) Ray; returns True when this call started it and must shut it down."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        echo(f"Connecting to the Ray cluster at {address}")
        ray.init(address=address)
    else:
        echo("Starting a local Ray cluster")
        ray.init(include_dashboard=False)
    return True


def _cluster_resources() -> tuple[float, float, float | None, list[float]]:
    """(CPUs, GPUs, memory bytes, GPUs of each live node) of the Ray cluster."""
    import ray

    resources = ray.cluster_resources()
    per_node = [float(n["Resources"].get("GPU", 0.0)) for n in ray.nodes() if n.get("Alive")]
    memory = resources.get("memory")
    return float(resources.get("CPU", 0.0)), float(resources.get("GPU", 0.0)), memory, per_node


def run_benchmark(request: BenchmarkRequest, echo: Echo = print) -> BenchmarkResult:
    echo("Validating the metric × dataset matrix ...")
    plan = build_plan(request, echo)
    echo(describe_plan(plan))
    out = Path(request.out)
    if request.dry_run:
        echo("Dry run: nothing was scored.")
        return BenchmarkResult(plan=plan, summary=None, out=out, results_csv=None)

    out.mkdir(parents=True, exist_ok=True)
    opening_tracker = open_tracker_in_background(tracking_uri(out, request.tracking_uri), out)
    store = CellStore(out)
    result = BenchmarkResult(plan=plan, summary=None, out=out, results_csv=None, invocation_id=uuid.uuid4().hex)
    if request.force:
        for cell in plan.cells:
            store.discard(cell.key)
    pending = {p.dataset.key: [c for c in p.cells if not store.is_committed(c.key)] for p in plan.passes}
    result.computed = sum(len(cells) for cells in pending.values())
    result.cached = len(plan.cells) - result.computed
    echo(f"{result.cached} cell(s) cached, {result.computed} to run")

    if result.computed:
        started_ray = _start_ray(request.ray_address, echo)
        try:
            for dataset_pass in plan.passes:
                if pending[dataset_pass.dataset.key]:
                    _run_cells(dataset_pass, pending[dataset_pass.dataset.key], request, store, result, echo)
        finally:
            if started_ray:
                import ray

                ray.shutdown()

    rows, frames = [], {}
    for dataset_pass in plan.passes:
        for cell in dataset_pass.cells:
            if store.is_committed(cell.key):
                frame, row = store.load_committed(cell.key)
                store.publish(cell.key, cell.dataset, cell.metric)
            else:
                frame, row = None, _given_up_row(dataset_pass, cell, result.given_up.get(cell.key, "not run"))
            rows.append(row)
            frames[(cell.dataset, cell.metric)] = frame
    summary = pd.DataFrame(rows)
    for column in ("plcc", "srcc", "krcc", "seconds_per_image", "images_per_second", "accuracy_2afc"):
        summary[column] = pd.to_numeric(summary[column], errors="raise").astype(float)  # JSON null → NaN
    echo(f"Statistics: logistic fits, {request.bootstrap_resamples} bootstrap resamples, pairwise significance, plots")
    summary = _with_analysis(out, summary, frames, request)
    result.summary = summary
    result.results_csv = Path(request.save_result_path) if request.save_result_path else out / "benchmark_results.csv"
    write_summary_csv(summary, out / "summary.csv")
    write_results_csv(summary, result.results_csv)
    write_text_atomic(json.dumps(plan.as_dict(), indent=2, default=str), out / "plan.json")
    echo(f"Wrote {out / 'summary.csv'}, {result.results_csv} and per-image Parquet files under {out / 'scores'}")

    log_run(result, request, echo, opening_tracker)
    echo(leaderboard(summary))
    if result.given_up:
        echo(f"\n{len(result.given_up)} cell(s) could not be computed and were not committed; rerun to retry them.")
    return result


def _with_analysis(out: Path, summary: pd.DataFrame, frames: dict, request: BenchmarkRequest) -> pd.DataFrame:
    """Fits, intervals, significance and plots for the correlation cells (2AFC cells have their accuracy)."""
    correlated = summary["accuracy_2afc"].isna()
    two_afc = {(r.dataset, r.metric) for r in summary[~correlated].itertuples()}
    analysed = analyse(
        out, summary[correlated].reset_index(drop=True), {k: v for k, v in frames.items() if k not in two_afc},
        resamples=request.bootstrap_resamples, seed=request.seed,
    ).summary
    if not two_afc:
        return analysed
    merged = pd.concat([analysed, summary[~correlated]], ignore_index=True)
    plan_order = {(r.dataset, r.metric): i for i, r in enumerate(summary.itertuples())}
    rank = [plan_order[(d, m)] for d, m in zip(merged["dataset"], merged["metric"])]
    return merged.iloc[sorted(range(len(merged)), key=rank.__getitem__)].reset_index(drop=True)


def _run_cells(dataset_pass: DatasetPass, cells: list[Cell], request: BenchmarkRequest, store: CellStore,
               result: BenchmarkResult, echo: Echo) -> None:
    """Score ``cells`` of one dataset in one pass; on failure, retry them one metric at a time."""
    try:
        _stream_into_store(dataset_pass, cells, request, store, echo, result.plan.overrides)
    except Exception as exc:  # a pass-level failure (e.g. an actor that kept dying): isolate the culprit
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
        if len(cells) > 1:
            echo(f"The pass over {dataset_pass.dataset.key} failed ({reason}); retrying its metrics one at a time")
            for cell in cells:
                _run_cells(dataset_pass, [cell], request, store, result, echo)
            return
        cell = cells[0]
        echo(f"Giving up {cell.label} for this run: {reason}")
        result.given_up[cell.key] = f"gave up: {reason}"
        return
    for cell in cells:
        frame = cell_frame(dataset_pass.manifest.table, store.load_parts(cell.key))
        construct_errors = frame["error"].dropna()
        construct_errors = construct_errors[construct_errors.str.startswith("construct:")]
        if len(construct_errors):
            # The metric itself could not be built: report it, but do not cache the failure.
            result.given_up[cell.key] = construct_errors.iloc[0]
            store.discard(cell.key)
            echo(f"Giving up {cell.label}: {construct_errors.iloc[0]}")
            continue
        store.commit(cell.key, frame, _summary_row(dataset_pass, cell, frame))


def _stream_into_store(dataset_pass: DatasetPass, cells: list[Cell], request: BenchmarkRequest, store: CellStore,
                       echo: Echo, overrides) -> None:
    """Score ``cells`` over one dataset: one read of it, or one per wave when their actors do not fit at once."""
    cpus, gpus, memory, gpus_per_node = _cluster_resources()
    own = {c.metric: overrides[c.metric] for c in cells if c.metric in overrides}
    waves = place_in_waves(cells, cpus, gpus, request.use_gpu, request.num_workers, overrides=own,
                           cluster_memory_bytes=memory, gpus_per_node=gpus_per_node)
    if len(waves) > 1:
        echo(f"{dataset_pass.dataset.key}: the actors of {len(cells)} metrics do not fit the cluster at once; "
             f"scoring them in {len(waves)} waves, one read of the dataset each: "
             + "; ".join(", ".join(c.metric for c in wave) for wave, _ in waves))
    t0 = time.perf_counter()
    scored = [
        _stream_wave(dataset_pass, wave, placements, request, store, echo, f"{cpus:g} CPU / {gpus:g} GPU",
                     shared_actors(placements, cpus, request.num_workers, own, memory))
        for wave, placements in waves
    ]
    if any(scored):
        echo(f"Scored {dataset_pass.dataset.key} in {time.perf_counter() - t0:.1f} s")


def _stream_wave(dataset_pass: DatasetPass, cells: list[Cell], placements: list[Placement], request: BenchmarkRequest,
                 store: CellStore, echo: Echo, cluster: str, shared: Placement | None) -> bool:
    """One read of the dataset scored by ``cells``; returns False when every image was already committed."""
    from orchestrator.run.execute import stream_pass  # imports Ray Data only when something is scored

    manifest = dataset_pass.manifest.table
    done = {cell.key: store.scored_ids(cell.key) for cell in cells}
    complete = set.intersection(*done.values()) if done else set()
    todo = manifest.filter(pc.invert(pc.is_in(manifest["id"], pa.array(sorted(complete), pa.int64()))))
    if complete:
        echo(f"Resuming {dataset_pass.dataset.key}: {len(complete)} image(s) already committed, {todo.num_rows} to score")
    if todo.num_rows == 0:
        return False
    if shared is None:
        actors = ", ".join(f"{p.metric}: {p.workers}×[{p.num_cpus:g} CPU, {p.num_gpus:g} GPU]" for p in placements)
    else:
        actors = (f"{shared.workers} shared actor(s) × [{shared.num_cpus:g} CPU, {shared.memory_mb} MB], each "
                  f"holding all {len(cells)} metrics: more metrics than CPUs")
    echo(f"Scoring {dataset_pass.dataset.key}: {todo.num_rows} images × {len(cells)} metric(s) on {cluster} ({actors})")
    buffer: list[pd.DataFrame] = []
    buffered, last_flush = 0, time.monotonic()

    def flush() -> None:
        nonlocal buffered, last_flush
        if buffer:
            batch = pd.concat(buffer, ignore_index=True)
            for cell in cells:
                part = result_part(batch, cell.metric)
                part = part[~part["id"].isin(done[cell.key])]
                if len(part):
                    store.append_part(cell.key, part)
        buffer.clear()
        buffered, last_flush = 0, time.monotonic()

    for batch in stream_pass(
        todo, cells, placements, request.batch_size, dataset_pass.dataset.mode in ("FR", "2AFC"),
        dataset_pass.dataset.augment.get("resize"), shared,
    ):
        buffer.append(batch)
        buffered += len(batch)
        if buffered >= request.checkpoint_every or time.monotonic() - last_flush >= FLUSH_SECONDS:
            flush()
    flush()
    return True


def _mos_lower_better(dataset_pass: DatasetPass) -> bool:
    return dataset_pass.dataset.lower_better and not dataset_pass.dataset.mos_normalize


def _summary_row(dataset_pass: DatasetPass, cell: Cell, frame: pd.DataFrame) -> dict:
    two_afc = dataset_pass.dataset.mode == "2AFC"
    if two_afc:  # judgements, not opinion scores: the 2AFC accuracy replaces the correlations
        scored = int(frame["error"].isna().sum())
        nan = float("nan")
        corr = Correlations(scored, len(frame) - scored, nan, nan, nan, 0)
    else:
        corr = correlations(frame)
    want = expected_sign(cell.spec.lower_better, _mos_lower_better(dataset_pass))
    seconds_per_image, images_per_second = throughput(frame)
    return {
        "metric": cell.metric,
        "dataset": cell.dataset,
        "split": dataset_pass.split,
        "n": corr.n,
        "n_failed": corr.n_failed,
        "plcc": corr.plcc,
        "srcc": corr.srcc,
        "krcc": corr.krcc,
        "sign_ok": corr.sign in (0, want),
        "seconds_per_image": seconds_per_image,
        "images_per_second": images_per_second,
        "failure_reasons": failure_reasons(frame),
        "mode": cell.spec.mode,
        "options": dump_json(dict(cell.options)),
        "cell_key": cell.key,
        "accuracy_2afc": two_afc_accuracy(frame, cell.spec.lower_better) if two_afc else float("nan"),
    }


def _given_up_row(dataset_pass: DatasetPass, cell: Cell, reason: str) -> dict:
    nan = float("nan")
    return {
        "metric": cell.metric,
        "dataset": cell.dataset,
        "split": dataset_pass.split,
        "n": 0,
        "n_failed": dataset_pass.manifest.num_rows,
        "plcc": nan,
        "srcc": nan,
        "krcc": nan,
        "sign_ok": True,
        "seconds_per_image": nan,
        "images_per_second": nan,
        "failure_reasons": f"{dataset_pass.manifest.num_rows}× {reason}",
        "mode": cell.spec.mode,
        "options": dump_json(dict(cell.options)),
        "cell_key": cell.key,
        "accuracy_2afc": nan,
    }
