"""Forward seconds per image, iqabench vs pyiqa, interleaved image by image in one process (issue 17).

On a shared machine the load changes between processes; :mod:`benchmarks.compare_pyiqa` (a fresh process per
implementation and round, decode + forward) then measures each side under a different load. Here both models
score the same decoded images alternately (ours, pyiqa, pyiqa, ours, ... — the order flips every image), so both
see the same load; per round the median forward time of each side over the images is taken, the round's ratio
is ours / pyiqa, and the reported ratio is the median over rounds. The decode (two PNG reads for full-reference
metrics, one for no-reference ones, the same code for both sides) is timed separately and reported once.

Needs pyiqa importable in the same interpreter (the project venv has pyiqa 0.1.16 for this purpose):

    PYTHONPATH=. .venv/bin/python benchmarks/interleaved_forward.py -m psnr fsim gmsd vsi piqe --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestrator.efficiency_images import efficiency_pairs  # noqa: E402
from orchestrator.timing import load_batch  # noqa: E402

NR = {"niqe", "piqe", "entropy", "brisque"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--metrics", nargs="+", default=["psnr", "fsim", "gmsd", "vsi", "piqe"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images_per_round", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", default="1080x800")
    parser.add_argument("--images", type=Path, default=REPO / "benchmarks" / "out" / "images")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = parser.parse_args(argv)

    import torch
    import pyiqa

    import metrics

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    pairs = efficiency_pairs(args.images, (width, height))[: args.images_per_round]
    decode = {}
    for kind, chosen in (("FR", pairs), ("NR", [(d, None) for d, _ in pairs])):
        times = []
        for pair in chosen:
            start = time.perf_counter()
            load_batch([pair], "cpu")
            times.append(time.perf_counter() - start)
        decode[kind] = statistics.median(times)
    batches = [load_batch([pair], "cpu") for pair in pairs]
    rows = []
    for name in args.metrics:
        ours, base = metrics.create(name), pyiqa.create_metric(name, as_loss=False, device="cpu")
        no_reference = name in NR

        def run(model, dist, ref):
            start = time.perf_counter()
            with torch.inference_mode():
                model(dist) if no_reference else model(dist, ref)
            return time.perf_counter() - start

        for model in (ours, base):  # warm-up: caches, allocator, lazy initialisation
            for dist, ref in batches[:2]:
                run(model, dist, ref)
        per_round = []
        for round_index in range(args.rounds):
            mine, theirs = [], []
            for i, (dist, ref) in enumerate(batches):
                order = ((ours, mine), (base, theirs)) if (i + round_index) % 2 == 0 else ((base, theirs), (ours, mine))
                for model, times in order:
                    times.append(run(model, dist, ref))
            per_round.append((statistics.median(mine), statistics.median(theirs)))
        ratios = [a / b for a, b in per_round]
        row = {
            "metric": name,
            "ours_s": statistics.median(a for a, _ in per_round),
            "pyiqa_s": statistics.median(b for _, b in per_round),
            "ratio": statistics.median(ratios),
            "round_ratios": [round(r, 3) for r in ratios],
            "decode_s": decode["NR" if no_reference else "FR"],
            "load_average_after": os.getloadavg()[0],
        }
        # The decode-inclusive ratio, as compare_pyiqa reports it (same decode on both sides).
        row["with_decode_ratio"] = (row["ours_s"] + row["decode_s"]) / (row["pyiqa_s"] + row["decode_s"])
        rows.append(row)
        print(f"| {name} | {row['ours_s']:.4f} | {row['pyiqa_s']:.4f} | {row['ratio']:.3f} | "
              f"{', '.join(f'{r:.3f}' for r in ratios)} | {row['decode_s']:.4f} | {row['with_decode_ratio']:.3f} | "
              f"{row['load_average_after']:.1f} |", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "threads": args.threads,
                                        "size": args.size, "rounds": args.rounds, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
