"""MLflow: one parent run per invocation (plan, versions), one child run per cell. Only the driver writes.

A tracking server that cannot be reached never costs results: the run's outputs are on disk, and what could not
be logged is listed in ``<out>/tracking_pending.json`` for ``iqabench mlflow-sync --out DIR``. Every run carries
the invocation id and every child its cell key as tags, so a sync never logs the same cell twice.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from orchestrator.stats.analysis import ANALYSIS_METRICS, cell_plot_path, run_artifacts
from orchestrator.results.provenance import git_commit, versions
from orchestrator.results.files import write_text_atomic
from orchestrator.results.mlflow_store import prepare_store
from orchestrator.results.store import scores_path

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.run.outcome import BenchmarkResult
    from orchestrator.run.request import BenchmarkRequest

EXPERIMENT = "iqabench"
PENDING_FILE = "tracking_pending.json"
#: Summary columns logged as MLflow metrics of each child run.
CELL_METRICS = ("plcc", "srcc", "krcc", "n", "n_failed", "seconds_per_image", "images_per_second")
PROBE_TIMEOUT_S = 5.0


class TrackingUnavailable(RuntimeError):
    pass


def tracking_uri(out: Path, explicit: str | None = None) -> str:
    """``explicit``, else ``MLFLOW_TRACKING_URI``, else a SQLite store ``<out>/mlflow.db``."""
    if explicit:
        return explicit
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(Path(out) / 'mlflow.db').resolve()}"


def probe(uri: str) -> None:
    """Raise :class:`TrackingUnavailable` quickly when an HTTP tracking server does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S) as response:
            if response.status != 200:
                raise TrackingUnavailable(f"{uri}/health answered HTTP {response.status}")
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingUnavailable(f"MLflow tracking server {uri} is unreachable ({exc})") from exc


def _present(value: Any) -> bool:
    """A value worth logging: not None, not NaN, not an empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return not (isinstance(value, str) and not value)


def dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class Tracker:
    """The MLflow client calls the driver makes."""

    def __init__(self, uri: str, out: Path) -> None:
        from mlflow.tracking import MlflowClient

        prepare_store(uri)  # a half-made default SQLite store is rebuilt, a new one created atomically
        self.uri = uri
        self.out = Path(out)
        self.client = MlflowClient(tracking_uri=uri)
        experiment = self.client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            location = None
            if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
                location = (Path(out) / "mlartifacts").resolve().as_uri()
            self.experiment_id = self.client.create_experiment(EXPERIMENT, artifact_location=location)
        else:
            self.experiment_id = experiment.experiment_id

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """All of a run's parameters in one call (one store transaction instead of one per value)."""
        from mlflow.entities import Param

        self.client.log_batch(run_id, params=[Param(key, str(value)) for key, value in params.items()])

    def _find(self, filter_string: str) -> str | None:
        runs = self.client.search_runs([self.experiment_id], filter_string=filter_string, max_results=1)
        return runs[0].info.run_id if runs else None

    def parent_run(self, invocation_id: str, name: str, plan: dict[str, Any], tags: dict[str, str]) -> str:
        """The invocation's parent run (created once; found again by a later sync)."""
        existing = self._find(f"tags.`iqabench.invocation` = '{invocation_id}' and tags.`iqabench.role` = 'parent'")
        if existing:
            return existing
        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={
                "iqabench.role": "parent",
                "iqabench.invocation": invocation_id,
                "git_commit": git_commit(),
                **{f"version.{k}": v for k, v in versions().items()},
                **tags,
            },
        )
        run_id = run.info.run_id
        self._log_params(run_id, {
            "datasets": ",".join(d["dataset"] for d in plan["datasets"]),
            "metrics": ",".join(sorted({m["metric"] for d in plan["datasets"] for m in d["metrics"]})),
            "batch_size": plan["batch_size"],
            "use_gpu": plan["use_gpu"],
            "limit": plan["limit"],
        })
        self.client.log_dict(run_id, plan, "plan.json")
        return run_id

    def finish_parent(self, run_id: str, params: dict[str, Any]) -> None:
        """The run-level artifacts (summary, analysis tables, heat map, rankings), then close the parent."""
        self._log_params(run_id, params)
        for path, folder in [(self.out / "summary.csv", None), *run_artifacts(self.out)]:
            if path.is_file():
                self.client.log_artifact(run_id, str(path), artifact_path=folder)
        self.client.set_terminated(run_id)

    def log_cell(self, parent_id: str, invocation_id: str, row: dict[str, Any], parquet: Path | None) -> str:
        """The cell's child run, unless this invocation already logged it."""
        from mlflow.entities import Metric, Param

        existing = self._find(
            f"tags.`iqabench.invocation` = '{invocation_id}' and tags.`iqabench.cell_key` = '{row['cell_key']}'"
        )
        if existing:
            return existing
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{row['metric']}@{row['dataset']}",
            tags={
                "mlflow.parentRunId": parent_id,
                "iqabench.role": "cell",
                "iqabench.invocation": invocation_id,
                "iqabench.cell_key": row["cell_key"],
                **({"failure_reasons": str(row["failure_reasons"])[:5000]} if row.get("failure_reasons") else {}),
                **({"fit_error": str(row["fit_error"])[:5000]} if _present(row.get("fit_error")) else {}),
            },
        )
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(key, float(row[key]), now, 0) for key in (*CELL_METRICS, *ANALYSIS_METRICS)
                     if _present(row.get(key))],
            params=[Param(key, str(row[key])) for key in ("metric", "dataset", "split", "options", "mode")],
        )
        if parquet is not None and parquet.is_file():
            self.client.log_artifact(run_id, str(parquet), artifact_path="scores")
        plot = cell_plot_path(self.out, row["dataset"], row["metric"])
        if plot.is_file():
            self.client.log_artifact(run_id, str(plot), artifact_path="plots")
        self.client.set_terminated(run_id)
        return run_id


