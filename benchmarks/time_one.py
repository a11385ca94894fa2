"""Time one metric of one implementation with the efficiency protocol; print one JSON line.

Runs under either interpreter: the project's venv (``--impl iqabench``) or the baseline's
(``benchmarks/.venv-pyiqa``, ``--impl pyiqa``). Both use the same protocol (:mod:`orchestrator.efficiency.timing`: decode +
forward, batch 1, float32, warm-up excluded, construction not timed), the same images and the same thread count,
so their times are comparable. Only the model differs.

    python benchmarks/time_one.py --impl iqabench --metric ssim --threads 2 --images DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the timing protocol and the image recipe, importable from the baseline venv too

from orchestrator.efficiency.images import efficiency_pairs  # noqa: E402
from orchestrator.efficiency.timing import measure  # noqa: E402

#: No-reference metrics (both libraries use the same names for the classical metrics).
NR = {"niqe", "piqe", "entropy", "brisque", "niqe_matlab", "brisque_matlab"}


def builder(impl: str, metric: str, device: str):
    if impl == "iqabench":
        import metrics

        return lambda: metrics.create(metric, device=device), metrics.get_spec(metric).mode == "NR"
    import pyiqa

    return lambda: pyiqa.create_metric(metric, as_loss=False, device=device), metric in NR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("iqabench", "pyiqa"), required=True)
    parser.add_argument("--metric", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--batch_sizes", type=int, nargs="*", default=[])
    parser.add_argument("--size", default="1080x800")
    parser.add_argument("--images", type=Path, default=REPO / "benchmarks" / "out" / "images")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    pairs = efficiency_pairs(args.images, (width, height))
    build, no_reference = builder(args.impl, args.metric, args.device)
    if no_reference:
        pairs = [(dist, None) for dist, _ in pairs]

    def score(model, dist, ref):
        return model(dist) if ref is None else model(dist, ref)

    found = measure(args.metric, build, score, pairs, device=args.device, threads=args.threads, warmup=args.warmup,
                    repeats=args.repeats, batch_sizes=args.batch_sizes, image_size=(width, height))
    row = found.as_dict()
    row.update(impl=args.impl, load_average_after=list(os.getloadavg()))
    print(json.dumps(row))
    return 0 if found.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
