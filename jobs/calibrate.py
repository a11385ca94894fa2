"""``iqabench calibrate`` / ``python -m jobs.calibrate``: prove metrics against their official values."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs.entry import standalone

HELP = "score the TID2013 calibration pairs and write docs/calibration.md"


def configure(parser: argparse.ArgumentParser) -> None:
    # Defaults are resolved in run(): building the CLI's parser must not import torch and the metrics.
    parser.add_argument("-m", "--metric_names", nargs="+", metavar="METRIC", help="default: every registered metric")
    parser.add_argument("--pairs", type=Path, help="folder with ref/ and dist/ images (default: the shipped pairs)")
    parser.add_argument("--official", type=Path, help="official_scores.csv (default: the shipped table)")
    parser.add_argument("--out", type=Path,
                        help="Markdown report (default: docs/calibration.md in a source checkout, else ./calibration.md)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")


def run(args: argparse.Namespace) -> int:
    from jobs.console import echo
    from metrics import UnknownMetricError
    from orchestrator.calibration.job import (DEFAULT_OFFICIAL, DEFAULT_PAIRS, default_report_path, run_calibration,
                                              write_report)

    args.pairs = args.pairs or DEFAULT_PAIRS
    args.official = args.official or DEFAULT_OFFICIAL
    args.out = args.out or default_report_path()

    try:
        results = run_calibration(args.metric_names, args.pairs, args.official, args.device, echo=echo)
    except (UnknownMetricError, OSError) as exc:
        print(f"iqabench calibrate: error: {exc}", file=sys.stderr)
        return 2
    write_report(results, args.out, args.device)
    failed = [r.name for r in results if r.status in ("FAIL", "error")]
    echo(f"Wrote {args.out}: {sum(r.status == 'pass' for r in results)} pass, {len(failed)} fail"
          + (f" ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(standalone("python -m jobs.calibrate", HELP, configure, run))
