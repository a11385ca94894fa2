"""MLflow: one parent run per invocation (plan, versions, report), one child run per cell. Only the driver writes.

A tracking server that cannot be reached never costs results: the run's outputs are on disk, and what could not
be logged is listed in ``<out>/tracking_pending.json`` for ``iqabench mlflow-sync --out DIR``. Every run carries
the invocation id and every child its cell key as tags, so a sync never logs the same cell twice.

MLflow's conventions: the experiment is ``--experiment``, else ``MLFLOW_EXPERIMENT_NAME``, else ``iqabench``;
runs carry MLflow's standard source tags (``mlflow.source.git.commit``, ``mlflow.source.name``,
``mlflow.source.type``, ``mlflow.user``); each dataset is a dataset input (name, digest = the manifest digest,
source) of the parent and of its cells' children. A cell served from the cache is not logged again: the parent
gets the tag ``iqabench.reused.<metric>.<dataset>`` naming the child run that computed it (found by its cell-key
tag). :class:`LiveTracking` logs each cell as it commits, and the rest when the run finishes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from orchestrator.results.files import write_text_atomic
from orchestrator.results.mlflow_store import prepare_store
from orchestrator.results.provenance import git_commit, versions
from orchestrator.results.report import ReportError, build_report
from orchestrator.results.store import scores_path
from orchestrator.results.tracking_store import tracking_uri
from orchestrator.stats.analysis import ANALYSIS_METRICS, cell_plot_path, run_artifacts

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.run.outcome import BenchmarkResult
    from orchestrator.run.request import BenchmarkRequest

log = logging.getLogger(__name__)

EXPERIMENT = "iqabench"
PENDING_FILE = "tracking_pending.json"
#: Summary columns logged as MLflow metrics of each child run.
CELL_METRICS = ("plcc", "srcc", "krcc", "n", "n_failed", "seconds_per_image", "images_per_second")
PROBE_TIMEOUT_S = 5.0


#: A cell's child run: ``committed`` (its results are in the cell store) or ``given up`` (none are).
STATUS_TAG = "iqabench.status"
#: MLflow keeps at most 36 characters of a dataset digest; the full manifest digest is an input tag.
DIGEST_CHARS = 36


class TrackingUnavailable(RuntimeError):
    pass


def experiment_name(explicit: str | None = None) -> str:
    """``explicit`` (``--experiment``), else ``MLFLOW_EXPERIMENT_NAME``, else ``iqabench``."""
    return explicit or os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT


def source_tags() -> dict[str, str]:
    """MLflow's standard source tags for this process (MLflow's own context providers resolve them), with the git
    commit of iqabench's code (not of the working directory) where that is known."""
    from mlflow.entities import SourceType
    from mlflow.tracking.context.registry import resolve_tags
    from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_SOURCE_NAME, MLFLOW_SOURCE_TYPE, MLFLOW_USER

    resolved = resolve_tags()
    tags = {key: str(resolved[key]) for key in (MLFLOW_SOURCE_NAME, MLFLOW_SOURCE_TYPE, MLFLOW_USER, MLFLOW_GIT_COMMIT)
            if resolved.get(key)}
    tags.setdefault(MLFLOW_SOURCE_TYPE, SourceType.to_string(SourceType.LOCAL))
    commit = git_commit()
    if re.fullmatch(r"[0-9a-f]{40}", commit):
        tags[MLFLOW_GIT_COMMIT] = commit
    return tags


def dataset_inputs(plan: dict[str, Any], roots: dict[str, str] | None = None) -> dict[str, Any]:
    """Dataset key → MLflow ``DatasetInput`` (name, digest = manifest digest, source = the dataset's folder)."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import get_registered_sources, resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    # MLflow registers its local-file source under two schemes; naming it avoids an "ambiguous source" warning.
    local = [s for s in get_registered_sources() if s._get_source_type() == "local"][:1]
    found = {}
    for entry in plan["datasets"]:
        key = entry["dataset"]
        root = (roots or {}).get(key) or entry.get("dataroot_target")
        if root:
            source = resolve_dataset_source(Path(root).resolve().as_uri(), candidate_sources=local or None)
        else:  # an embedded or generated dataset has no folder of its own to point at
            source = CodeDatasetSource({"iqabench.dataset": key})
        digest = str(entry["manifest_digest"])
        dataset = MetaDataset(source, name=key, digest=digest[:DIGEST_CHARS])._to_mlflow_entity()
        found[key] = DatasetInput(dataset, tags=[
            InputTag("mlflow.data.context", "evaluation"), InputTag("iqabench.manifest_digest", digest),
            InputTag("iqabench.split", str(entry.get("split"))), InputTag("iqabench.images", str(entry.get("images"))),
        ])
    return found


def _tag_key(text: str) -> str:
    """``text`` with the characters MLflow does not take in a tag key replaced by ``_``."""
    return re.sub(r"[^\w./ :-]", "_", text)


def reused_tag(row: dict[str, Any]) -> str:
    """The parent's tag that names the run which computed a reused cell."""
    return _tag_key(f"iqabench.reused.{row['metric']}.{row['dataset']}")


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


