"""``iqabench reproduce`` / ``python -m jobs.reproduce``: pyiqa's published protocol for one of its tables (FR, NR,
IAA, Face), every metric of the table we register, and a delta table against the published numbers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs.entry import standalone

HELP = "run pyiqa's published protocol for one of its tables and compare with the published numbers"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", required=True, choices=("FR", "NR", "IAA", "Face"),
                        help="FR (CSIQ, LIVE, TID2008, TID2013), NR (LIVEC, KonIQ-10k official split, TID2013, "
                             "SPAQ), IAA (AVA official split) or Face (CGFIQA official split)")
    parser.add_argument("-m", "--metric_names", nargs="+", metavar="METRIC",
                        help="only these metrics of the table (default: every one we register whose weights are here)")
    parser.add_argument("--out", type=Path, help="output directory (default: ./results/reproduce-<TABLE>)")
    parser.add_argument("--download", action="store_true", help="download missing datasets and weights first")
    parser.add_argument("--data_root", help="directory that replaces the ./datasets/ prefix of dataset paths")
    parser.add_argument("--cluster", metavar="RAY_ADDRESS",
                        help="Ray cluster address (default: RAY_ADDRESS, else a local cluster)")
    parser.add_argument("--batch_size", type=int, default=8, help="images per model call (default: 8)")
    parser.add_argument("--use_gpu", action="store_true", help="place metrics on GPUs as the registry declares")
    parser.add_argument("--bootstrap_resamples", type=int, default=1000,
                        help="bootstrap resamples for confidence intervals (default: 1000)")


def run(args: argparse.Namespace) -> int:
    from jobs.console import echo, ray_verbose
    from orchestrator.results.outlock import OutputInUseError
    from orchestrator.run.ray_session import quiet_environment

    quiet_environment(ray_verbose())
    from orchestrator.reproduce.job import ReproduceRequest, run_reproduce
    from orchestrator.run.placement import PlacementError
    from orchestrator.run.plan import PlanError

    request = ReproduceRequest(
        table=args.table, out=args.out or Path("results") / f"reproduce-{args.table}",
        metrics=tuple(args.metric_names) if args.metric_names else None, download=args.download,
        data_root=args.data_root, ray_address=args.cluster, batch_size=args.batch_size, use_gpu=args.use_gpu,
        bootstrap_resamples=args.bootstrap_resamples)
    try:
        result = run_reproduce(request, echo=echo)
    except (PlanError, PlacementError, OutputInUseError, ValueError) as exc:
        print(f"iqabench reproduce: error: {exc}", file=sys.stderr)
        return 2
    return 1 if result.benchmark.given_up else 0


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m jobs.reproduce", HELP, configure, run, argv)


if __name__ == "__main__":
    sys.exit(main())
