"""``iqabench bench`` / ``python -m jobs.benchmark``: score metrics × datasets and compare with human opinion.

Flags follow pyiqa's ``benchmark_results.py``: ``-m/--metric_names``, ``-d/--dataset_names``, ``--metric_opt``,
``--extra_metric_opts``, ``--data_opt``, ``--split_file``, ``--test_phase``, ``--save_result_path``,
``--update_benchmark``, ``--batch_size``, ``--use_gpu``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs.entry import standalone

HELP = "run a metric × dataset benchmark on Ray and log it to MLflow"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--metric_names", nargs="+", metavar="METRIC",
                        help="metrics to score (default: every registered metric that applies)")
    parser.add_argument("-d", "--dataset_names", nargs="+", metavar="DATASET",
                        help="datasets (default: every entry of --data_opt, as in pyiqa; without it the embedded demo)")
    parser.add_argument("--metric_opt", type=Path,
                        help="YAML: metric name → options (ours), or pyiqa's format (name → {metric_opts: {type: "
                             "...}, metric_mode, lower_better}), whose metrics join the run")
    parser.add_argument("--extra_metric_opts", nargs="+", metavar="KEY=VALUE", default=(),
                        help="options applied to every metric, as in pyiqa (pyiqa's option names or ours)")
    parser.add_argument("--data_opt", type=Path, help="pyiqa dataset option YAML overriding the built-in entries")
    parser.add_argument("--split_file", type=Path, help="a pyiqa split pickle used for every dataset (as pyiqa)")
    parser.add_argument("--test_phase", choices=("train", "val", "test"),
                        help="with --split_file: the phase scored (default: the dataset's, else test)")
    parser.add_argument("--data_root", help="directory that replaces the ./datasets/ prefix of dataset paths")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output directory (default: ./results)")
    parser.add_argument("--save_result_path", type=Path, help="where to write the pyiqa-format results CSV")
    parser.add_argument("--update_benchmark", type=Path, metavar="CSV",
                        help="write the results into this existing pyiqa results CSV, sorted as pyiqa sorts it")
    parser.add_argument("--batch_size", type=int, default=8, help="images per model call (default: 8)")
    parser.add_argument("--use_gpu", action="store_true", help="place metrics on GPUs as the registry declares")
    parser.add_argument("--limit", type=int, help="score only the first N images of each dataset")
    parser.add_argument("--num_workers", type=int, help="actors per metric (default: from the cluster's CPUs)")
    parser.add_argument("--ray_address", help="Ray cluster address (default: RAY_ADDRESS, else a local cluster)")
    parser.add_argument("--experiment", help="MLflow experiment (default: MLFLOW_EXPERIMENT_NAME, else iqabench)")
    parser.add_argument("--checkpoint_every", type=int, default=64,
                        help="commit per-image results at least every N images (default: 64)")
    parser.add_argument("--bootstrap_resamples", type=int, default=1000,
                        help="bootstrap resamples for confidence intervals and significance (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    parser.add_argument("--force", action="store_true", help="recompute cells that are already committed")
    parser.add_argument("--download", action="store_true", help="download missing datasets first")
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                        help="validate and print the plan, its pools and predicted time; score nothing")
    parser.add_argument("--plan_cluster", nargs=2, type=float, metavar=("CPUS", "GPUS"),
                        help="with --dry-run: predict for a cluster of this size instead of this machine")
    parser.add_argument("--wait_for_lock", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for another run on the same --out to finish (default: refuse at once)")


def run(args: argparse.Namespace) -> int:
    from jobs.console import echo, ray_verbose
    from orchestrator.results.outlock import OutputInUseError
    from orchestrator.run.ray_session import quiet_environment

    quiet_environment(ray_verbose())  # before the driver imports Ray Data: no progress bars unless -v
    from orchestrator.run.benchmark import run_benchmark
    from orchestrator.run.placement import PlacementError
    from orchestrator.run.plan import PlanError
    from orchestrator.run.request import BenchmarkRequest

    try:
        request = BenchmarkRequest(
            metrics=tuple(args.metric_names) if args.metric_names else None,
            datasets=tuple(args.dataset_names or (() if args.data_opt else ("demo",))),
            metric_opt=args.metric_opt,
            extra_metric_opts=tuple(args.extra_metric_opts),
            data_opt=args.data_opt,
            split_file=args.split_file,
            test_phase=args.test_phase,
            update_benchmark=args.update_benchmark,
            data_root=args.data_root,
            out=args.out,
            save_result_path=args.save_result_path,
            batch_size=args.batch_size,
            use_gpu=args.use_gpu,
            limit=args.limit,
            dry_run=args.dry_run,
            download=args.download,
            force=args.force,
            checkpoint_every=args.checkpoint_every,
            bootstrap_resamples=args.bootstrap_resamples,
            seed=args.seed,
            num_workers=args.num_workers,
            ray_address=args.ray_address,
            plan_cluster=tuple(args.plan_cluster) if args.plan_cluster else None,
            experiment=args.experiment,
            wait_for_lock=args.wait_for_lock,
        )
        result = run_benchmark(request, echo=echo)
    except (PlanError, PlacementError, OutputInUseError, ValueError) as exc:
        print(f"iqabench bench: error: {exc}", file=sys.stderr)
        return 2
    return 1 if result.given_up else 0


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m jobs.benchmark", HELP, configure, run, argv)


if __name__ == "__main__":
    sys.exit(main())
