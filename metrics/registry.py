"""The metric registry: one :class:`MetricSpec` per metric name, discovered from the metric modules.

Each module under ``metrics/fr``, ``metrics/nr`` (and later ``metrics/deep``) declares ``SPECS``, a tuple of
:class:`MetricSpec`. A spec is plain data (it travels to Ray actors as the metric's name plus options); the
actor rebuilds the model with :func:`metrics.create`, naming the spec's module (:func:`module_of`) so that it
imports that one module (:func:`load_module_specs`) instead of discovering every metric family — a classical
metric's actor then never imports torchvision.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from metrics.spec import DATA_DIR, Calibration, MetricSpec, Mode, Resources

__all__ = ["DATA_DIR", "Calibration", "MetricSpec", "Mode", "Resources", "UnknownMetricError", "default_metric_names",
           "get_spec", "load_module_specs", "module_of", "registry"]

#: Packages scanned for metric modules, in order.
METRIC_PACKAGES: tuple[str, ...] = ("metrics.fr", "metrics.nr", "metrics.deep")
#: Environment variable naming extra modules (comma-separated) whose ``SPECS`` join the registry: a user's own
#: metrics, visible to every Ray worker that inherits the environment.
PLUGIN_ENV = "IQABENCH_METRIC_PLUGINS"


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


def default_metric_names() -> list[str]:
    """The default metric set, sorted: every registered metric whose spec is ``in_default_set`` (the runs that name
    no metric score these, less those whose parameter or weight files are not here)."""
    return sorted(name for name, spec in registry().items() if spec.in_default_set)


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
        from metrics.distribution.specs import is_distribution_metric, refusal

        if is_distribution_metric(name):
            raise UnknownMetricError(refusal(name))
        close = [n for n in specs if n.split("_")[0] == name.split("_")[0] or name in n]
        hint = f" Did you mean: {', '.join(sorted(close))}?" if close else ""
        raise UnknownMetricError(
            f"unknown metric {name!r}.{hint} Registered metrics: {', '.join(sorted(specs))}"
        )
    return specs[name]
