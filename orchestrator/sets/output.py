"""The distribution metrics' outputs: ``<out>/<name>_sets.csv``, one row per metric (written atomically), and one
MLflow run with each metric's value (and extra values such as ``inception_score_std``) and the CSV."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from orchestrator.results.score_tracking import log_set_run
from orchestrator.sets.score import SetScore

COLUMNS = ("metric", "value", "extra", "mode", "distance", "images", "reference_images", "reference_statistics",
           "n_failed", "failures", "weight_sha256")


def write_set_scores(path: Path, scores: list[SetScore]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for s in scores:
        writer.writerow([s.metric, repr(s.value), json.dumps(s.extra), s.mode, s.distance, s.images,
                         "" if s.reference_images is None else s.reference_images, s.reference_statistics or "",
                         len(s.failures), json.dumps(s.failures), json.dumps(s.weight_sha256)])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, path)
    return path


def log_set_scores(out: Path, csv_path: Path, scores: list[SetScore], params: dict[str, object], *,
                   experiment: str | None = None, tracking_uri: str | None = None) -> str:
    """Log ``scores`` as one MLflow run; returns the line to print (the run, or why the store could not take it:
    the scores are on disk either way)."""
    summary = {s.metric: {"value": s.value, "images": float(s.images), "n_failed": float(len(s.failures)), **s.extra}
               for s in scores}
    params = {**params, **{f"{s.metric}.mode": s.mode for s in scores},
              **{f"{s.metric}.distance": s.distance for s in scores}}
    try:
        uri, run_id = log_set_run(out, params, summary, [csv_path], explicit_uri=tracking_uri, experiment=experiment)
    except Exception as exc:  # the scores are on disk; the store's failure is reported, never raised
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"WARNING: MLflow logging failed ({type(exc).__name__}: {first}); the scores are in {csv_path}"
    return f"Logged to MLflow at {uri} (run {run_id})"
