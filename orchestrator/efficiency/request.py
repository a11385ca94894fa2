"""What the efficiency job is asked (:class:`EfficiencyRequest`) and what it returns (:class:`EfficiencyResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.efficiency.images import DEFAULT_SIZE

DEVICES = ("cpu", "cuda")
DEFAULT_BATCH_SIZES = {"cpu": (1, 4), "cuda": (1, 2, 4, 8, 16)}


@dataclass(frozen=True)
class EfficiencyRequest:
    #: Metric names; ``None``: every registered metric whose parameters/weights are here.
    metrics: tuple[str, ...] | None = None
    devices: tuple[str, ...] = ("cpu",)
    out: Path = Path("results") / "efficiency"
    #: Untimed steps, then timed steps (batch 1), per metric.
    warmup: int = 2
    repeats: int = 8
    #: Batch sizes of the throughput sweep; ``None``: :data:`DEFAULT_BATCH_SIZES` of the device.
    batch_sizes: tuple[int, ...] | None = None
    #: Torch threads of a CPU measurement (``None``: every CPU of the Ray cluster's node).
    threads: int | None = None
    image_size: tuple[int, int] = DEFAULT_SIZE
    #: Replaces the device model in the CSV column name (``cpu_<tag>``, ``cuda_<tag>``).
    tag: str | None = None
    ray_address: str | None = None
    tracking_uri: str | None = None
    #: Where the generated images are kept (default: ``<out>/images``).
    image_root: Path | None = None

    def __post_init__(self) -> None:
        unknown = [d for d in self.devices if d not in DEVICES]
        if unknown or not self.devices:
            raise ValueError(f"--device must be among {', '.join(DEVICES)}, got {', '.join(self.devices) or 'none'}")
        if self.warmup < 0 or self.repeats < 1:
            raise ValueError(f"need warmup >= 0 and repeats >= 1, got {self.warmup} and {self.repeats}")
        if self.batch_sizes is not None and any(b < 1 for b in self.batch_sizes):
            raise ValueError(f"batch sizes must be >= 1, got {self.batch_sizes}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.threads}")


@dataclass
class EfficiencyResult:
    out: Path
    csv: Path
    measurements: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    run_id: str | None = None
    tracking_error: str | None = None
