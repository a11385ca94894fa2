"""Measured memory per metric (written by ``iqabench efficiency``) and the override of the registry's estimates.

``<out>/resources.json`` (default ``results/efficiency/resources.json``; ``IQABENCH_RESOURCES`` names another)::

    {"version": 1,
     "metrics": {"ssim": {"seconds_per_image": {"cpu": 0.21, "cuda": 0.004},  # median, batch 1 (cost model)
                          "at_pixels": 864000, "load_seconds": 0.4,         # image size timed; model build time
                          "host_peak_mb": 812.4,            # peak resident set of the timing process
                          "host_tag": "cpu_xeon...",         # where it was measured, and when
                          "gpu": {"name": "NVIDIA H100 ...", "total_mb": 81559.0,
                                  "peak_mb_by_batch": {"1": 140.2, "8": 905.7}, "tag": "cuda_h100..."},
                          "measured_at": "2025-01-01T00:00:00"}}}

:func:`with_measured_resources` turns one entry into a :class:`MetricSpec` whose ``resources`` the placement
then packs with: ``memory_mb`` = measured host peak × :data:`HEADROOM`; a GPU metric's ``num_gpus`` = measured
GPU peak at the run's batch size × :data:`HEADROOM` / the GPU's memory, rounded up to 1/2, 1/4, … 1/64 (shares
that divide each other pack the same way in any order), or to whole GPUs above one. ``num_cpus`` and whether a
metric uses a GPU at all stay the registry's.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from metrics.registry import MetricSpec, Resources
from orchestrator.results.files import write_text_atomic

FILE_NAME = "resources.json"
ENV = "IQABENCH_RESOURCES"
DEFAULT_PATH = Path("results") / "efficiency" / FILE_NAME
VERSION = 1
#: Safety factor over the measured peaks.
HEADROOM = 1.25
#: The smallest GPU share handed out (1/64 of a GPU).
MIN_GPU_SHARE = 1 / 64
MB = 1024**2


def default_path() -> Path:
    return Path(os.environ[ENV]) if os.environ.get(ENV) else DEFAULT_PATH


def load_measured_resources(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """metric → measured entry; an absent file is an empty mapping, a malformed one a :class:`ValueError`."""
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("version") != VERSION or not isinstance(document.get("metrics"), dict):
        raise ValueError(f"{path}: not an iqabench resources file (version {VERSION})")
    return document["metrics"]


def merge_measured_resources(path: Path, entries: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Update ``path`` with new measurements (a CPU run keeps the GPU part of an entry, and the reverse)."""
    path = Path(path)
    merged = load_measured_resources(path)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for metric, entry in entries.items():
        current = dict(merged.get(metric, {}))
        seconds = {**current.get("seconds_per_image", {}), **entry.get("seconds_per_image", {})}
        current.update({k: v for k, v in entry.items() if v is not None})
        if seconds:  # a CPU run keeps the CUDA seconds, and the reverse
            current["seconds_per_image"] = seconds
        current["measured_at"] = stamp
        merged[metric] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(json.dumps({"version": VERSION, "metrics": merged}, indent=1, sort_keys=True), path)
    return merged


def gpu_share(peak_mb: float, total_mb: float) -> float:
    """The GPU share for a peak of ``peak_mb`` on a GPU of ``total_mb``: 1/2^k up to one GPU, whole GPUs above."""
    if peak_mb <= 0 or total_mb <= 0:
        raise ValueError(f"need positive memory figures, got peak {peak_mb} MB of {total_mb} MB")
    need = peak_mb * HEADROOM / total_mb
    if need > 1:
        return float(math.ceil(need))
    share = 1.0
    while share / 2 >= max(need, MIN_GPU_SHARE):
        share /= 2
    return share


def _peak_at_batch(peaks: Mapping[str, float], batch_size: int) -> float | None:
    """The peak measured at ``batch_size``, else at the next larger size measured, else the largest one."""
    sizes = sorted(int(k) for k in peaks)
    if not sizes:
        return None
    chosen = next((s for s in sizes if s >= batch_size), sizes[-1])
    return float(peaks[str(chosen)])


def measured_resources(spec: MetricSpec, entry: Mapping[str, Any] | None, batch_size: int = 8) -> Resources:
    """The resources of ``spec`` with the measured memory of ``entry`` (``None``: the registry's)."""
    declared = spec.resources
    if not entry:
        return declared
    changes: dict[str, Any] = {}
    if entry.get("host_peak_mb"):
        changes["memory_mb"] = int(math.ceil(float(entry["host_peak_mb"]) * HEADROOM))
    gpu = entry.get("gpu") or {}
    if declared.num_gpus > 0 and gpu.get("peak_mb_by_batch") and gpu.get("total_mb"):
        peak = _peak_at_batch(gpu["peak_mb_by_batch"], batch_size)
        if peak:
            changes["num_gpus"] = gpu_share(peak, float(gpu["total_mb"]))
    return replace(declared, **changes)


def with_measured_resources(spec: MetricSpec, measured: Mapping[str, Mapping[str, Any]] | None = None,
                            batch_size: int = 8) -> MetricSpec:
    """``spec`` with ``resources`` replaced by the measured ones (``measured``: from
    :func:`load_measured_resources`; default: the default file). A metric that was not measured is unchanged."""
    measured = load_measured_resources() if measured is None else measured
    resources = measured_resources(spec, measured.get(spec.registered_name), batch_size)
    return spec if resources == spec.resources else replace(spec, resources=resources)
