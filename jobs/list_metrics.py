"""``iqabench metrics``: the registry as a table."""

from __future__ import annotations

import argparse
import sys

from jobs.entry import standalone

HELP = "list the registered metrics"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=["FR", "NR"], help="only full-reference or no-reference metrics")
    # -v (the global --verbose) also prints each metric's paper.


def format_range(low: float, high: float) -> str:
    return f"[{low:g}, {high:g}]"


def run(args: argparse.Namespace) -> int:
    import metrics

    names = metrics.available(args.mode)
    header = ("name", "mode", "better", "range", "resources", "calibration")
    rows = []
    for name in names:
        spec = metrics.get_spec(name)
        rows.append(
            (
                name,
                spec.mode,
                "lower" if spec.lower_better else "higher",
                format_range(*spec.score_range),
                spec.describe_resources(),
                spec.describe_calibration(),
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for name, row in zip(names, rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))
        if getattr(args, "verbosity", 0) > 0:
            print(f"    paper: {metrics.get_spec(name).paper}")
    print(f"\n{len(names)} metric(s)")
    if args.mode in (None, "NR"):  # pyiqa lists them as NR
        _print_distribution_metrics(getattr(args, "verbosity", 0) > 0)
    return 0


def _print_distribution_metrics(verbose: bool) -> None:
    """The metrics of a set of images, which ``iqabench score`` runs (``bench`` refuses them)."""
    from metrics.distribution.specs import DISTRIBUTION_SPECS

    print("\nDistribution metrics (score a set of images, not each image; run them with `iqabench score`):")
    for name, spec in DISTRIBUTION_SPECS.items():
        better = "lower" if spec.lower_better else "higher"
        r = spec.resources
        print(f"  {name:16s} {better:6s} {format_range(*spec.score_range):11s} default resize {spec.default_mode:17s} "
              f"{r.num_cpus:g} CPU, {r.num_gpus:g} GPU, {r.memory_mb} MB  {spec.calibration} ({spec.calibration_detail})")
        if verbose:
            print(f"    paper: {spec.paper}")


if __name__ == "__main__":
    sys.exit(standalone("python -m jobs.list_metrics", HELP, configure, run))
