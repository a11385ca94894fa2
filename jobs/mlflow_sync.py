"""``iqabench mlflow-sync --out DIR``: log to MLflow what an earlier run could not (no duplicates)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs.entry import standalone

HELP = "log a finished run's pending results to MLflow (after a tracking-server outage)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("results"), help="the run's output directory")
    parser.add_argument("--tracking_uri", help="default: MLFLOW_TRACKING_URI, else the URI the run tried")


#: Fields of ``tracking_pending.json`` and their types (what :func:`sync_pending` reads).
PENDING_FIELDS = {"invocation_id": str, "run_name": str, "cells": list}


def read_pending(path: Path) -> dict:
    """The pending file at ``path``, checked; ``ValueError`` in one line naming the file when it is unusable."""
    import json

    try:
        pending = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a pending file (not UTF-8: {exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a pending file (invalid JSON: {exc.msg} at line {exc.lineno}, column "
                         f"{exc.colno})") from exc
    if not isinstance(pending, dict):
        raise ValueError(f"{path}: not a pending file (a JSON object is expected, got {type(pending).__name__})")
    for key, kind in PENDING_FIELDS.items():
        if not isinstance(pending.get(key), kind):
            raise ValueError(f"{path}: not a pending file (field {key!r} must be a {kind.__name__}, got "
                             f"{pending.get(key)!r})"[:400])
    uri = pending.get("uri")
    if not all(isinstance(cell, str) for cell in pending["cells"]) or not (uri is None or isinstance(uri, str)):
        raise ValueError(f"{path}: not a pending file ('cells' must list cell keys, 'uri' be a string)")
    return pending


def run(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    from orchestrator.results.mlflow_store import StoreError
    from orchestrator.results.tracking import PENDING_FILE, TrackingUnavailable, sync_pending
    from orchestrator.results.tracking_store import tracking_uri

    pending = args.out / PENDING_FILE
    uri = args.tracking_uri
    if pending.is_file():
        try:
            recorded = read_pending(pending).get("uri")  # checked even when --tracking_uri is given
        except (OSError, ValueError) as exc:
            print(f"iqabench mlflow-sync: error: {exc}", file=sys.stderr)
            return 2
        uri = uri or recorded
    uri = tracking_uri(args.out, uri)
    try:
        sync_pending(args.out, uri)
    except (TrackingUnavailable, StoreError, MlflowException, SQLAlchemyError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"iqabench mlflow-sync: error: {first[:500]} (the pending file {pending} is kept)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(standalone("python -m jobs.mlflow_sync", HELP, configure, run))
