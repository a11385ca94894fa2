"""The training driver: validate the options, run a Ray Train ``TorchTrainer`` over N workers, save the trained
network in pyiqa's layout and log the training to MLflow.

Outputs under ``out``:

* ``checkpoints/<name>/`` — Ray Train's run folder with the periodic checkpoints (the two latest kept); ``--resume``
  continues from the latest one (Ray Train restores a run of the same name and storage path).
* ``<name>.pth`` — the trained network as ``{"params": state_dict}`` (pyiqa's layout: its architectures and our
  metrics load it), written when the training reaches ``total_iter``.
* ``<name>.metric_opt.yml`` — a ``--metric_opt`` entry naming that file (``pretrained_model_path``) for
  ``iqabench bench``.
* MLflow (``--tracking_uri``, else ``MLFLOW_TRACKING_URI``, else ``<out>/mlflow.db``): one run per training
  (found again by its ``iqabench.training`` tag when resumed) with the options as parameters, the loss and
  learning rate per iteration, the validation SRCC/PLCC/KRCC, the throughput, MLflow's system metrics of the
  driver's machine while it trains (``system/...``, every ``system_metrics_interval_s``) and the weights as an
  artifact, so that ``iqabench bench -m <metric>@<run-id>`` benchmarks them (:mod:`orchestrator.results.trained_runs`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from datasets_io.catalog import UnknownDatasetError, resolve_dataset
from metrics import custom_weights
from orchestrator.results import trained_runs
from orchestrator.results.files import write_bytes_atomic, write_text_atomic
from orchestrator.results.tracking import Tracker, dump_json, probe
from orchestrator.results.tracking_store import tracking_uri
from orchestrator.run.ray_session import logging_is_verbose, start_ray
from orchestrator.train.loop import STATE_FILE, train_loop
from orchestrator.train.options import (
    TrainOptionError,
    TrainOptions,
    load_train_options,
)

Echo = Callable[[str], None]
TRAINING_TAG = "iqabench.training"


@dataclass(frozen=True)
class TrainRequest:
    opt: Path
    out: Path = Path("results") / "train"
    num_workers: int = 1
    use_gpu: bool = False
    resume: bool = False
    stop_at: int | None = None
    amp: bool = True
    data_opt: Path | None = None
    data_root: str | None = None
    ray_address: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None
    #: Datasets the trained metric is benchmarked on when the training finishes (``--evaluate``).
    evaluate: tuple[str, ...] = ()
    #: Seconds between two samples of MLflow's system metrics (CPU, memory, disk, network, GPU) while training.
    system_metrics_interval_s: float = 10.0


@dataclass
class TrainResult:
    options: TrainOptions
    iteration: int
    history: list[dict[str, Any]]
    images_per_second: float
    seconds: float
    weights: Path | None = None
    weights_sha256: str | None = None
    metric_opt: Path | None = None
    run_id: str | None = None
    tracking_error: str | None = None
    benchmark: Any = None
    final_state: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def finished(self) -> bool:
        return self.iteration >= self.options.total_iter


def _check_request(request: TrainRequest, options: TrainOptions, run_dir: Path) -> None:
    problems = []
    if request.num_workers < 1:
        problems.append(f"--num_workers: must be >= 1, got {request.num_workers}")
    if not request.system_metrics_interval_s > 0:
        problems.append(f"--system_metrics_interval: must be > 0 seconds, got {request.system_metrics_interval_s}")
    if request.stop_at is not None and not 0 < request.stop_at <= options.total_iter:
        problems.append(f"--stop_at: must be in 1..{options.total_iter}, got {request.stop_at}")
    if request.use_gpu and not torch.cuda.is_available() and request.ray_address is None:
        problems.append("--use_gpu: no CUDA device on this machine (name a cluster with --ray_address)")
    if run_dir.exists() and not request.resume:
        problems.append(f"{run_dir}: a training named {options.name!r} already has checkpoints here; --resume "
                        "continues it, another --out or name starts afresh")
    if request.resume and not run_dir.exists():
        problems.append(f"--resume: no checkpoints of {options.name!r} under {run_dir.parent}")
    for key in request.evaluate:
        try:
            resolve_dataset(key, request.data_opt, request.data_root)
        except UnknownDatasetError as exc:
            problems.append(f"--evaluate: {exc}")
    if problems:
        raise TrainOptionError("\n".join(problems))


def save_weights(state_dict: dict[str, torch.Tensor], path: Path) -> str:
    """Write ``{"params": state_dict}`` (pyiqa's layout) atomically; returns the file's sha256.

    Serialised in memory first: ``torch.save`` names the archive inside the file after the file it writes, so
    the same weights written through a per-process temporary file would get another sha256 (another cell key).
    """
    buffer = io.BytesIO()
    torch.save({"params": {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}}, buffer)
    write_bytes_atomic(buffer.getvalue(), path)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def _fit(request: TrainRequest, options: TrainOptions, storage: Path) -> Any:
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"options": options, "stop_at": request.stop_at, "amp": request.amp},
        scaling_config=ScalingConfig(num_workers=request.num_workers, use_gpu=request.use_gpu,
                                     resources_per_worker={"CPU": 1, **({"GPU": 1} if request.use_gpu else {})}),
        run_config=RunConfig(name=options.name, storage_path=str(storage),
                             checkpoint_config=CheckpointConfig(num_to_keep=2)),
    )
    return trainer.fit()


def run_training(request: TrainRequest, echo: Echo = print) -> TrainResult:
    """Validate everything, train, save the weights, log to MLflow. Bad options raise :class:`TrainOptionError`."""
    options = load_train_options(request.opt, request.data_opt, request.data_root)
    out = Path(request.out)
    storage = (out / "checkpoints").resolve()
    _check_request(request, options, storage / options.name)
    echo(f"Training {options.metric} ({options.network}) '{options.name}': {options.total_iter} iterations, "
         f"{request.num_workers} worker(s) × batch {options.train.batch_size}, "
         f"{options.train.manifest.num_rows if options.train.manifest else 0} training images"
         + (" (resumed)" if request.resume else ""))
    began = time.perf_counter()
    cpus = max(os.cpu_count() or 1, request.num_workers + 2)
    run, tracking_error = None, None
    try:
        run = _open_run(request, options)
    except Exception as exc:  # training goes on without tracking; the result says what tracking lacks
        tracking_error = _tracking_problem(exc)
    with start_ray(request.ray_address, verbose=logging_is_verbose(), num_cpus=cpus):
        with system_metrics(run, request.system_metrics_interval_s):
            result = _fit(request, options, storage)
        if result.error is not None:
            raise RuntimeError(f"training '{options.name}' failed: {result.error}")
        trained = _finish(result, options, out, began, echo)
        if run is not None:
            try:
                _log(trained, run, echo)
            except Exception as exc:  # the weights and checkpoints are on disk; say what tracking lacks
                tracking_error = _tracking_problem(exc)
        if tracking_error is not None:
            trained.tracking_error = tracking_error
            echo(f"WARNING: MLflow logging failed ({tracking_error}); the checkpoints are under {request.out}")
        if trained.finished and request.evaluate:
            trained.benchmark = _evaluate(trained, request, echo)
    return trained


def _finish(result: Any, options: TrainOptions, out: Path, began: float, echo: Echo) -> TrainResult:
    """The final state of a training session; the trained weights and their ``--metric_opt`` once it is done."""
    with result.checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
    trained = TrainResult(options, state["iteration"], state["history"],
                          float(result.metrics.get("images_per_second", float("nan"))),
                          time.perf_counter() - began, final_state=state)
    if trained.finished:
        trained.weights = out / f"{options.name}.pth"
        trained.weights_sha256 = save_weights(state["model"], trained.weights)
        trained.metric_opt = out / f"{options.name}.metric_opt.yml"
        write_text_atomic(yaml.safe_dump({options.metric: {custom_weights.OPTION: str(trained.weights.resolve())}}),
                          trained.metric_opt)
        echo(f"Trained weights: {trained.weights} (sha256 {trained.weights_sha256[:12]}…); score them with "
             f"`iqabench bench -m {options.metric} --metric_opt {trained.metric_opt}`")
    else:
        echo(f"Stopped at iteration {trained.iteration} of {options.total_iter}; --resume continues")
    return trained


def _evaluate(trained: TrainResult, request: TrainRequest, echo: Echo) -> Any:
    """``iqabench bench`` of the trained metric on ``request.evaluate`` (``<out>/bench``), its MLflow runs tagged
    with the training's run."""
    from orchestrator.run.benchmark import run_benchmark
    from orchestrator.run.request import BenchmarkRequest

    echo(f"Benchmarking the trained {trained.options.metric} on {', '.join(request.evaluate)}")
    return run_benchmark(BenchmarkRequest(
        metrics=(trained.options.metric,), datasets=request.evaluate, metric_opt=trained.metric_opt,
        data_opt=request.data_opt, data_root=request.data_root, out=Path(request.out) / "bench",
        ray_address=request.ray_address, tracking_uri=request.tracking_uri or tracking_uri(Path(request.out)),
        experiment=request.experiment, use_gpu=request.use_gpu,
        extra_tags={"iqabench.training_run": trained.run_id or "", "iqabench.training": trained.options.name},
    ), echo)


@dataclass(frozen=True)
class TrainingRun:
    """The MLflow run of a training, opened before its session trains."""

    client: Any
    run_id: str
    uri: str
    #: The last iteration an earlier session logged (a resumed training logs what follows).
    logged: int


def _tracking_problem(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _open_run(request: TrainRequest, options: TrainOptions) -> TrainingRun:
    """One MLflow run per training: created on its first session, found again by tag by the next ones."""
    from mlflow.entities import Param

    uri = tracking_uri(Path(request.out), request.tracking_uri)
    identity = f"{Path(request.out).resolve()}::{options.name}"
    probe(uri)
    tracker = Tracker(uri, Path(request.out), request.experiment)
    client = tracker.client
    found = client.search_runs([tracker.experiment_id],
                               filter_string=f"tags.`{TRAINING_TAG}` = '{identity}'", max_results=1,
                               order_by=["attributes.start_time ASC"])  # the first session's, should two exist
    if found:
        run_id = found[0].info.run_id
        return TrainingRun(client, run_id, uri, max((m.step for m in client.get_metric_history(run_id, "loss")),
                                                    default=0))
    run = client.create_run(tracker.experiment_id, run_name=f"train {options.name}",
                            tags={**tracker.source_tags, trained_runs.ROLE_TAG: trained_runs.TRAINING_ROLE,
                                  TRAINING_TAG: identity, trained_runs.METRIC_TAG: options.metric})
    client.log_batch(run.info.run_id, params=[Param(k, dump_json(v) if isinstance(v, (dict, list)) else str(v))
                                              for k, v in options.params().items()]
                     + [Param("num_workers", str(request.num_workers))])
    client.log_dict(run.info.run_id, options.document, "options.json")
    return TrainingRun(client, run.info.run_id, uri, 0)


@contextlib.contextmanager
def system_metrics(run: TrainingRun | None, interval_s: float) -> Iterator[None]:
    """MLflow's system metrics (``system/cpu_utilization_percentage``, memory, disk, network, GPUs) of the
    driver's machine, sampled every ``interval_s`` seconds into ``run`` while the block runs (steps continue
    those of an earlier session)."""
    if run is None:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(run.run_id, sampling_interval=interval_s, resume_logging=True,
                                   tracking_uri=run.uri)
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()


def _log(trained: TrainResult, run: TrainingRun, echo: Echo) -> None:
    """The session's losses, validations and throughput; the weights and their sha256 once the training is done."""
    from mlflow.entities import Metric

    client, run_id = run.client, run.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(key, float(value), now, record["iteration"]) for record in trained.history
               if record["iteration"] > run.logged for key, value in record.items()
               if key not in ("iteration", "finetune")]
    for chunk in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[chunk:chunk + 900])
    client.log_metric(run_id, "images_per_second", trained.images_per_second, step=trained.iteration)
    if trained.finished and trained.weights is not None:
        client.log_artifact(run_id, str(trained.weights), artifact_path=trained_runs.ARTIFACT_DIR)
        client.set_tag(run_id, trained_runs.SHA256_TAG, trained.weights_sha256 or "")
        client.set_terminated(run_id)
    trained.run_id = run_id
    echo(f"MLflow run {run_id} at {run.uri}")
