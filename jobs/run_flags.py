"""The flags every job that scores images on the cluster takes (``bench``, ``score``), and the request fields
they give (:class:`orchestrator.run.request.RunSettings`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_run_flags(parser: argparse.ArgumentParser, out_default: Path) -> None:
    """``--metric_opt``, ``--extra_metric_opts``, ``--out``, ``--batch_size``, ``--use_gpu``, ``--limit``, ``--num_workers``,
    ``--ray_address``, ``--experiment``, ``--checkpoint_every``, ``--force``, ``--dry-run``, ``--plan_cluster``,
    ``--wait_for_lock``."""
    parser.add_argument("--metric_opt", type=Path,
                        help="YAML: metric name → options (ours), or pyiqa's format (name → {metric_opts: {type: "
                             "...}, metric_mode, lower_better}), whose metrics join the run")
    parser.add_argument("--extra_metric_opts", nargs="+", metavar="KEY=VALUE", default=(),
                        help="options applied to every metric, as in pyiqa (pyiqa's option names or ours)")
    parser.add_argument("--out", type=Path, default=out_default, help=f"output directory (default: ./{out_default})")
    parser.add_argument("--batch_size", type=int, default=8, help="images per model call (default: 8)")
    parser.add_argument("--use_gpu", action="store_true", help="place metrics on GPUs as the registry declares")
    parser.add_argument("--limit", type=int, help="score only the first N images (of each dataset)")
    parser.add_argument("--num_workers", type=int, help="actors per metric (default: from the cluster's CPUs)")
    parser.add_argument("--ray_address", help="Ray cluster address (default: RAY_ADDRESS, else a local cluster)")
    parser.add_argument("--experiment", help="MLflow experiment (default: MLFLOW_EXPERIMENT_NAME, else iqabench)")
    parser.add_argument("--checkpoint_every", type=int, default=64,
                        help="commit per-image results at least every N images (default: 64)")
    parser.add_argument("--force", action="store_true", help="recompute cells that are already committed")
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                        help="validate and print the plan, its pools and predicted time; score nothing")
    parser.add_argument("--plan_cluster", nargs=2, type=float, metavar=("CPUS", "GPUS"),
                        help="with --dry-run: predict for a cluster of this size instead of this machine")
    parser.add_argument("--wait_for_lock", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for another run on the same --out to finish (default: refuse at once)")


def run_settings(args: argparse.Namespace, metrics: list[str] | None) -> dict[str, Any]:
    """The :class:`~orchestrator.run.request.RunSettings` fields the flags of :func:`add_run_flags` give."""
    return dict(
        metrics=tuple(metrics) if metrics else None,
        metric_opt=args.metric_opt,
        extra_metric_opts=tuple(args.extra_metric_opts),
        out=args.out,
        batch_size=args.batch_size,
        use_gpu=args.use_gpu,
        limit=args.limit,
        dry_run=args.dry_run,
        force=args.force,
        checkpoint_every=args.checkpoint_every,
        num_workers=args.num_workers,
        ray_address=args.ray_address,
        plan_cluster=tuple(args.plan_cluster) if args.plan_cluster else None,
        experiment=args.experiment,
        wait_for_lock=args.wait_for_lock,
    )
