"""Test-only metrics for the fake-GPU test (``IQABENCH_METRIC_PLUGINS``): they declare 0.25, 0.5 and 1 GPU (two
of them: a slow one and a quick one whose actor is then handed over to the slow one),
score uint8 images without torch, and record each construction (which actor, which GPU, what Ray assigned) as a
JSON line in the folder ``IQABENCH_TEST_CONSTRUCTIONS`` names.

Calibration: none (test fixtures, not metrics).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from metrics.spec import MetricSpec, Resources

SHARES = {"gpu_small": 0.25, "gpu_half": 0.5, "gpu_whole": 1.0, "gpu_whole_quick": 1.0}
SECONDS_PER_IMAGE = {"gpu_small": 0.002, "gpu_half": 0.01, "gpu_whole": 0.05, "gpu_whole_quick": 0.002}
MEMORY_MB = 100
ENV = "IQABENCH_TEST_CONSTRUCTIONS"


class StandIn:
    """Sleeps per image and scores the mean absolute difference; records where Ray built it."""

    numpy_scoring = True

    def __init__(self, name: str) -> None:
        import ray

        self.name = name
        context = ray.get_runtime_context()
        record = {"metric": name, "actor_id": context.get_actor_id(), "pid": os.getpid(),
                  "gpu_ids": [str(g) for g in ray.get_gpu_ids()], "assigned": context.get_assigned_resources(),
                  "time": time.time()}
        folder = Path(os.environ[ENV])
        (folder / f"{name}-{os.getpid()}-{time.time_ns()}.json").write_text(json.dumps(record))

    def to(self, device):
        return self

    def eval(self):
        return self

    def score_numpy(self, dist, ref):
        time.sleep(SECONDS_PER_IMAGE[self.name] * len(dist))
        return np.array([float(np.abs(d.astype(float) - r.astype(float)).mean()) for d, r in zip(dist, ref)])


SPECS = tuple(
    MetricSpec(name=name, mode="FR", lower_better=True, score_range=(0.0, 255.0), paper="test-only",
               calibration="unverified", calibration_detail="test fixture", factory=lambda name=name: StandIn(name), in_default_set=False,
               resources=Resources(num_cpus=1.0, num_gpus=share, memory_mb=MEMORY_MB))
    for name, share in SHARES.items()
)