def _write_pending(out: Path, payload: dict[str, Any]) -> None:
    write_text_atomic(json.dumps(payload, indent=1, sort_keys=True, default=str), Path(out) / PENDING_FILE)


def sync_pending(out: Path, uri: str, echo: Callable[[str], None] = print) -> int:
    """Log what an earlier run could not; returns the number of cells logged now."""
    pending_path = Path(out) / PENDING_FILE
    if not pending_path.is_file():
        echo(f"Nothing to sync: {pending_path} does not exist")
        return 0
    pending = json.loads(pending_path.read_text(encoding="utf-8"))
    summary = pd.read_csv(Path(out) / "summary.csv", keep_default_na=True)
    rows = {r["cell_key"]: r for r in summary.to_dict("records")}
    plan = json.loads((Path(out) / "plan.json").read_text(encoding="utf-8"))
    probe(uri)
    tracker = Tracker(uri, out)
    parent = tracker.parent_run(pending["invocation_id"], pending["run_name"], plan, pending.get("tags", {}))
    logged = 0
    for key in pending["cells"]:
        if key not in rows:
            raise ValueError(f"{pending_path}: cell {key} is not in {Path(out) / 'summary.csv'}")
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rows[key].items()}
        row["failure_reasons"] = row.get("failure_reasons") or ""
        tracker.log_cell(parent, pending["invocation_id"], row, scores_path(Path(out), row["dataset"], row["metric"]))
        logged += 1
    tracker.finish_parent(parent, pending.get("params", {}))
    pending_path.unlink()
    echo(f"Synced {logged} cell(s) of invocation {pending['invocation_id']} to {uri} (parent run {parent})")
    return logged


def _open_tracker(uri: str, out: Path) -> Tracker:
    probe(uri)
    return Tracker(uri, out)


def open_tracker_in_background(uri: str, out: Path) -> "Future[Tracker]":
    """Start opening the tracking store now (importing MLflow, creating or migrating a SQLite store: seconds of
    fixed cost per run), so that it overlaps the scoring instead of following it. Errors surface in ``log_run``."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iqabench-tracking")
    future = executor.submit(_open_tracker, uri, Path(out))
    executor.shutdown(wait=False)
    return future


def _opened(opening: "Future[Tracker] | None") -> Tracker | None:
    if opening is None or opening.exception() is not None:
        return None
    return opening.result()


def log_run(result: "BenchmarkResult", request: "BenchmarkRequest", echo: Callable[[str], None],
            opening: "Future[Tracker] | None" = None) -> None:
    """Log the invocation; on failure keep what was not logged in ``tracking_pending.json``.

    ``opening``: the store already being opened by :func:`open_tracker_in_background` for this run's URI; if
    that failed (a server down when the run started, say), opening is tried once more now.
    """
    uri = tracking_uri(result.out, request.tracking_uri)
    result.tracking_uri = uri
    name = f"bench {','.join(p.dataset.key for p in result.plan.passes)} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    rows = result.summary.to_dict("records")
    pending = {
        "invocation_id": result.invocation_id,
        "uri": uri,
        "run_name": name,
        "tags": dict(request.extra_tags),
        "cells": [row["cell_key"] for row in rows],
        "params": {"bootstrap_resamples": request.bootstrap_resamples, "seed": request.seed},
    }
    _write_pending(result.out, pending)  # removed once everything is logged
    echo(f"Logging to MLflow at {uri}")
    try:
        tracker = _opened(opening) or _open_tracker(uri, result.out)
        result.parent_run_id = tracker.parent_run(result.invocation_id, name, result.plan.as_dict(), request.extra_tags)
        for row in rows:
            tracker.log_cell(
                result.parent_run_id, result.invocation_id, row, scores_path(result.out, row["dataset"], row["metric"])
            )
        tracker.finish_parent(result.parent_run_id, pending["params"])
    except Exception as exc:  # outputs on disk are complete; the pending file says what tracking still lacks
        result.tracking_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        echo(
            f"WARNING: MLflow logging failed ({result.tracking_error}). All results are on disk under "
            f"{result.out}; log them later with `iqabench mlflow-sync --out {result.out}`"
        )
        return
    (Path(result.out) / PENDING_FILE).unlink(missing_ok=True)
