"""MLflow for ``iqabench score``: one run per invocation, with the image set as its dataset input, the options as
parameters, per metric the images scored and failed and the mean score, and the per-image CSV and Parquet as
artifacts. The store, experiment and source tags are :class:`~orchestrator.results.tracking.Tracker`'s; a store
that cannot be reached costs no result (the tables are on disk; the caller reports the error)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from orchestrator.results.provenance import git_commit, versions
from orchestrator.results.tracking import Tracker, dataset_inputs, probe
from orchestrator.results.tracking_store import tracking_uri


def log_score_run(out: Path, plan: dict[str, Any], params: dict[str, Any], summary: dict[str, dict[str, float]],
                  artifacts: list[Path], *, explicit_uri: str | None = None, experiment: str | None = None,
                  invocation_id: str = "", tags: dict[str, str] | None = None,
                  roots: dict[str, str] | None = None) -> tuple[str, str]:
    """Log one finished scoring run (``roots``: each image set's folder, its dataset input's source); returns
    (tracking URI, run id). Raises what the store raises."""
    name = ",".join(d["dataset"] for d in plan["datasets"])
    uri, tracker, run_id = _start_run(out, f"score {name}", "score", params, summary, explicit_uri=explicit_uri,
                                      experiment=experiment, invocation_id=invocation_id, tags=tags)
    tracker.client.log_dict(run_id, plan, "plan.json")
    tracker.client.log_inputs(run_id, datasets=list(dataset_inputs(plan, roots).values()))
    _finish_run(tracker, run_id, artifacts)
    return uri, run_id


def log_set_run(out: Path, params: dict[str, Any], summary: dict[str, dict[str, float]], artifacts: list[Path], *,
                explicit_uri: str | None = None, experiment: str | None = None, invocation_id: str = "",
                tags: dict[str, str] | None = None) -> tuple[str, str]:
    """Log one finished run of the distribution metrics (a score per image set: ``summary`` metric → values);
    returns (tracking URI, run id). Raises what the store raises."""
    uri, tracker, run_id = _start_run(out, "score sets", "score-sets", params, summary, explicit_uri=explicit_uri,
                                      experiment=experiment, invocation_id=invocation_id, tags=tags)
    _finish_run(tracker, run_id, artifacts)
    return uri, run_id


def _start_run(out: Path, name: str, role: str, params: dict[str, Any], summary: dict[str, dict[str, float]], *,
               explicit_uri: str | None, experiment: str | None, invocation_id: str,
               tags: dict[str, str] | None) -> tuple[str, Tracker, str]:
    """A new run named ``name`` with the source tags, ``params`` and the ``summary`` values (metric/key)."""
    from mlflow.entities import Metric, Param

    uri = tracking_uri(out, explicit_uri)
    probe(uri)
    tracker = Tracker(uri, out, experiment)
    run = tracker.client.create_run(
        tracker.experiment_id, run_name=f"{name} {time.strftime('%Y-%m-%d %H:%M:%S')}",
        tags={**tracker.source_tags, "iqabench.role": role, "iqabench.invocation": invocation_id,
              "git_commit": git_commit(), **{f"version.{k}": v for k, v in versions().items()}, **(tags or {})},
    )
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(f"{metric}/{key}", value, now, 0) for metric, values in summary.items()
               for key, value in values.items() if not math.isnan(value)]  # NaN (nothing scored) is not logged
    tracker.client.log_batch(run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()])
    return uri, tracker, run_id


def _finish_run(tracker: Tracker, run_id: str, artifacts: list[Path]) -> None:
    for path in artifacts:
        tracker.client.log_artifact(run_id, str(path))
    tracker.client.set_terminated(run_id)
