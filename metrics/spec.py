"""The plain-data description of a metric (:class:`MetricSpec`), of how far its values are verified
(:class:`Calibration`) and of what one model instance needs (:class:`Resources`). Both :mod:`metrics.base` and
:mod:`metrics.registry` import them from here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

Mode = Literal["FR", "NR"]

#: Shipped parameter files (see ``metrics/data/PROVENANCE.md``).
DATA_DIR = Path(__file__).resolve().parent / "data"


class Calibration(StrEnum):
    """How far a metric's values are verified, each state backed by a test."""

    #: A test compares our values with the official implementation's (``official_scores.csv``).
    CALIBRATED = "calibrated"
    #: A test shows that pyiqa 0.1.16 and ours give the same values on identical weights (deep metrics).
    EQUIVALENT = "equivalent"
    #: Neither: at most checked against its definition.
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Resources:
    """What one model instance needs: CPUs, a (fractional) GPU share and a host-memory estimate."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_mb: int = 256

    def __post_init__(self) -> None:
        if self.num_cpus <= 0:
            raise ValueError(f"num_cpus must be > 0, got {self.num_cpus}")
        if self.num_gpus < 0 or (self.num_gpus > 1 and not float(self.num_gpus).is_integer()):
            raise ValueError(f"num_gpus must be >= 0: a fraction in [0, 1] or a whole number, got {self.num_gpus}")
        if self.memory_mb <= 0:
            raise ValueError(f"memory_mb must be > 0, got {self.memory_mb}")


@dataclass(frozen=True)
class OptionRange:
    """The numbers an option accepts: ``low``/``high`` bounds (None: unbounded), each inclusive or not."""

    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not self.high_inclusive)))

    def describe(self) -> str:
        low = "" if self.low is None else f"{'>=' if self.low_inclusive else '>'} {self.low:g}"
        high = "" if self.high is None else f"{'<=' if self.high_inclusive else '<'} {self.high:g}"
        return " and ".join(part for part in (low, high) if part) or "any number"


def above(low: float) -> OptionRange:
    """Numbers > ``low``."""
    return OptionRange(low=low, low_inclusive=False)


def at_least(low: float, high: float | None = None) -> OptionRange:
    """Numbers >= ``low`` (and <= ``high`` when given)."""
    return OptionRange(low=low, high=high)


@dataclass(frozen=True)
class MetricSpec:
    """Everything the orchestrator needs to know about a metric before building it."""

    name: str
    mode: Mode
    lower_better: bool
    score_range: tuple[float, float]
    paper: str
    calibration: Calibration
    factory: Callable[..., "nn.Module"]
    #: What backs ``calibration`` (which official code, which test, the largest error).
    calibration_detail: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    version: str = "1"
    #: Name of the row in the official calibration table (``official_scores.csv``), if any.
    calibration_key: str | None = None
    #: The score of a perfect image (FR: distorted == reference), where the metric defines one.
    ideal_score: float | None = None
    #: Parameter files the metric loads, relative to ``metrics/data`` (their sha256 enters the cell key).
    parameter_files: tuple[str, ...] = ()
    #: Whether a run that names no metrics includes it. False for a metric whose values are known not to match
    #: its official implementation: the default table holds only numbers the project stands behind.
    in_default_set: bool = True
    #: Whether the metric scores each image against its caption (CLIPScore): its model has ``score_captions(images,
    #: captions)``, the run hands it each image's caption (:mod:`orchestrator.run.captions`) and planning refuses
    #: a dataset whose captions it cannot find.
    needs_captions: bool = False
    #: Asked when a run is planned: why the metric cannot run on this cluster (a missing CUDA device or package,
    #: e.g. Q-Align's 8-bit variant without ``bitsandbytes``), or None when it can. Such a run is refused.
    unavailable: Callable[[], str | None] | None = None
    #: Options that take one of a few values (option → the accepted values), e.g. ``{"channel": ("gray", "y")}``.
    option_choices: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    #: Numeric options with a range (option → :class:`OptionRange`), e.g. ``{"data_range": above(0)}``.
    option_ranges: Mapping[str, OptionRange] = field(default_factory=dict)
    #: The registered metric whose factory and weight files build this one, for a named variant made by an option
    #: file (pyiqa's ``psnr-y: {metric_opts: {type: PSNR, ...}}``); None: the metric itself.
    builds: str | None = None

    @property
    def registered_name(self) -> str:
        """The name the registry knows this metric's factory by (``builds``, else ``name``)."""
        return self.builds or self.name

    def __post_init__(self) -> None:
        if self.mode not in ("FR", "NR"):
            raise ValueError(f"metric {self.name!r}: mode must be 'FR' or 'NR', got {self.mode!r}")
        low, high = self.score_range
        if not (math.isfinite(low) or math.isinf(low)) or low > high:
            raise ValueError(f"metric {self.name!r}: bad score_range {self.score_range}")
        try:
            object.__setattr__(self, "calibration", Calibration(self.calibration))
        except ValueError:
            known = ", ".join(c.value for c in Calibration)
            message = f"metric {self.name!r}: calibration must be one of {known}, got {self.calibration!r}"
            raise ValueError(message) from None
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        choices = {key: tuple(values) for key, values in self.option_choices.items()}
        object.__setattr__(self, "option_choices", MappingProxyType(choices))
        object.__setattr__(self, "option_ranges", MappingProxyType(dict(self.option_ranges)))

    def parameter_paths(self) -> list[Path]:
        return [DATA_DIR / name for name in self.parameter_files]

    def describe_calibration(self) -> str:
        """``calibrated (authors' ssim_index.m ...)``: the state, then what backs it."""
        return f"{self.calibration} ({self.calibration_detail})" if self.calibration_detail else str(self.calibration)

    def describe_resources(self) -> str:
        r = self.resources
        return f"{r.num_cpus:g} CPU, {r.num_gpus:g} GPU, {r.memory_mb} MB"
