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


def run(args: argparse.Namespace) -> int:
    import json

    from orchestrator.results.tracking import PENDING_FILE, TrackingUnavailable, sync_pending, tracking_uri

    pending = args.out / PENDING_FILE
    uri = args.tracking_uri
    if uri is None and pending.is_file():
        uri = json.loads(pending.read_text(encoding="utf-8")).get("uri")
    uri = tracking_uri(args.out, uri)
    try:
        sync_pending(args.out, uri)
    except (TrackingUnavailable, OSError, ValueError) as exc:
        print(f"iqabench mlflow-sync: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(standalone("python -m jobs.mlflow_sync", HELP, configure, run))
