"""CPU seconds per 1080×800 image of the CLIP-family metrics, with random weights of the published layouts.

Random weights cost what the published ones cost (same shapes, same float32 computation), so no download is
needed: the files are seeded into a temporary cache as the tests do (tests/_helpers/random_weights.py). Uses the
efficiency protocol of ``benchmarks/time_one.py`` (decode + forward, batch 1, float32, warm-up excluded,
construction not timed).

    PYTHONPATH=. .venv/bin/python benchmarks/clip_cpu_seconds.py --threads 2 clipiqa liqe
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NAMES = ("clipiqa", "clipiqa+", "clipiqa+_rn50_512", "clipiqa+_vitL14_512", "liqe", "liqe_mix")


def main(argv: list[str] | None = None) -> int:
    from metrics.deep.weights import weight_files
    from tests._helpers.random_weights import SeededCaches, offline_env

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(NAMES))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clip-cpu-") as root:
        caches = SeededCaches(Path(root))
        env = {**os.environ, **offline_env(caches.torch_home, caches.hf_cache), "PYTHONPATH": str(REPO)}
        for name in args.names:
            caches.ensure(*[wf.filename for wf in weight_files(name)])
            command = [sys.executable, str(REPO / "benchmarks" / "time_one.py"), "--impl", "iqabench", "--metric",
                       name, "--threads", str(args.threads), "--warmup", "1", "--repeats", str(args.repeats),
                       "--images", str(Path(root) / "images")]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            print(json.dumps({"metric": name, **json.loads(done.stdout.strip().splitlines()[-1])}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
