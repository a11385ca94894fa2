"""MLflow: one parent run per invocation (plan, versions), one child run per cell. Only the driver writes."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

EXPERIMENT = "iqabench"
#: Summary columns logged as MLflow metrics of each child run.
CELL_METRICS = ("plcc", "srcc", "krcc", "n", "n_failed", "seconds_per_image", "images_per_second")
PACKAGES = ("iqabench", "torch", "torchvision", "ray", "mlflow", "numpy", "scipy", "pandas", "pyarrow")


def tracking_uri(out: Path, explicit: str | None = None) -> str:
    """``explicit``, else ``MLFLOW_TRACKING_URI``, else a SQLite store ``<out>/mlflow.db``."""
    if explicit:
        return explicit
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(Path(out) / 'mlflow.db').resolve()}"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({type(exc).__name__})"
    return result.stdout.strip() if result.returncode == 0 else "unknown (not a git checkout)"


class Tracker:
    """Thin wrapper over the MLflow client API used by the driver."""

    def __init__(self, uri: str, out: Path) -> None:
        import mlflow

        self._mlflow = mlflow
        self.uri = uri
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            location = None
            if uri.startswith("sqlite:") or uri.startswith("file:"):
                location = (Path(out) / "mlartifacts").resolve().as_uri()
            experiment_id = mlflow.create_experiment(EXPERIMENT, artifact_location=location)
        else:
            experiment_id = experiment.experiment_id
        self.experiment_id = experiment_id

    @contextmanager
    def parent_run(self, name: str, plan: dict[str, Any], tags: dict[str, str]) -> Iterator[str]:
        mlflow = self._mlflow
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=name) as run:
            mlflow.set_tags({"iqabench.role": "parent", "git_commit": git_commit(), **tags})
            mlflow.set_tags({f"version.{k}": v for k, v in versions().items()})
            mlflow.log_params(
                {
                    "datasets": ",".join(d["dataset"] for d in plan["datasets"]),
                    "metrics": ",".join(sorted({m["metric"] for d in plan["datasets"] for m in d["metrics"]})),
                    "batch_size": plan["batch_size"],
                    "use_gpu": plan["use_gpu"],
                    "limit": plan["limit"],
                }
            )
            mlflow.log_dict(plan, "plan.json")
            yield run.info.run_id

    def log_cell(self, row: dict[str, Any], parquet: Path) -> str:
        mlflow = self._mlflow
        with mlflow.start_run(
            experiment_id=self.experiment_id, run_name=f"{row['metric']}@{row['dataset']}", nested=True
        ) as run:
            mlflow.set_tags({"iqabench.role": "cell", "cell_key": row["cell_key"]})
            mlflow.log_params(
                {
                    "metric": row["metric"],
                    "dataset": row["dataset"],
                    "split": row["split"],
                    "options": row["options"],
                    "mode": row["mode"],
                }
            )
            values = {k: float(row[k]) for k in CELL_METRICS if row[k] is not None and not _is_nan(row[k])}
            mlflow.log_metrics(values)
            if row.get("failure_reasons"):
                mlflow.set_tag("failure_reasons", row["failure_reasons"][:5000])
            mlflow.log_artifact(str(parquet), artifact_path="scores")
            return run.info.run_id


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
