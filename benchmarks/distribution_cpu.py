"""CPU seconds per 1080×800 image of the distribution metrics' feature extraction (resize + network; decoding
not included), on networks of the real size with random weights (timing does not depend on the values).

    PYTHONPATH=. python benchmarks/distribution_cpu.py [--threads 1] [--images 4]

Prints, per metric and resize mode, the CPU time (``time.process_time``, all threads of this process) and the
wall time per image.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from metrics.distribution.dinov2 import DINOv2, ViTShape
from metrics.distribution.inception import FIDInception, _graph
from metrics.distribution.resize import resize_image, scale_for_dinov2, scale_for_inception
from metrics.distribution.specs import DISTRIBUTION_SPECS

VIT_L14 = ViTShape(width=1024, depth=24, patch=14, grid=37, mlp_width=4096)


def network(metric: str) -> torch.nn.Module:
    spec = DISTRIBUTION_SPECS[metric]
    if spec.backbone == "dinov2":
        return DINOv2(VIT_L14).eval()
    model = FIDInception(spec.feature)
    model.net = _graph()  # random weights of the real size instead of the meta skeleton
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = np.random.default_rng(0).integers(0, 256, (800, 1080, 3), dtype=np.uint8)
    for metric, spec in DISTRIBUTION_SPECS.items():
        model = network(metric)
        modes = ("clean", "legacy_pytorch", "legacy_tensorflow") if metric == "fid" else (spec.default_mode,)
        for mode in modes:
            with torch.inference_mode():
                model(scale_for_inception(resize_image(image, spec.input_size, mode)[None], mode)
                      if spec.backbone == "inception" else scale_for_dinov2(resize_image(image, 224, mode)[None]))
                cpu, wall = time.process_time(), time.perf_counter()
                batch = torch.stack([resize_image(image, spec.input_size, mode) for _ in range(args.images)])
                x = scale_for_inception(batch, mode) if spec.backbone == "inception" else scale_for_dinov2(batch)
                model(x)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"{metric:16s} {mode:18s} {cpu / args.images:6.3f} CPU s/img  {wall / args.images:6.3f} wall s/img "
                  f"({args.threads} thread(s))", flush=True)


if __name__ == "__main__":
    main()
