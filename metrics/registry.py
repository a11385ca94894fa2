"""The metric registry: one :class:`MetricSpec` per metric name, discovered from the metric modules.

Each module under ``metrics/fr``, ``metrics/nr`` (and later ``metrics/deep``) declares ``SPECS``, a tuple of
:class:`MetricSpec`. A spec is plain data (it travels to Ray actors as the metric's name plus options); the
actor rebuilds the model with :func:`metrics.create`, naming the spec's module (:func:`module_of`) so that it
imports that one module (:func:`load_module_specs`) instead of discovering every metric family — a classical
metric's actor then never imports torchvision.
"""

from __future__ import annotations

import importlib
import math
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from metrics.base import IQAMetric

Mode = Literal["FR", "NR"]

#: Packages scanned for metric modules, in order.
METRIC_PACKAGES: tuple[str, ...] = ("metrics.fr", "metrics.nr", "metrics.deep")
#: Environment variable naming extra modules (comma-separated) whose ``SPECS`` join the registry: a user's own
#: metrics, visible to every Ray worker that inherits the environment.
PLUGIN_ENV = "IQABENCH_METRIC_PLUGINS"
#: Shipped parameter files (see ``metrics/data/PROVENANCE.md``).
DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Resources:
    """What one model instance needs: CPUs, a (fractional) GPU share and a host-memory estimate."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_mb: int = 256

    def __post_init__(self) -> None:
        if self.num_cpus <= 0:
            raise ValueError(f"num_cpus must be > 0, got {self.num_cpus}")
        if not 0 <= self.num_gpus <= 1 and not float(self.num_gpus).is_integer():
            raise ValueError(f"num_gpus must be a fraction in [0, 1] or a whole number, got {self.num_gpus}")
        if self.memory_mb <= 0:
            raise ValueError(f"memory_mb must be > 0, got {self.memory_mb}")


@dataclass(frozen=True)
class MetricSpec:
    """Everything the orchestrator needs to know about a metric before building it."""

    name: str
    mode: Mode
    lower_better: bool
    score_range: tuple[float, float]
    paper: str
    calibration: str
    factory: Callable[..., "IQAMetric"]
    options: Mapping[str, Any] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    version: str = "1"
    #: Name of the row in the official calibration table (``official_scores.csv``), if any.
    calibration_key: str | None = None
    #: Whether scores are bit-for-bit reproducible for the same input (no random sampling).
    deterministic: bool = True
    #: The score of a perfect image (FR: distorted == reference), where the metric defines one.
    ideal_score: float | None = None
    #: Parameter files the metric loads, relative to ``metrics/data`` (their sha256 enters the cell key).
    parameter_files: tuple[str, ...] = ()
    #: Whether a run that names no metrics includes it. False for a metric whose values are known not to match
    #: its official implementation: the default table holds only numbers the project stands behind.
    in_default_set: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("FR", "NR"):
            raise ValueError(f"metric {self.name!r}: mode must be 'FR' or 'NR', got {self.mode!r}")
        low, high = self.score_range
        if not (math.isfinite(low) or math.isinf(low)) or low > high:
            raise ValueError(f"metric {self.name!r}: bad score_range {self.score_range}")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def parameter_paths(self) -> list[Path]:
        return [DATA_DIR / name for name in self.parameter_files]

    def describe_resources(self) -> str:
        r = self.resources
        return f"{r.num_cpus:g} CPU, {r.num_gpus:g} GPU, {r.memory_mb} MB"


_REGISTRY: dict[str, MetricSpec] | None = None
#: Metric name → the module that declares it (filled by discovery and by :func:`load_module_specs`).
_MODULE_OF: dict[str, str] = {}
#: Specs read from single modules before (or instead of) the full discovery.
_PARTIAL: dict[str, MetricSpec] = {}


def _discover() -> dict[str, MetricSpec]:
    found: dict[str, MetricSpec] = {}
    for package_name in METRIC_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ModuleNotFoundError as exc:
            if exc.name == package_name:
                continue  # an optional family that is not present in this tree
            raise
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            _add_specs(found, importlib.import_module(f"{package_name}.{info.name}"))
    for module_name in filter(None, (m.strip() for m in os.environ.get(PLUGIN_ENV, "").split(","))):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise RuntimeError(f"{PLUGIN_ENV}: cannot import metric plugin module {module_name!r}: {exc}") from exc
        _add_specs(found, module)
    return found


def _add_specs(found: dict[str, MetricSpec], module) -> None:
    for spec in getattr(module, "SPECS", ()):
        if spec.name in found:
            raise RuntimeError(f"metric {spec.name!r} is registered twice ({module.__name__})")
        found[spec.name] = spec
        _MODULE_OF[spec.name] = module.__name__


def registry() -> dict[str, MetricSpec]:
    """All registered metrics by name (discovered once per process)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _discover()
    return _REGISTRY


def forget() -> None:
    """Drop the discovered registry so the next call rediscovers it (e.g. after setting the plugin variable)."""
    global _REGISTRY
    _REGISTRY = None
    _MODULE_OF.clear()
    _PARTIAL.clear()


def module_of(name: str) -> str:
    """The module that declares metric ``name`` (discovering the registry if needed)."""
    get_spec(name)
    return _MODULE_OF[name]


def load_module_specs(module_name: str) -> None:
    """Import one metric module and make its ``SPECS`` known to :func:`get_spec`, without full discovery."""
    module = importlib.import_module(module_name)
    specs = getattr(module, "SPECS", ())
    if not specs:
        raise RuntimeError(f"module {module_name!r} declares no metric SPECS")
    for spec in specs:
        _PARTIAL[spec.name] = spec
        _MODULE_OF[spec.name] = module_name


class UnknownMetricError(KeyError):
    """Raised for a metric name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0])


def get_spec(name: str) -> MetricSpec:
    if _REGISTRY is None and name in _PARTIAL:
        return _PARTIAL[name]
    specs = registry()
    if name not in specs:
        close = [n for n in specs if n.split("_")[0] == name.split("_")[0] or name in n]
        hint = f" Did you mean: {', '.join(sorted(close))}?" if close else ""
        raise UnknownMetricError(
            f"unknown metric {name!r}.{hint} Registered metrics: {', '.join(sorted(specs))}"
        )
    return specs[name]
