"""Simulated metrics for the cluster simulator (``benchmarks/cluster_sim.py``), loaded as a metric plugin::

    IQABENCH_METRIC_PLUGINS=benchmarks.sim_metrics IQABENCH_SIM_COSTS=costs.csv IQABENCH_SIM_TIME_SCALE=0.5

Each row of the costs CSV (columns ``metric,mode,seconds_per_image,load_seconds,gpu_share``; mode FR or NR;
seconds at time scale 1) becomes one :class:`MetricSpec` named ``sim_<metric>`` (lower case, ``+`` spelled
``_plus``, anything else that is not a letter or digit an underscore), declaring
``Resources(num_cpus=1, num_gpus=gpu_share, memory_mb=64)``. Its model sleeps ``load_seconds × scale`` when it is
built and ``seconds_per_image × scale`` per image when it scores, and returns deterministic pseudo-random scores
(a hash of the image bytes): a stand-in for a metric's cost, not a metric.

This module never imports torch (nor does ``import metrics.spec``): the model sets ``numpy_scoring = True`` and
offers ``score_numpy(dist, ref)`` (lists of uint8 H×W×3 arrays → one float64 per image), which the scoring actor
(``orchestrator/run/actors.py``) calls without importing torch, so a simulated actor holds ~70 MB and never
touches CUDA (the simulator's GPUs are fake).
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from metrics.spec import MetricSpec, Resources

COSTS_ENV = "IQABENCH_SIM_COSTS"
SCALE_ENV = "IQABENCH_SIM_TIME_SCALE"
#: Set (by the simulator with ``--bench-verbose``): each simulated model prints one :data:`TRACE_MARK` line.
TRACE_ENV = "IQABENCH_SIM_TRACE"
TRACE_MARK = "sim-actor-trace"
PREFIX = "sim_"
COST_COLUMNS = ("metric", "mode", "seconds_per_image", "load_seconds", "gpu_share")
DATASET_COLUMNS = ("dataset", "mode", "images")
#: Host memory each simulated actor declares (MB): what a Ray worker without torch holds, roughly.
MEMORY_MB = 64
CALIBRATION = "a simulation stand-in (sleeps a configured time per image; its scores mean nothing)"


class SimProfileError(ValueError):
    """A costs or datasets CSV that cannot be used; the message is one line naming the file (and line)."""


@dataclass(frozen=True)
class MetricCost:
    metric: str
    mode: str
    seconds_per_image: float
    load_seconds: float
    gpu_share: float

    @property
    def name(self) -> str:
        return sim_name(self.metric)


@dataclass(frozen=True)
class DatasetSize:
    dataset: str
    mode: str
    images: int

    @property
    def key(self) -> str:
        return sim_name(self.dataset)


def sim_name(name: str) -> str:
    """``sim_`` + ``name`` in lower case, ``+`` as ``_plus``, other characters outside [a-z0-9] as ``_``."""
    text = re.sub(r"[^a-z0-9]+", "_", name.strip().lower().replace("+", "_plus"))
    return PREFIX + text.strip("_")


def _rows(path: Path, columns: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = [c.strip() for c in (reader.fieldnames or [])]
            if sorted(header) != sorted(columns):
                raise SimProfileError(f"{path}: header must be {','.join(columns)} (got {','.join(header) or 'nothing'})")
            rows = []
            for raw in reader:
                if None in raw:  # more values than columns
                    raise SimProfileError(f"{path}: line {reader.line_num}: {len(columns) + len(raw[None])} values, "
                                          f"expected {len(columns)} ({','.join(columns)})")
                row = {k.strip(): (v or "").strip() for k, v in raw.items()}
                if any(row.values()):
                    rows.append((reader.line_num, row))
    except OSError as exc:
        raise SimProfileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except csv.Error as exc:
        raise SimProfileError(f"{path}: not a readable CSV ({exc})") from exc
    if not rows:
        raise SimProfileError(f"{path}: no rows")
    for line, row in rows:
        empty = [c for c in columns if not row.get(c)]
        if empty:
            raise SimProfileError(f"{path}: line {line}: no value for {', '.join(empty)} (a row needs {len(columns)} "
                                  f"values: {','.join(columns)})")
    return rows


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SimProfileError(f"{path}: line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SimProfileError(f"{path}: line {line}: {column} must be finite, got {text!r}")
    return value


def _mode(path: Path, line: int, text: str) -> str:
    mode = text.upper()
    if mode not in ("FR", "NR"):
        raise SimProfileError(f"{path}: line {line}: mode must be FR or NR, got {text!r}")
    return mode


def _unique(path: Path, names: list[tuple[int, str, str]], what: str) -> None:
    seen: dict[str, tuple[int, str]] = {}
    for line, name, key in names:
        if key in seen:
            first_line, first = seen[key]
            raise SimProfileError(f"{path}: line {line}: {what} {name!r} has the same name {key!r} as {first!r} "
                                  f"(line {first_line})")
        seen[key] = (line, name)


def load_costs(path: str | os.PathLike[str]) -> list[MetricCost]:
    """Read and validate a costs CSV (``metric,mode,seconds_per_image,load_seconds,gpu_share``)."""
    path = Path(path)
    costs = []
    rows = _rows(path, COST_COLUMNS)
    for line, row in rows:
        seconds = _number(path, line, "seconds_per_image", row["seconds_per_image"])
        load = _number(path, line, "load_seconds", row["load_seconds"])
        share = _number(path, line, "gpu_share", row["gpu_share"])
        if seconds <= 0:
            raise SimProfileError(f"{path}: line {line}: seconds_per_image must be > 0, got {row['seconds_per_image']}")
        if load < 0:
            raise SimProfileError(f"{path}: line {line}: load_seconds must be >= 0, got {row['load_seconds']}")
        if share <= 0 or (share > 1 and not share.is_integer()):
            raise SimProfileError(f"{path}: line {line}: gpu_share must be in (0, 1] or a whole number, got "
                                  f"{row['gpu_share']}")
        if sim_name(row["metric"]) == PREFIX:
            raise SimProfileError(f"{path}: line {line}: metric name {row['metric']!r} has no letter or digit")
        costs.append(MetricCost(row["metric"], _mode(path, line, row["mode"]), seconds, load, share))
    _unique(path, [(line, c.metric, c.name) for (line, _), c in zip(rows, costs)], "metric")
    return costs


def load_datasets(path: str | os.PathLike[str]) -> list[DatasetSize]:
    """Read and validate a datasets CSV (``dataset,mode,images``)."""
    path = Path(path)
    sizes = []
    rows = _rows(path, DATASET_COLUMNS)
    for line, row in rows:
        images = _number(path, line, "images", row["images"])
        if images < 1 or not images.is_integer():
            raise SimProfileError(f"{path}: line {line}: images must be a whole number >= 1, got {row['images']}")
        if sim_name(row["dataset"]) == PREFIX:
            raise SimProfileError(f"{path}: line {line}: dataset name {row['dataset']!r} has no letter or digit")
        sizes.append(DatasetSize(row["dataset"], _mode(path, line, row["mode"]), int(images)))
    _unique(path, [(line, d.dataset, d.key) for (line, _), d in zip(rows, sizes)], "dataset")
    return sizes


def time_scale_from_env() -> float:
    text = os.environ.get(SCALE_ENV, "1")
    try:
        scale = float(text)
    except ValueError:
        raise SimProfileError(f"{SCALE_ENV}: {text!r} is not a number") from None
    if not (math.isfinite(scale) and scale > 0):
        raise SimProfileError(f"{SCALE_ENV}: must be > 0, got {text!r}")
    return scale


def _hash_score(salt: bytes, *images: Any) -> float:
    h = hashlib.blake2b(salt, digest_size=8)
    for image in images:
        if image is not None:
            h.update(np.ascontiguousarray(image).tobytes())
    return int.from_bytes(h.digest(), "little") / 2.0**64


class SimulatedMetric:
    """Sleeps like the metric it stands for; scores are a hash of the image bytes (uniform in [0, 1))."""

    numpy_scoring = True
    simulated = True

    def __init__(self, seconds_per_image: float, load_seconds: float = 0.0, metric: str = "") -> None:
        self.seconds_per_image = float(seconds_per_image)
        self.load_seconds = float(load_seconds)
        self.salt = metric.encode()
        self.spec: MetricSpec | None = None
        self.options: dict[str, Any] = {}
        self.device = "cpu"
        built = time.time()
        if self.load_seconds > 0:
            time.sleep(self.load_seconds)
        if os.environ.get(TRACE_ENV) == "1":
            # One line on the worker's stdout (the driver shows it with ``bench -v``): when this model was built
            # (the Ray worker process up and its imports done), when it had loaded, and which (fake) GPU Ray gave.
            print(f"{TRACE_MARK} metric={metric} pid={os.getpid()} built={built:.3f} loaded={time.time():.3f} "
                  f"gpus={os.environ.get('CUDA_VISIBLE_DEVICES', '-')}", flush=True)

    # What ``metrics.create`` calls on every model (``model.to(device).eval()``): the device is only recorded.
    def to(self, device: Any) -> "SimulatedMetric":
        self.device = str(device)
        return self

    def eval(self) -> "SimulatedMetric":
        return self

    # The numpy interface: uint8 H×W×3 images in, one float64 per image out.
    def score_numpy(self, dist: list[np.ndarray], ref: list[np.ndarray] | None = None) -> np.ndarray:
        self._spend(len(dist))
        return np.asarray([_hash_score(self.salt, d, None if ref is None else ref[i]) for i, d in enumerate(dist)],
                          dtype=np.float64)

    def _spend(self, n: int) -> None:
        if n > 0 and self.seconds_per_image > 0:
            time.sleep(self.seconds_per_image * n)


def spec_for(cost: MetricCost, time_scale: float) -> MetricSpec:
    return MetricSpec(
        name=cost.name,
        mode=cost.mode,  # type: ignore[arg-type]
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=f"simulation of {cost.metric} (benchmarks/cluster_sim.py)",
        calibration="unverified",
        calibration_detail=CALIBRATION,
        factory=SimulatedMetric,
        options={"seconds_per_image": cost.seconds_per_image * time_scale,
                 "load_seconds": cost.load_seconds * time_scale, "metric": cost.metric},
        resources=Resources(num_cpus=1, num_gpus=cost.gpu_share, memory_mb=MEMORY_MB),
        version="sim-1",
        in_default_set=False,
    )


def specs_from_env() -> tuple[MetricSpec, ...]:
    """One spec per row of ``$IQABENCH_SIM_COSTS`` (none when it is unset)."""
    path = os.environ.get(COSTS_ENV)
    if not path:
        return ()
    scale = time_scale_from_env()
    return tuple(spec_for(cost, scale) for cost in load_costs(path))


SPECS = specs_from_env()
