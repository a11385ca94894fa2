"""``Efficiency_benchmark.csv`` in pyiqa's format, merged into an existing file.

pyiqa's table: ``Method`` (the metric), one column per device tag (``cpu_<model>``, ``cuda_<model>``: seconds
per image, 4 decimals) and ``Peak GPU Mem (GB)``. Merging keeps every existing row, column and cell as it was
(read as text, written back unchanged), updates the measured cells, adds a new device column at the end (as
pyiqa's own file grew) and new metrics as new rows at the end. ``Peak GPU Mem (GB)`` is only written by a CUDA
measurement.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import pandas as pd

from orchestrator.results.files import write_text_atomic

CSV_NAME = "Efficiency_benchmark.csv"
METHOD = "Method"
PEAK_GPU = "Peak GPU Mem (GB)"
GB = 1024**3
_DROP_WORDS = re.compile(r"\((r|tm)\)|\b(cpu|processor|intel|amd|nvidia|core|with|radeon|graphics|apple)\b|@.*$",
                         re.IGNORECASE)


def device_slug(name: str) -> str:
    """A short lowercase tag for a CPU or GPU model name: ``'NVIDIA H100 80GB HBM3'`` → ``'h10080gbhbm3'``."""
    slug = re.sub(r"[^a-z0-9]+", "", _DROP_WORDS.sub(" ", name).lower())
    return slug or "unknown"


def cpu_model_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (else :func:`platform.processor`)."""
    import platform

    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []  # no /proc (not Linux): what platform reports is the best name there is
    for line in lines:
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_column(device: str, model_name: str, tag: str | None = None) -> str:
    """``cpu_<model>`` / ``cuda_<model>``; ``tag`` replaces the model part (``--tag``)."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return f"{kind}_{tag or device_slug(model_name)}"


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def merge_efficiency_csv(path: Path, column: str, seconds: Mapping[str, float],
                         peak_gpu_bytes: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Merge ``seconds`` (metric → median seconds/image) into ``path`` under ``column``; returns the table.

    ``peak_gpu_bytes`` (metric → bytes), from a CUDA run, fills ``Peak GPU Mem (GB)``.
    """
    path = Path(path)
    if column in (METHOD, PEAK_GPU) or not column:
        raise ValueError(f"bad device column name {column!r}")
    if path.is_file():
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        if table.columns[0] != METHOD:
            raise ValueError(f"{path}: not an efficiency table (first column {table.columns[0]!r}, want {METHOD!r})")
    else:
        table = pd.DataFrame(columns=[METHOD, PEAK_GPU], dtype=str)
    if column not in table.columns:
        if path.is_file():
            table[column] = ""
        else:
            table.insert(len(table.columns) - 1, column, "")
    if PEAK_GPU not in table.columns:
        table[PEAK_GPU] = ""
    table = table.set_index(METHOD)
    for metric, value in seconds.items():
        if metric not in table.index:
            table.loc[metric] = ""
        table.loc[metric, column] = _fmt(float(value))
    for metric, value in (peak_gpu_bytes or {}).items():
        if metric not in table.index:
            table.loc[metric] = ""
        table.loc[metric, PEAK_GPU] = _fmt(value / GB)
    table = table.reset_index().rename(columns={"index": METHOD})
    write_text_atomic(table.to_csv(index=False, lineterminator="\n"), path)
    return table
