"""``iqabench <sub-command>``: argument parsing only; each sub-command lives in its own ``jobs`` module.

A job module provides ``HELP`` (one line), ``configure(parser)`` (its arguments) and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from jobs.console import add_verbosity_flags
from jobs.entry import run_job

#: sub-command name → module under ``jobs``.
SUBCOMMANDS: dict[str, str] = {
    "bench": "benchmark",
    "score": "score",
    "metrics": "list_metrics",
    "calibrate": "calibrate",
    "datasets": "datasets",
    "report": "report",
    "mlflow-sync": "mlflow_sync",
    "weights": "weights",
    "efficiency": "efficiency",
    "reproduce": "reproduce",
    "train": "train",
}


def _version() -> str:
    """The installed distribution's version (``importlib.metadata``); a bare checkout says so."""
    from importlib import metadata

    try:
        return metadata.version("iqabench")
    except metadata.PackageNotFoundError:
        return "(not installed: run from a source checkout)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iqabench", description="Distributed IQA metric benchmark (Ray Data + MLflow)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    add_verbosity_flags(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(f"jobs.{module_name}")
        job_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        add_verbosity_flags(job_parser, top_level=False)
        module.configure(job_parser)
        job_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_job(f"iqabench {args.command}", args._run, args)


if __name__ == "__main__":
    sys.exit(main())