def cell_metrics(row: dict[str, Any]) -> dict[str, float]:
    """The MLflow metrics of a cell's child run that ``row`` has a value for."""
    return {key: float(row[key]) for key in (*CELL_METRICS, *ANALYSIS_METRICS) if _present(row.get(key))}


def dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class Tracker:
    """The MLflow client calls the driver makes."""

    def __init__(self, uri: str, out: Path, experiment: str | None = None) -> None:
        from mlflow.tracking import MlflowClient

        prepare_store(uri)  # a half-made default SQLite store is rebuilt, a new one created atomically
        self.uri = uri
        self.out = Path(out)
        self.client = MlflowClient(tracking_uri=uri)
        self.experiment = experiment_name(experiment)
        found = self.client.get_experiment_by_name(self.experiment)
        if found is None:
            location = None
            if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
                location = (Path(out) / "mlartifacts").resolve().as_uri()
            self.experiment_id = self.client.create_experiment(self.experiment, artifact_location=location)
        else:
            self.experiment_id = found.experiment_id
        self.source_tags = source_tags()

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """All of a run's parameters in one call (one store transaction instead of one per value)."""
        from mlflow.entities import Param

        self.client.log_batch(run_id, params=[Param(key, str(value)) for key, value in params.items()])

    def _find(self, filter_string: str) -> str | None:
        runs = self.client.search_runs([self.experiment_id], filter_string=filter_string, max_results=1)
        return runs[0].info.run_id if runs else None

    def parent_run(self, invocation_id: str, name: str, plan: dict[str, Any], tags: dict[str, str],
                   datasets: dict[str, Any] | None = None) -> str:
        """The invocation's parent run (created once; found again by a later sync), with its dataset inputs."""
        existing = self._find(f"tags.`iqabench.invocation` = '{invocation_id}' and tags.`iqabench.role` = 'parent'")
        if existing:
            return existing
        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={
                **self.source_tags,
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
        if datasets:
            self.client.log_inputs(run_id, datasets=list(datasets.values()))
        return run_id

    def finish_parent(self, run_id: str, params: dict[str, Any]) -> None:
        """The run-level artifacts (summary, analysis tables, heat map, rankings, the HTML report), then close the
        parent. A report that cannot be built is a warning, not a tracking failure."""
        self._log_params(run_id, params)
        try:
            build_report(self.out)
        except ReportError as exc:
            log.warning("The HTML report of %s could not be built: %s", self.out, exc)
        for path, folder in [(self.out / "summary.csv", None), (self.out / "report.html", None),
                             *run_artifacts(self.out)]:
            if path.is_file():
                self.client.log_artifact(run_id, str(path), artifact_path=folder)
        self.client.set_terminated(run_id)

    def computing_run(self, cell_key: str, invocation_id: str) -> str | None:
        """The child run of another invocation that computed ``cell_key`` (the earliest), if this store has one."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(f"tags.`iqabench.cell_key` = '{cell_key}' and tags.`{STATUS_TAG}` = 'committed' "
                           f"and tags.`iqabench.invocation` != '{invocation_id}'"),
            order_by=["attributes.start_time ASC"], max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def tag_reused(self, parent_id: str, row: dict[str, Any], computed_by: str) -> None:
        """Mark a cell served from the cache on the parent, pointing to the run that computed it."""
        self.client.set_tag(parent_id, reused_tag(row), computed_by)

    def update_cell(self, run_id: str, metrics: dict[str, float], plot: Path | None = None) -> None:
        """Log statistics made after the cell's commit to its child run, and its scatter plot when given."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        if metrics:
            self.client.log_batch(run_id, metrics=[Metric(key, value, now, 0) for key, value in metrics.items()])
        if plot is not None:
            self.client.log_artifact(run_id, str(plot), artifact_path="plots")

    def log_cell(self, parent_id: str, invocation_id: str, row: dict[str, Any], parquet: Path | None,
                 dataset: Any = None, status: str = "committed", with_plot: bool = True) -> str:
        """The cell's child run, unless this invocation already logged it; ``dataset``: its MLflow dataset input;
        ``with_plot``: log the cell's scatter plot, if it is on disk (else the caller logs it once it is made)."""
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
                **self.source_tags,
                "mlflow.parentRunId": parent_id,
                "iqabench.role": "cell",
                "iqabench.invocation": invocation_id,
                "iqabench.cell_key": row["cell_key"],
                STATUS_TAG: status,
                **({"failure_reasons": str(row["failure_reasons"])[:5000]} if row.get("failure_reasons") else {}),
                **({"fit_error": str(row["fit_error"])[:5000]} if _present(row.get("fit_error")) else {}),
            },
        )
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(key, value, now, 0) for key, value in cell_metrics(row).items()],
            params=[Param(key, str(row[key])) for key in ("metric", "dataset", "split", "options", "mode")],
        )
        if dataset is not None:
            self.client.log_inputs(run_id, datasets=[dataset])
        if parquet is not None and parquet.is_file():
            self.client.log_artifact(run_id, str(parquet), artifact_path="scores")
        plot = cell_plot_path(self.out, row["dataset"], row["metric"])
        if with_plot and plot.is_file():
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
    tracker = Tracker(uri, out, pending.get("experiment"))
    datasets = dataset_inputs(plan, pending.get("dataset_roots"))
    parent = tracker.parent_run(pending["invocation_id"], pending["run_name"], plan, pending.get("tags", {}), datasets)
    logged = 0
    for key in pending["cells"]:
        if key not in rows:
            raise ValueError(f"{pending_path}: cell {key} is not in {Path(out) / 'summary.csv'}")
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rows[key].items()}
        row["failure_reasons"] = row.get("failure_reasons") or ""
        _log_row(tracker, parent, pending["invocation_id"], row, Path(out), datasets,
                 given_up=key in pending.get("given_up", []), reused=not pending.get("force", False))
        logged += 1
    tracker.finish_parent(parent, pending.get("params", {}))
    pending_path.unlink()
    echo(f"Synced {logged} cell(s) of invocation {pending['invocation_id']} to {uri} (parent run {parent})")
    return logged


