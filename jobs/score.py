"""``iqabench score`` / ``python -m jobs.score``: score images that have no opinion scores, as pyiqa's
``pyiqa METRIC... -t TARGET [-r REF]`` does, on Ray with the benchmark's pools, cache and resume.

``-t`` takes an image, a folder, a glob or a CSV of paths; ``-r`` a reference image or a folder of references
matched by file name. Writes ``<out>/<name>.csv`` and ``<out>/<name>.parquet`` (one row per image, one column
per metric) and logs an MLflow run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs.entry import standalone
from jobs.run_flags import add_run_flags, run_settings

HELP = "score images without opinion scores (a file, folder, glob or CSV; FR against references) on Ray"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metric", nargs="*", help="metric name(s), as pyiqa's command takes them (or -m)")
    parser.add_argument("-m", "--metric_names", nargs="+", metavar="METRIC", default=[], help="metric name(s)")
    parser.add_argument("-t", "--target", required=True,
                        help="an image, a folder of images, a glob ('imgs/**/*.png') or a CSV of paths")
    parser.add_argument("-r", "--ref", help="a reference image, or a folder of references matched by file name")
    parser.add_argument("--name", default="images",
                        help="the image set's name: the output files <out>/<name>.csv|.parquet (default: images)")
    add_run_flags(parser, out_default=Path("results/score"))


def run(args: argparse.Namespace) -> int:
    from jobs.console import echo, ray_verbose
    from orchestrator.results.outlock import OutputInUseError
    from orchestrator.run.ray_session import quiet_environment

    quiet_environment(ray_verbose())
    from orchestrator.run.placement import PlacementError
    from orchestrator.run.plan import PlanError
    from orchestrator.run.request import ScoreRequest
    from orchestrator.run.score import run_score

    try:
        names = list(dict.fromkeys([*args.metric, *args.metric_names]))
        request = ScoreRequest(**run_settings(args, names), target=args.target, ref=args.ref, name=args.name)
        result = run_score(request, echo=echo)
    except (PlanError, PlacementError, OutputInUseError, ValueError) as exc:
        print(f"iqabench score: error: {exc}", file=sys.stderr)
        return 2
    return 1 if result.given_up else 0


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m jobs.score", HELP, configure, run, argv)


if __name__ == "__main__":
    sys.exit(main())
