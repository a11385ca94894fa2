"""MLflow logging of an efficiency run: one run per invocation, written by the driver only.

The run (tag ``iqabench.role = efficiency``) holds, per device column, ``<metric>/<column>/seconds_per_image``,
``.../best_images_per_second``, ``.../peak_gpu_gb`` and ``.../peak_host_mb`` as metrics, the conditions as
parameters, and the CSV, the measurement JSON files and ``resources.json`` as artifacts. A tracking server
that cannot be reached costs nothing on disk: the failure is reported and kept in the result.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

from orchestrator.results.tracking import Tracker, git_commit, probe, versions
from orchestrator.results.tracking_store import tracking_uri

from orchestrator.efficiency.request import EfficiencyResult

GB = 1024**3
MB = 1024**2


def metric_values(row: dict[str, Any], column: str) -> dict[str, float]:
    """The MLflow metrics of one measurement (absent or non-finite values are left out)."""
    values = {
        "seconds_per_image": row.get("median_seconds"),
        "seconds_q25": row.get("q25_seconds"),
        "seconds_q75": row.get("q75_seconds"),
        "best_images_per_second": row.get("best_images_per_second"),
        "best_batch_size": row.get("best_batch_size"),
        "peak_gpu_gb": row["gpu_peak_bytes_batch1"] / GB if row.get("gpu_peak_bytes_batch1") is not None else None,
        "peak_host_mb": row["host_peak_bytes"] / MB if row.get("host_peak_bytes") else None,
    }
    return {f"{row['metric']}/{column}/{k}": float(v) for k, v in values.items()
            if v is not None and math.isfinite(float(v))}


def log_efficiency(result: EfficiencyResult, columns: dict[str, dict[str, Any]], uri: str | None,
                   echo: Callable[[str], None]) -> None:
    uri = tracking_uri(result.out, uri)
    echo(f"Logging to MLflow at {uri}")
    try:
        probe(uri)
        tracker = Tracker(uri, result.out)
        client = tracker.client
        run = client.create_run(
            tracker.experiment_id,
            run_name=f"efficiency {','.join(columns)} {time.strftime('%Y-%m-%d %H:%M:%S')}",
            tags={**tracker.source_tags, "iqabench.role": "efficiency", "git_commit": git_commit(),
                  **{f"version.{k}": v for k, v in versions().items()}},
        )
        run_id = run.info.run_id
        for column, conditions in columns.items():
            for key in ("device_name", "image_size", "warmup", "repeats", "cpus", "host"):
                client.log_param(run_id, f"{column}.{key}", str(conditions[key]))
        now = int(time.time() * 1000)
        for column, rows in result.measurements.items():
            for row in rows:
                if row.get("error"):
                    continue
                for key, value in metric_values(row, column).items():
                    client.log_metric(run_id, key, value, timestamp=now)
        for path in [result.csv, result.out / "resources.json",
                     *(result.out / f"measurements_{c}.json" for c in columns)]:
            if Path(path).is_file():
                client.log_artifact(run_id, str(path))
        client.set_terminated(run_id, status="FINISHED" if not result.failed else "FAILED")
        result.run_id = run_id
    except Exception as exc:  # the results are on disk; say what tracking lacks
        result.tracking_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        echo(f"WARNING: MLflow logging failed ({result.tracking_error}); the results are on disk under {result.out}")
