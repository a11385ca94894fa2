"""CPU seconds per 1080×800 image of the classical NR metrics whose parameters come from pyiqa's weight
repository (issue 19), next to the shipped ``niqe`` and ``brisque``. Not a test.

The parameter files are random files of the published layout (``tests/_helpers/random_weights_classical.py``)
in a scratch cache: the cost does not depend on their values. One torch thread, the model built and warmed up
on a 256×256 crop before the timed call; ``time.process_time`` of the one timed forward.

    python benchmarks/cpu_classical_nr.py [--scratch DIR] [METRIC ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NAMES = ("niqe", "niqe_matlab", "brisque", "brisque_matlab", "nrqm", "pi", "ilniqe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", nargs="*", default=list(NAMES))
    parser.add_argument("--scratch", type=Path, help="cache folder for the random parameter files (default: temp)")
    args = parser.parse_args()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="iqabench-cpu-nr-"))

    from tests._helpers.random_weights import SeededCaches, offline_env
    from tests._helpers.random_weights_classical import FILES_CLASSICAL

    caches = SeededCaches(scratch)
    caches.ensure(*FILES_CLASSICAL)
    os.environ.update(offline_env(caches.torch_home, caches.hf_cache))

    import torch

    import metrics
    from metrics.calibration_cases import textured

    torch.set_num_threads(1)
    image = textured(1, 800, 1080, 3)
    for name in args.metrics:
        model = metrics.create(name)
        with torch.inference_mode():
            model(image[..., :256, :256])
            cpu, wall = time.process_time(), time.perf_counter()
            model(image)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{name}: {cpu:.2f} CPU s per 1080x800 image (wall {wall:.2f} s, 1 thread)", flush=True)


if __name__ == "__main__":
    main()
