"""Which MLflow tracking store a run writes to (kept apart from :mod:`orchestrator.results.tracking` so that the
planner can read training runs without importing the tracking of benchmark runs)."""

from __future__ import annotations

import os
from pathlib import Path


def tracking_uri(out: Path, explicit: str | None = None) -> str:
    """``explicit``, else ``MLFLOW_TRACKING_URI``, else a SQLite store ``<out>/mlflow.db``."""
    if explicit:
        return explicit
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(Path(out) / 'mlflow.db').resolve()}"
