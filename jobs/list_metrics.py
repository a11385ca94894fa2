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
    return 0


if __name__ == "__main__":
    sys.exit(standalone("python -m jobs.list_metrics", HELP, configure, run))
