"""Target 5: the embedded demo end to end (``make bench`` after ``make install``) in under 60 s.

``make install`` runs first (not timed; a no-op when the install is current); then ``make bench`` is timed
``--rounds`` times, each into a fresh output folder (nothing cached), with the load average before each.
Writes ``<out>/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGET_SECONDS = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["make", "-C", str(REPO), "install"], check=True, capture_output=True)
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    runs = []
    for index in range(args.rounds):
        out = args.out / "make_bench"
        if out.exists():
            shutil.rmtree(out)
        command = ["make", "-C", str(REPO), "bench", f"OUT={out}"]
        load = list(os.getloadavg())
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        scored = re.search(r"Scored \d+ image score\(s\) in ([0-9.]+) s", done.stdout)
        cells = re.search(r"Plan: (\d+) cell", done.stdout)
        runs.append({"command": " ".join(command), "wall_seconds": wall, "returncode": done.returncode,
                     "scoring_seconds": float(scored.group(1)) if scored else None,
                     "cells": int(cells.group(1)) if cells else None, "load_average_before": load,
                     **({"error": (done.stdout[-1500:] + done.stderr[-1500:])} if done.returncode else {})})
        print(f"round {index}: make bench {wall:.1f} s (exit {done.returncode}, load {load[0]:.2f})", flush=True)
    (args.out / "startup.json").write_text(json.dumps({"target_seconds": TARGET_SECONDS, "runs": runs,
                                                        "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
