"""``iqabench efficiency`` / ``python -m jobs.efficiency``: seconds per image and peak memory of each metric.

Writes ``<out>/Efficiency_benchmark.csv`` (pyiqa's format, merged into an existing file), the measurements as
JSON, ``<out>/resources.json`` (measured memory for GPU packing) and logs the run to MLflow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs.entry import standalone

HELP = "time each metric per image (pyiqa's efficiency protocol) and measure its peak memory"


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from exc
    return width, height


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--metric_names", nargs="+", metavar="METRIC",
                        help="metrics to time (default: every registered metric whose weights are here)")
    parser.add_argument("--device", nargs="+", choices=("cpu", "cuda"), default=["cpu"],
                        help="devices to time on, one after another (default: cpu)")
    parser.add_argument("--out", type=Path, default=Path("results") / "efficiency",
                        help="output directory (default: ./results/efficiency)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per metric (default: 2)")
    parser.add_argument("--repeats", type=int, default=8, help="timed batch-1 steps per metric (default: 8)")
    parser.add_argument("--batch_sizes", type=int, nargs="*", metavar="N",
                        help="throughput sweep batch sizes (default: 1 4 on cpu, 1 2 4 8 16 on cuda; none: no sweep)")
    parser.add_argument("--threads", type=int, help="torch threads on cpu (default: every CPU of the node)")
    parser.add_argument("--size", type=_size, default=(1080, 800), metavar="WxH",
                        help="image size (default: 1080x800, as pyiqa's table)")
    parser.add_argument("--tag", help="device tag of the CSV column, e.g. m2 for cpu_m2 (default: from the model name)")
    parser.add_argument("--ray_address", help="Ray cluster address (default: RAY_ADDRESS, else a local cluster)")
    parser.add_argument("--tracking_uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else <out>/mlflow.db)")


def run(args: argparse.Namespace) -> int:
    from jobs.console import echo
    from orchestrator.efficiency.job import EfficiencyRequest, run_efficiency

    try:
        request = EfficiencyRequest(
            metrics=tuple(args.metric_names) if args.metric_names else None,
            devices=tuple(dict.fromkeys(args.device)),
            out=args.out,
            warmup=args.warmup,
            repeats=args.repeats,
            batch_sizes=tuple(args.batch_sizes) if args.batch_sizes is not None else None,
            threads=args.threads,
            image_size=args.size,
            tag=args.tag,
            ray_address=args.ray_address,
            tracking_uri=args.tracking_uri,
        )
        result = run_efficiency(request, echo=echo)
    except ValueError as exc:
        print(f"iqabench efficiency: error: {exc}", file=sys.stderr)
        return 2
    return 1 if result.failed else 0


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m jobs.efficiency", HELP, configure, run, argv)


if __name__ == "__main__":
    sys.exit(main())
