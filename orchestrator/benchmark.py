"""Run a benchmark request end to end: plan → Ray Data passes → per-image Parquet → statistics → exports → MLflow."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from orchestrator.export import leaderboard, write_results_csv, write_summary_csv
from orchestrator.placement import place
from orchestrator.plan import Plan, build_plan, describe_plan
from orchestrator.request import BenchmarkRequest
from orchestrator.stats import correlations, expected_sign, failure_reasons, throughput
from orchestrator.store import cell_frame, scores_path, write_atomic_parquet
from orchestrator.tracking import Tracker, dump_json, tracking_uri

Echo = Callable[[str], None]


@dataclass
class BenchmarkResult:
    plan: Plan
    summary: pd.DataFrame | None
    out: Path
    results_csv: Path | None
    tracking_uri: str | None = None
    parent_run_id: str | None = None
    tracking_error: str | None = None


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


def _cluster_resources() -> tuple[float, float]:
    import ray

    resources = ray.cluster_resources()
    return float(resources.get("CPU", 0.0)), float(resources.get("GPU", 0.0))


def run_benchmark(request: BenchmarkRequest, echo: Echo = print) -> BenchmarkResult:
    echo("Validating the metric × dataset matrix ...")
    plan = build_plan(request)
    echo(describe_plan(plan))
    out = Path(request.out)
    if request.dry_run:
        echo("Dry run: nothing was scored.")
        return BenchmarkResult(plan=plan, summary=None, out=out, results_csv=None)

    out.mkdir(parents=True, exist_ok=True)
    started_ray = _start_ray(request.ray_address, echo)
    try:
        rows = []
        for dataset_pass in plan.passes:
            cpus, gpus = _cluster_resources()
            placements = place(list(dataset_pass.cells), cpus, gpus, request.use_gpu, request.num_workers)
            echo(
                f"Scoring {dataset_pass.dataset.key}: {dataset_pass.manifest.num_rows} images × "
                f"{len(dataset_pass.cells)} metric(s) on {cpus:g} CPU / {gpus:g} GPU "
                f"({', '.join(f'{p.metric}: {p.workers}×[{p.num_cpus:g} CPU, {p.num_gpus:g} GPU]' for p in placements)})"
            )
            t0 = time.perf_counter()
            results = _run_pass(dataset_pass, placements, request.batch_size)
            echo(f"Scored {dataset_pass.dataset.key} in {time.perf_counter() - t0:.1f} s; writing per-image scores")
            for cell in dataset_pass.cells:
                frame = cell_frame(dataset_pass, cell, results)
                path = scores_path(out, cell.dataset, cell.metric)
                write_atomic_parquet(frame, path)
                rows.append(_summary_row(dataset_pass, cell, frame))
    finally:
        if started_ray:
            import ray

            ray.shutdown()

    summary = pd.DataFrame(rows)
    results_csv = Path(request.save_result_path) if request.save_result_path else out / "benchmark_results.csv"
    write_summary_csv(summary, out / "summary.csv")
    write_results_csv(summary, results_csv)
    (out / "plan.json").write_text(json.dumps(plan.as_dict(), indent=2, default=str), encoding="utf-8")
    echo(f"Wrote {out / 'summary.csv'}, {results_csv} and {len(summary)} per-image Parquet file(s) under {out / 'scores'}")

    result = BenchmarkResult(plan=plan, summary=summary, out=out, results_csv=results_csv)
    _track(result, request, echo)
    echo(leaderboard(summary))
    return result


def _run_pass(dataset_pass, placements, batch_size):
    from orchestrator.execute import run_pass  # imports Ray Data

    return run_pass(dataset_pass, placements, batch_size)


def _summary_row(dataset_pass, cell, frame: pd.DataFrame) -> dict:
    corr = correlations(frame)
    mos_lower_better = dataset_pass.dataset.lower_better and not dataset_pass.dataset.mos_normalize
    want = expected_sign(cell.spec.lower_better, mos_lower_better)
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
    }


def _track(result: BenchmarkResult, request: BenchmarkRequest, echo: Echo) -> None:
    uri = tracking_uri(result.out, request.tracking_uri)
    result.tracking_uri = uri
    echo(f"Logging to MLflow at {uri}")
    try:
        tracker = Tracker(uri, result.out)
        name = f"bench {','.join(p.dataset.key for p in result.plan.passes)} {time.strftime('%Y-%m-%d %H:%M:%S')}"
        with tracker.parent_run(name, result.plan.as_dict(), request.extra_tags) as parent_id:
            result.parent_run_id = parent_id
            for row in result.summary.to_dict("records"):
                tracker.log_cell(row, scores_path(result.out, row["dataset"], row["metric"]))
    except Exception as exc:  # the outputs on disk are complete; say loudly that tracking is not
        result.tracking_error = f"{type(exc).__name__}: {exc}"
        echo(f"WARNING: MLflow logging failed ({result.tracking_error}); all results are on disk under {result.out}")
