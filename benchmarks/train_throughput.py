"""Training throughput (images/s) of ``iqabench train`` on Ray Train with 1 and 2 data-parallel CPU workers.

The same training — CNNIQA (or ``--model``) on a made-up NR dataset of noise textures, random crops, PLCC loss,
a fixed seed — runs once per worker count on a private local Ray cluster of ``--cpus`` CPUs. Each worker takes
batches of ``--batch_size`` (the global batch grows with the workers, as in pyiqa's DDP); the throughput is the
training's own measure (images seen by all workers per second, from the end of the first step), plus the wall
time of the whole run (start-up, data, checkpoints). Run it on an otherwise idle machine:

    python benchmarks/train_throughput.py --iterations 60 --images 128
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnniqa", help="a trainable metric (default: cnniqa)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--images", type=int, default=128, help="training images (96×128 PNGs)")
    parser.add_argument("--batch_size", type=int, default=16, help="per worker")
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--cpus", type=int, default=4, help="CPUs of the local Ray cluster")
    args = parser.parse_args()

    import yaml

    from orchestrator.run.ray_session import start_ray
    from orchestrator.train.job import TrainRequest, run_training
    from tests.train.conftest import make_nr_dataset  # the tests' made-up dataset: one definition

    rows = []
    with tempfile.TemporaryDirectory(prefix="iqabench-train-throughput-") as tmp:
        root = make_nr_dataset(Path(tmp) / "data", count=args.images, size=(96, 128))
        data_opt = root / "data_opt.yml"
        data_opt.write_text(yaml.safe_dump({"tiny": {"type": "GeneralNRDataset", "dataroot_target": str(root / "img"),
                                                     "meta_info_file": str(root / "meta.csv")}}))
        options = {
            "model": args.model, "name": f"throughput_{args.model}", "seed": 7,
            "train": {"dataset": "tiny", "random_crop": args.crop, "hflip": True, "batch_size": args.batch_size},
            "optim": {"type": "Adam", "lr": 1e-4}, "total_iter": args.iterations, "loss": {"type": "PLCCLoss"},
            "checkpoint_every": args.iterations,
        }
        with start_ray(None, num_cpus=args.cpus):
            for workers in args.workers:
                opt = Path(tmp) / f"{workers}.yml"
                opt.write_text(yaml.safe_dump(options, sort_keys=False))
                began = time.perf_counter()
                result = run_training(TrainRequest(opt=opt, out=Path(tmp) / f"out{workers}", num_workers=workers,
                                                   data_opt=data_opt, system_metrics_interval_s=60.0),
                                      echo=lambda line: None)
                row = {"model": args.model, "workers": workers, "iterations": result.iteration,
                       "batch_per_worker": args.batch_size, "images_per_second": round(result.images_per_second, 1),
                       "wall_seconds": round(time.perf_counter() - began, 1)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    base = rows[0]["images_per_second"]
    print(f"\n{'workers':>8} {'images/s':>10} {'speed-up':>9} {'wall s':>8}")
    for row in rows:
        print(f"{row['workers']:>8} {row['images_per_second']:>10.1f} {row['images_per_second'] / base:>9.2f} "
              f"{row['wall_seconds']:>8.1f}")


if __name__ == "__main__":
    main()