def _log_row(tracker: Tracker, parent: str, invocation_id: str, row: dict[str, Any], out: Path,
             datasets: dict[str, Any], *, given_up: bool, reused: bool) -> str:
    """A finished run's cell: tagged on the parent when another invocation's child computed it (``reused``: the
    cell may have come from the cache), else its own child run. Returns the run that holds the cell."""
    if reused and not given_up:
        computed_by = tracker.computing_run(row["cell_key"], invocation_id)
        if computed_by:
            tracker.tag_reused(parent, row, computed_by)
            return computed_by
    return tracker.log_cell(parent, invocation_id, row, scores_path(out, row["dataset"], row["metric"]),
                            datasets.get(row["dataset"]), status="given up" if given_up else "committed")


def _run_name(plan: dict[str, Any]) -> str:
    return f"bench {','.join(d['dataset'] for d in plan['datasets'])} {time.strftime('%Y-%m-%d %H:%M:%S')}"


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _plan_roots(plan: Any) -> dict[str, str]:
    """Dataset key → its image folder, from a :class:`~orchestrator.run.plan.Plan`'s passes."""
    return {p.dataset.key: str(p.dataset.dataroot_target) for p in plan.passes
            if getattr(p.dataset, "dataroot_target", None)}


class LiveTracking:
    """MLflow logging while a run goes on, for the driver's thread: thread-safe, and never raising.

    Every call returns at once; the MLflow work happens in one background thread, in call order. The parent run
    is opened at :meth:`start` (in the background, overlapping the scoring), each cell's
    child run as it commits (:meth:`cell_committed`), progress metrics on the parent at most every
    ``min_interval_s`` (:meth:`progress`), and :meth:`finish` adds what came later (statistics computed across
    cells, plots, run artifacts, the report) and closes the parent. A failure (a tracker that is down, say) is
    logged as a warning once, and what was not logged is left in ``tracking_pending.json`` for
    ``iqabench mlflow-sync``; the results on disk are never affected.
    """

    def __init__(self, *, min_interval_s: float = 5.0, echo: Callable[[str], None] | None = None) -> None:
        self.min_interval_s = min_interval_s
        self._echo = echo or log.info
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iqabench-live-tracking")
        self._tracker: Tracker | None = None
        self._out: Path | None = None
        self._pending: dict[str, Any] | None = None
        self._datasets: dict[str, Any] = {}
        self.parent_run_id: str | None = None
        self.error: str | None = None
        #: cell key → the run that holds it (this invocation's child, or the one that computed a reused cell).
        self.logged: dict[str, str] = {}
        self._reused: set[str] = set()
        #: cell key → the metrics its child run has (logged at its commit or since), and whether its plot is logged.
        self._sent: dict[str, dict[str, float]] = {}
        self._plot_sent: set[str] = set()
        self._last_progress = -math.inf
        self._progress_step = 0
        self._finished = False
        self._plan_dict: dict[str, Any] | None = None

    # -- the driver's calls: each returns at once and never raises ------------------------------------------------

    def start(self, request: "BenchmarkRequest", plan_dict: dict[str, Any], invocation_id: str,
              tags: dict[str, str]) -> None:
        """Write the pending file (every planned cell) and open the store and the parent run in the background."""
        try:
            out = Path(request.out)
            uri = tracking_uri(out, request.tracking_uri)
            cells = [m["cell_key"] for d in plan_dict["datasets"] for m in d["metrics"]]
            pending = {
                "invocation_id": invocation_id, "uri": uri, "experiment": experiment_name(request.experiment),
                "run_name": _run_name(plan_dict), "tags": dict(tags), "cells": cells, "given_up": [],
                "force": request.force, "dataset_roots": {},
                "params": {"bootstrap_resamples": request.bootstrap_resamples, "seed": request.seed},
            }
            with self._lock:
                self._out, self._pending = out, pending
            out.mkdir(parents=True, exist_ok=True)
            _write_pending(out, pending)
        except Exception as exc:  # never raises into the driver: recorded, warned about once
            self._failed("start", exc)
            return
        self._plan_dict = plan_dict
        self._submit(self._open, plan_dict)

    def cell_committed(self, row: dict[str, Any], parquet: Path | None, reused_from: str | None = None) -> None:
        """Log a committed cell now (in the background, in order). ``reused_from``: for a cell served from the
        cache, the MLflow run id that computed it when the caller knows it, else any other non-empty note (the
        run is then looked up by the cell-key tag); the cell is tagged on the parent, not logged again."""
        self._submit(self._log_cell, dict(row), parquet, reused_from)

    def cell_analysed(self, cell_key: str, metrics: dict[str, float], plot: Path | None = None) -> None:
        """Statistics of a committed cell made after its commit (its fits, its dataset's intervals and ranks) and
        its scatter plot: logged to its child run now (in the background, in order), so that :meth:`finish` has
        only what came after them to log."""
        self._submit(self._update_cell, cell_key, dict(metrics), plot)

    def progress(self, done_images: int, total_images: int, done_cells: int, total_cells: int) -> None:
        """Progress metrics on the parent run, at most one log every ``min_interval_s`` (and the last one)."""
        now = time.monotonic()
        with self._lock:
            last = done_images >= total_images and done_cells >= total_cells
            if now - self._last_progress < self.min_interval_s and not last:
                return
            self._last_progress = now
            self._progress_step += 1
            step = self._progress_step
        self._submit(self._log_progress, done_images, total_images, done_cells, step)

    def finish(self, result: "BenchmarkResult") -> None:
        """Log what is not logged yet and close the parent; waits for the background thread. Sets
        ``result.tracking_uri``, ``parent_run_id`` and (on failure) ``tracking_error``; never raises."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self._submit(self._finish, result)
        self._executor.shutdown(wait=True)
        result.parent_run_id = self.parent_run_id
        result.tracking_error = self.error
        if self._pending is not None:
            result.tracking_uri = self._pending["uri"]

    # -- the background thread ------------------------------------------------------------------------------------

    def _submit(self, work: Callable[..., None], *args: Any) -> None:
        def guarded() -> None:
            try:
                work(*args)
            except Exception as exc:  # recorded (pending file, warning), never raised
                self._failed(work.__name__.strip("_"), exc)

        try:
            self._executor.submit(guarded)
        except RuntimeError as exc:  # submitted after finish(): nothing will log it
            self._failed("submit", exc)

    def _failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            first = self.error is None
            if first:
                self.error = _error_text(exc)
            out = self._out
        if first:
            where = f" All results are on disk under {out}; log them later with `iqabench mlflow-sync --out {out}`." \
                if out else ""
            log.warning("MLflow logging failed at %s (%s).%s", what, self.error, where)

    def _open(self, plan_dict: dict[str, Any]) -> None:
        pending = self._pending
        assert pending is not None and self._out is not None
        probe(pending["uri"])
        tracker = Tracker(pending["uri"], self._out, pending["experiment"])
        self._datasets = dataset_inputs(plan_dict, pending["dataset_roots"])
        self.parent_run_id = tracker.parent_run(pending["invocation_id"], pending["run_name"], plan_dict,
                                                pending["tags"], self._datasets)
        self._tracker = tracker
        self._echo(f"Logging to MLflow at {pending['uri']} (run {self.parent_run_id})")

    def _ready(self) -> Tracker | None:
        return self._tracker if self.error is None else None

    def _log_cell(self, row: dict[str, Any], parquet: Path | None, reused_from: str | None) -> None:
        tracker = self._ready()
        if tracker is None or self.parent_run_id is None or self._pending is None:
            return  # left in the pending file for mlflow-sync
        key = row["cell_key"]
        if reused_from:
            computed_by = (reused_from if re.fullmatch(r"[0-9a-f]{32}", reused_from)
                           else tracker.computing_run(key, self._pending["invocation_id"]))
            if computed_by:
                tracker.tag_reused(self.parent_run_id, row, computed_by)
                self.logged[key] = computed_by
                self._reused.add(key)
                return
        self.logged[key] = tracker.log_cell(self.parent_run_id, self._pending["invocation_id"], row, parquet,
                                            self._datasets.get(row["dataset"]), with_plot=False)
        self._sent[key] = cell_metrics(row)

    def _update_cell(self, key: str, metrics: dict[str, float], plot: Path | None) -> None:
        """Log what of ``metrics`` (and the plot) the cell's child run does not have yet."""
        tracker = self._ready()
        if tracker is None or key not in self.logged or key in self._reused:
            return  # not logged (left for finish or mlflow-sync), or another invocation's run holds it
        sent = self._sent.setdefault(key, {})
        new = {name: value for name, value in metrics.items() if sent.get(name) != value}
        plot = plot if plot is not None and key not in self._plot_sent and plot.is_file() else None
        if new or plot is not None:
            tracker.update_cell(self.logged[key], new, plot)
        sent.update(new)
        if plot is not None:
            self._plot_sent.add(key)

    def _log_progress(self, done_images: int, total_images: int, done_cells: int, step: int) -> None:
        from mlflow.entities import Metric

        tracker = self._ready()
        if tracker is None or self.parent_run_id is None:
            return
        now = int(time.time() * 1000)
        fraction = done_images / total_images if total_images else 1.0
        tracker.client.log_batch(self.parent_run_id, metrics=[
            Metric("progress/images_done", float(done_images), now, step),
            Metric("progress/fraction", float(fraction), now, step),
            Metric("progress/cells_done", float(done_cells), now, step),
        ])

    def _finish(self, result: "BenchmarkResult") -> None:
        pending, out = self._pending, self._out
        if pending is None or out is None:
            return
        rows = result.summary.to_dict("records") if result.summary is not None else []
        pending.update(cells=[r["cell_key"] for r in rows], given_up=sorted(result.given_up),
                       dataset_roots=_plan_roots(result.plan))
        tracker = self._ready()
        if self._tracker is None and self._plan_dict is not None:
            # The store could not be opened at the start (a server that was down then): one more try now.
            with self._lock:
                first_error, self.error = self.error, None
            try:
                self._open(self._plan_dict)
                tracker = self._tracker
            except Exception as exc:  # still down: everything stays in the pending file (warned once already)
                with self._lock:
                    self.error = _error_text(exc) if first_error is None else first_error
                tracker = None
        if tracker is None or self.parent_run_id is None:
            _write_pending(out, pending)  # what mlflow-sync will log: every cell of the run
            return
        try:
            for row in rows:
                key = row["cell_key"]
                if key in self._reused:
                    continue
                if key in self.logged:  # what was computed after the cell's commit and not logged as it came
                    self._update_cell(key, cell_metrics(row), cell_plot_path(out, row["dataset"], row["metric"]))
                else:
                    self.logged[key] = _log_row(tracker, self.parent_run_id, pending["invocation_id"], row, out,
                                                self._datasets, given_up=key in result.given_up, reused=False)
            tracker.finish_parent(self.parent_run_id, pending["params"])
        except Exception:
            _write_pending(out, pending)
            raise
        (out / PENDING_FILE).unlink(missing_ok=True)
