"""``iqabench calibrate`` / ``python -m jobs.calibrate``: prove metrics against their official values."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "score the TID2013 calibration pairs and write docs/calibration.md"


def configure(parser: argparse.ArgumentParser) -> None:
    from orchestrator.calibration import DEFAULT_OFFICIAL, DEFAULT_PAIRS, REPO_ROOT

    parser.add_argument("-m", "--metric_names", nargs="+", metavar="METRIC", help="default: every registered metric")
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS, help="folder with ref/ and dist/ images")
    parser.add_argument("--official", type=Path, default=DEFAULT_OFFICIAL, help="official_scores.csv")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "calibration.md", help="Markdown report")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")


def run(args: argparse.Namespace) -> int:
    from metrics import UnknownMetricError
    from orchestrator.calibration import run_calibration, write_report

    try:
        results = run_calibration(args.metric_names, args.pairs, args.official, args.device)
    except (UnknownMetricError, OSError) as exc:
        print(f"iqabench calibrate: error: {exc}", file=sys.stderr)
        return 2
    write_report(results, args.out, args.device)
    failed = [r.name for r in results if r.status in ("FAIL", "error")]
    print(f"Wrote {args.out}: {sum(r.status == 'pass' for r in results)} pass, {len(failed)} fail"
          + (f" ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m jobs.calibrate", description=HELP)
    configure(parser)
    sys.exit(run(parser.parse_args()))
