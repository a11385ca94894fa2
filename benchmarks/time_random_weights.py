"""CPU seconds per image of deep metrics whose published weights are not cached, timed on random weights.

The compute of a network does not depend on its weight values, so a metric can be timed before its published
files are downloaded: random files of the published layouts (tests/_helpers/random_weights.py) are seeded into
``--weights DIR``. Each metric scores the efficiency images (:mod:`orchestrator.efficiency.images`, 1080×800 by
default; FR metrics the pair, NR metrics the distorted image) one at a time in float32 with ``--threads`` torch
threads, after ``--warmup`` untimed images. Per image it records the process CPU time (``time.process_time``,
every thread of this process) and the wall time of the forward pass (the decode, the same for every metric, is
excluded); the medians are printed, one JSON line per metric and a table at the end. On a shared machine the CPU
time is the steadier of the two (waiting for a core is not counted).

    python benchmarks/time_random_weights.py --threads 1 lpips+ topiq_nr-flive arniqa nima-koniq
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))


def time_metric(name: str, pairs: list, threads: int, warmup: int, repeats: int) -> dict:
    import torch

    import metrics
    from orchestrator.efficiency.timing import load_batch

    torch.set_num_threads(threads)
    model = metrics.create(name)
    fr = model.spec.mode == "FR"
    cpu, wall = [], []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            dist, ref = load_batch([pairs[i % len(pairs)]], "cpu")
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            scores = model(dist, ref) if fr else model(dist)
            if i >= warmup:
                cpu.append(time.process_time() - cpu_start)
                wall.append(time.perf_counter() - wall_start)
            if scores.numel() != 1 or not torch.isfinite(scores).all():
                raise RuntimeError(f"{name}: bad score {scores.tolist()}")
    return {"metric": name, "cpu_seconds_per_image": statistics.median(cpu),
            "wall_seconds_per_image": statistics.median(wall), "threads": threads, "images": repeats,
            "load_average_after": list(os.getloadavg())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", nargs="+")
    parser.add_argument("--weights", type=Path, default=HERE / "out" / "random-weights")
    parser.add_argument("--images", type=Path, default=HERE / "out" / "images")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="1080x800")
    args = parser.parse_args(argv)

    from metrics.deep.weights import weight_files
    from orchestrator.efficiency.images import efficiency_pairs
    from tests._helpers.random_weights import FILES, SeededCaches, offline_env

    caches = SeededCaches(args.weights.resolve())
    os.environ.update(offline_env(caches.torch_home, caches.hf_cache))
    width, height = (int(v) for v in args.size.split("x"))
    pairs = efficiency_pairs(args.images, (width, height))
    rows = []
    for name in args.metrics:
        caches.ensure(*[wf.filename for wf in weight_files(name) if wf.filename in FILES])
        row = time_metric(name, pairs, args.threads, args.warmup, args.repeats)
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n{'metric':<18} {'CPU s/image':>12} {'wall s/image':>13}  ({args.size}, {args.threads} thread(s), "
          "random weights, forward only)")
    for row in rows:
        print(f"{row['metric']:<18} {row['cpu_seconds_per_image']:>12.3f} {row['wall_seconds_per_image']:>13.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
