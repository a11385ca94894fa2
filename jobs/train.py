"""``iqabench train`` / ``python -m jobs.train``: retrain a deep metric on Ray Train from a training option file
(pyiqa's ``options/train/*.yml`` unchanged, or the concise form of :mod:`orchestrator.train.options`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs.entry import standalone

HELP = "retrain a deep metric on Ray Train from a pyiqa training option file (checkpoints, resume, MLflow)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--opt", type=Path, required=True, help="training option YAML (pyiqa's or the concise form)")
    parser.add_argument("--out", type=Path, default=Path("results") / "train",
                        help="output directory: checkpoints, trained weights, mlflow.db (default: ./results/train)")
    parser.add_argument("--num_workers", type=int, default=1, help="Ray Train workers, data-parallel (default: 1)")
    parser.add_argument("--use_gpu", action="store_true", help="one GPU per worker")
    parser.add_argument("--no_amp", action="store_true", help="no mixed precision on GPU (default: float16 autocast)")
    parser.add_argument("--resume", action="store_true", help="continue the training from its latest checkpoint")
    parser.add_argument("--stop_at", type=int, metavar="ITER",
                        help="stop after iteration ITER with a checkpoint (continue later with --resume)")
    parser.add_argument("--evaluate", nargs="+", metavar="DATASET", default=[],
                        help="benchmark the trained metric on these datasets when the training finishes (<out>/bench)")
    parser.add_argument("--system_metrics_interval", type=float, default=10.0, metavar="SECONDS",
                        help="seconds between MLflow system-metric samples (CPU, memory, GPU) while training "
                             "(default: 10)")
    parser.add_argument("--data_opt", type=Path, help="pyiqa dataset options for dataset keys of the concise form")
    parser.add_argument("--data_root", help="replaces the ./datasets/ prefix of dataset paths")
    parser.add_argument("--ray_address", help="Ray cluster address (default: RAY_ADDRESS, else a local cluster)")
    parser.add_argument("--tracking_uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else <out>/mlflow.db)")
    parser.add_argument("--experiment", help="MLflow experiment (default: MLFLOW_EXPERIMENT_NAME, else iqabench)")


def run(args: argparse.Namespace) -> int:
    from jobs.console import echo
    from orchestrator.train.job import TrainRequest, run_training
    from orchestrator.train.options import TrainOptionError

    request = TrainRequest(
        opt=args.opt, out=args.out, num_workers=args.num_workers, use_gpu=args.use_gpu, resume=args.resume,
        stop_at=args.stop_at, amp=not args.no_amp, data_opt=args.data_opt, data_root=args.data_root,
        ray_address=args.ray_address, tracking_uri=args.tracking_uri, experiment=args.experiment,
        evaluate=tuple(args.evaluate), system_metrics_interval_s=args.system_metrics_interval,
    )
    try:
        result = run_training(request, echo=echo)
    except TrainOptionError as exc:
        print(f"iqabench train: error: {exc}", file=sys.stderr)
        return 2
    echo(f"Iteration {result.iteration}/{result.options.total_iter}, {result.images_per_second:.1f} images/s")
    return 1 if result.benchmark is not None and result.benchmark.given_up else 0


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m jobs.train", HELP, configure, run, argv)


if __name__ == "__main__":
    sys.exit(main())
