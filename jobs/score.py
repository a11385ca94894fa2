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
from metrics.distribution.specs import (
    DISTANCES,
    KERNELS,
    RESIZE_MODES,
    is_distribution_metric,
)

HELP = "score images without opinion scores (a file, folder, glob or CSV; FR against references) on Ray"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metric", nargs="*", help="metric name(s), as pyiqa's command takes them (or -m)")
    parser.add_argument("-m", "--metric_names", nargs="+", metavar="METRIC", default=[], help="metric name(s)")
    parser.add_argument("-t", "--target", required=True,
                        help="an image, a folder of images, a glob ('imgs/**/*.png') or a CSV of paths")
    parser.add_argument("-r", "--ref", help="a reference image, or a folder of references matched by file name")
    parser.add_argument("--name", default="images",
                        help="the image set's name: the output files <out>/<name>.csv|.parquet (default: images)")
    sets = parser.add_argument_group(
        "distribution metrics (fid, sfid, fid_dinov2, inception_score: a score of the set -t, against the set -r "
        "or --dataset_stats; written to <out>/<name>_sets.csv)")
    sets.add_argument("--dataset_stats", metavar="NAME_OR_NPZ",
                      help="reference statistics instead of -r: a clean-fid dataset name or an .npz (mu, sigma)")
    sets.add_argument("--dataset_res", default="1024", help="the statistics' resolution (default: 1024)")
    sets.add_argument("--dataset_split", default="train", help="the statistics' split (default: train)")
    sets.add_argument("--mode", choices=RESIZE_MODES, help="resize mode (default: the metric's, as pyiqa's)")
    sets.add_argument("--distance", choices=DISTANCES, default="frechet", help="frechet (default) or mmd")
    sets.add_argument("--kernel", choices=KERNELS, default="polynomial", help="mmd kernel: polynomial (KID) or rbf")
    sets.add_argument("--splits", type=int, default=10, help="Inception Score splits (default: 10)")
    sets.add_argument("--seed", type=int, help="seed of KID's random subsets (default: NumPy's global generator)")
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

    names = list(dict.fromkeys([*args.metric, *args.metric_names]))
    set_metrics = [name for name in names if is_distribution_metric(name)]
    names = [name for name in names if name not in set_metrics]
    if set_metrics:
        code = _score_sets(args, set_metrics, echo)
        if code or not names:
            return code
    try:
        request = ScoreRequest(**run_settings(args, names), target=args.target, ref=args.ref, name=args.name)
        result = run_score(request, echo=echo)
    except (PlanError, PlacementError, OutputInUseError, ValueError) as exc:
        print(f"iqabench score: error: {exc}", file=sys.stderr)
        return 2
    return 1 if result.given_up else 0


def _score_sets(args: argparse.Namespace, names: list[str], echo) -> int:
    """The distribution metrics: features on ``--num_workers`` Ray actors (default 2; 0: in this process)."""
    from metrics.distribution.specs import get_distribution_spec
    from orchestrator.results.outlock import OutputInUseError, output_lock
    from orchestrator.sets.output import log_set_scores, write_set_scores
    from orchestrator.sets.score import score_sets

    results = []
    try:
        # Computed first (nothing is written before every set is scored, so a refusal leaves --out as it was),
        # then written under the folder's lock.
        for name in names:
            spec = get_distribution_spec(name)
            two_sets = spec.reduction == "distance"
            result = score_sets(
                name, args.target, args.ref if two_sets else None,
                dataset_stats=args.dataset_stats if two_sets else None, dataset_split=args.dataset_split,
                dataset_res=args.dataset_res, mode=args.mode, distance=args.distance, kernel=args.kernel,
                splits=args.splits, seed=args.seed, batch_size=args.batch_size,
                num_actors=2 if args.num_workers is None else args.num_workers, ray_address=args.ray_address,
                device="cuda" if args.use_gpu else "cpu",
                num_gpus_per_actor=spec.resources.num_gpus if args.use_gpu else 0.0)
            extra = "".join(f", {key} {value:.6g}" for key, value in result.extra.items())
            failed = f" ({len(result.failures)} image(s) could not be read)" if result.failures else ""
            echo(f"{name}: {result.value:.6g}{extra} ({result.images} image(s), resize {result.mode}){failed}")
            results.append(result)
        with output_lock(args.out, args.wait_for_lock):
            csv_path = write_set_scores(args.out / f"{args.name}_sets.csv", results)
            echo(f"Wrote {csv_path}")
            params = {"target": args.target, "ref": args.ref, "dataset_stats": args.dataset_stats,
                      "metrics": ",".join(names), "batch_size": args.batch_size, "use_gpu": args.use_gpu,
                      "seed": args.seed, "splits": args.splits}
            echo(log_set_scores(args.out, csv_path, results, params, experiment=args.experiment))
    except (ValueError, OSError, KeyError, OutputInUseError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"iqabench score: error: {message}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m jobs.score", HELP, configure, run, argv)


if __name__ == "__main__":
    sys.exit(main())
