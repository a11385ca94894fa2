"""Test-only metrics that misbehave on purpose, registered through ``IQABENCH_METRIC_PLUGINS``.

Calibration: none (test fixtures, not metrics).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch

from metrics.base import IQAMetric
from metrics.registry import MetricSpec, Resources

MARKER_ENV = "IQABENCH_TEST_MARKERS"


class MeanAbsDiff(IQAMetric):
    """Mean absolute difference, optionally slowed down (a deterministic stand-in for a real metric)."""

    def __init__(self, sleep: float = 0.0) -> None:
        super().__init__()
        self.sleep = sleep

    def score(self, dist, ref=None):
        if self.sleep:
            time.sleep(self.sleep * dist.shape[0])
        return (dist - ref).abs().flatten(1).mean(dim=1)


class BrokenInit(IQAMetric):
    def __init__(self) -> None:
        super().__init__()
        raise RuntimeError("weights missing on purpose")


class DiesOnce(MeanAbsDiff):
    """SIGKILLs its own worker process the first time it scores (per marker directory), then behaves."""

    def score(self, dist, ref=None):
        marker = Path(os.environ[MARKER_ENV]) / "died_once"
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().score(dist, ref)


class AlwaysDies(MeanAbsDiff):
    def score(self, dist, ref=None):
        os.kill(os.getpid(), signal.SIGKILL)


def _spec(name: str, factory, **kwargs) -> MetricSpec:
    return MetricSpec(
        name=name, mode="FR", lower_better=True, score_range=(0.0, 1.0), paper="test fixture",
        calibration="unverified", calibration_detail="test fixture", factory=factory, resources=Resources(num_cpus=0.25), **kwargs,
    )


SPECS = (
    _spec("t_meandiff", MeanAbsDiff),
    _spec("t_slow", MeanAbsDiff, options={"sleep": 0.15}),
    _spec("t_broken_init", BrokenInit),
    _spec("t_dies_once", DiesOnce),
    _spec("t_always_dies", AlwaysDies),
)
