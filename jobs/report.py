"""``iqabench report`` / ``python -m jobs.report``: a self-contained HTML report from a finished run's files.

Reads what ``iqabench bench --out DIR`` left in DIR (summary, significance, plots, plan, versions); scores nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs.entry import standalone

HELP = "build a self-contained HTML report from the stored results of a run (recomputes nothing)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("results"),
                        help="the run's output directory, as given to `iqabench bench --out` (default: ./results)")
    parser.add_argument("--html", type=Path, help="where to write the report (default: <out>/report.html)")


def run(args: argparse.Namespace) -> int:
    from orchestrator.results.report import ReportError, build_report

    try:
        path = build_report(args.out, args.html)
    except ReportError as exc:
        print(f"iqabench report: error: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m jobs.report", HELP, configure, run, argv)


if __name__ == "__main__":
    sys.exit(main())
