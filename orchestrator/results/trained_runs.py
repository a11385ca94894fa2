"""Trained models as metrics: ``<metric>@<mlflow-run-id>`` names the weights that a training run
(``iqabench train``) logged to MLflow.

A training run carries the tags :data:`ROLE_TAG` = :data:`TRAINING_ROLE`, :data:`METRIC_TAG` (the metric it
trained) and, once finished, :data:`SHA256_TAG` (the sha256 of its weight file, logged under the artifact folder
:data:`ARTIFACT_DIR`). :func:`resolve` finds the run in a tracking store, checks that it trained the named
metric, downloads the weight file and checks its sha256 against the tag; the benchmark then builds the metric
with that file as ``pretrained_model_path``, so the file's sha256 is in the cell key. Every failure is one line
of :class:`TrainedRunError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metrics.custom_weights import sha256_of

SEPARATOR = "@"
ROLE_TAG = "iqabench.role"
TRAINING_ROLE = "training"
METRIC_TAG = "metric"
SHA256_TAG = "weights_sha256"
ARTIFACT_DIR = "model"


class TrainedRunError(ValueError):
    """A ``<metric>@<run-id>`` name that cannot be resolved; the message is one line."""


@dataclass(frozen=True)
class TrainedWeights:
    name: str  # <metric>@<run-id>
    metric: str
    run_id: str
    path: Path
    sha256: str


def split_name(name: str) -> tuple[str, str] | None:
    """(metric, run id) of a ``<metric>@<run-id>`` name, or None for a plain metric name."""
    if SEPARATOR not in name:
        return None
    metric, run_id = name.split(SEPARATOR, 1)
    return metric, run_id


def resolve(name: str, uri: str, folder: Path) -> TrainedWeights:
    """Find the training run ``name`` names in the tracking store ``uri`` and download its weight file under
    ``folder/<run-id>/``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    parts = split_name(name)
    if parts is None or not all(parts):
        raise TrainedRunError(f"{name!r}: a trained model is named <metric>{SEPARATOR}<mlflow-run-id>")
    metric, run_id = parts
    client = MlflowClient(tracking_uri=uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise TrainedRunError(f"{name}: no MLflow run {run_id!r} in {uri}") from exc
    tags = run.data.tags
    if tags.get(ROLE_TAG) != TRAINING_ROLE:
        raise TrainedRunError(f"{name}: MLflow run {run_id} is not a training run (iqabench train)")
    trained = tags.get(METRIC_TAG)
    if trained != metric:
        raise TrainedRunError(f"{name}: MLflow run {run_id} trained {trained!r}, not {metric!r} "
                              f"(name it {trained}{SEPARATOR}{run_id})")
    expected = tags.get(SHA256_TAG)
    files = [a.path for a in client.list_artifacts(run_id, ARTIFACT_DIR) if not a.is_dir]
    if not expected or len(files) != 1:
        raise TrainedRunError(f"{name}: MLflow run {run_id} has no trained weights (its training has not finished)")
    target = folder / run_id
    target.mkdir(parents=True, exist_ok=True)
    path = Path(client.download_artifacts(run_id, files[0], str(target)))
    found = sha256_of(path)
    if found != expected:
        raise TrainedRunError(f"{name}: the weight file of MLflow run {run_id} has sha256 {found[:12]}…, its run "
                              f"recorded {expected[:12]}…")
    return TrainedWeights(name, metric, run_id, path, found)
