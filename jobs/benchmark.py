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
from jobs.run_flags import add_run_flags, run_settings

HELP = "run a metric × dataset benchmark on Ray and log it to MLflow"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--metric_names", nargs="+", metavar="METRIC",
                        help="metrics to score (default: every registered metric that applies)")
    parser.add_argument("-d", "--dataset_names", nargs="+", metavar="DATASET",
                        help="datasets (default: every entry of --data_opt, as in pyiqa; without it the embedded demo)")
    parser.add_argument("--data_opt", type=Path, help="pyiqa dataset option YAML overriding the built-in entries")
    parser.add_argument("--split_file", type=Path, help="a pyiqa split pickle used for every dataset (as pyiqa)")
    parser.add_argument("--test_phase", choices=("train", "val", "test"),
                        help="with --split_file: the phase scored (default: the dataset's, else test)")
    parser.add_argument("--data_root", help="directory that replaces the ./datasets/ prefix of dataset paths")
    parser.add_argument("--save_result_path", type=Path, help="where to write the pyiqa-format results CSV")
    parser.add_argument("--update_benchmark", type=Path, metavar="CSV",
                        help="write the results into this existing pyiqa results CSV, sorted as pyiqa sorts it")
    parser.add_argument("--bootstrap_resamples", type=int, default=1000,
                        help="bootstrap resamples for confidence intervals and significance (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    parser.add_argument("--download", action="store_true", help="download missing datasets first")
    add_run_flags(parser, out_default=Path("results"))


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
            **run_settings(args, args.metric_names),
            datasets=tuple(args.dataset_names or (() if args.data_opt else ("demo",))),
            data_opt=args.data_opt,
            split_file=args.split_file,
            test_phase=args.test_phase,
            update_benchmark=args.update_benchmark,
            data_root=args.data_root,
            save_result_path=args.save_result_path,
            download=args.download,
            bootstrap_resamples=args.bootstrap_resamples,
            seed=args.seed,
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
