"""IQA metrics: ``create(name)`` builds one, ``available()`` lists them, ``get_spec(name)`` describes one."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from metrics import custom_weights
from metrics.option_checks import check_option_values
from metrics.registry import MetricSpec, Resources, UnknownMetricError, get_spec
from metrics.registry import registry as _registry

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from metrics.base import IQAMetric, MetricInputError


def __getattr__(name: str) -> Any:
    """``IQAMetric`` and ``MetricInputError`` import torch: loaded on first use, so that reading the registry (the
    planner, ``iqabench metrics``, a simulated metric's actor) does not."""
    if name in ("IQAMetric", "MetricInputError"):
        from metrics import base

        return getattr(base, name)
    raise AttributeError(f"module 'metrics' has no attribute {name!r}")

__all__ = [
    "IQAMetric",
    "MetricInputError",
    "MetricSpec",
    "Resources",
    "UnknownMetricError",
    "available",
    "create",
    "get_spec",
]


def available(mode: str | None = None) -> list[str]:
    """Names of the registered metrics, sorted; ``mode='FR'`` or ``'NR'`` filters."""
    return sorted(name for name, spec in _registry().items() if mode is None or spec.mode == mode)


def _same_value(given: Any, default: Any) -> bool:
    """``given`` (from YAML or the CLI) is the factory's ``default``: 1 and 1.0 are one number, True is not 1,
    and a list equals a tuple of the same items."""
    if isinstance(given, (list, tuple)) and isinstance(default, (list, tuple)):
        return len(given) == len(default) and all(_same_value(g, d) for g, d in zip(given, default))
    if not isinstance(given, bool) and not isinstance(default, bool) and all(
            isinstance(v, (int, float)) for v in (given, default)):
        return given == default
    return type(given) is type(default) and given == default


def check_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The metric's full option set (defaults + ``options``); unknown option names, and values of the wrong type
    or outside what the metric accepts (:mod:`metrics.option_checks`), raise ``ValueError``.

    An option the spec does not declare but whose value is the factory's own default is dropped: asking for
    ``data_range: 1.0`` is asking for the default, so it builds the same metric and keys the same cached cell.
    ``pretrained_model_path`` (a deep metric's own checkpoint, :mod:`metrics.custom_weights`) is checked there.
    """
    spec = get_spec(name)
    options = dict(options)
    weights_path = options.pop(custom_weights.OPTION, None)
    params = inspect.signature(spec.factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted((set(spec.options) | set(options)) - set(params))
        if unknown:
            accepted = ", ".join(sorted(p for p in params if p != "self")) or "none"
            raise ValueError(f"metric {name!r}: unknown option(s) {', '.join(unknown)} (accepted: {accepted})")
    explicit = {
        key: value for key, value in options.items()
        if key in spec.options or key not in params or params[key].default is inspect.Parameter.empty
        or not _same_value(value, params[key].default)
    }
    merged = {**spec.options, **explicit}
    check_option_values(spec, merged, dict(params))
    if weights_path is not None:
        merged[custom_weights.OPTION] = str(custom_weights.check(name, weights_path))
    return merged


def create(name: str, device: str | torch.device = "cpu", **options: Any) -> IQAMetric:
    """Build metric ``name`` on ``device`` in eval mode, with ``options`` over the spec's defaults."""
    spec = get_spec(name)
    merged = check_options(name, options)
    factory_options = {k: v for k, v in merged.items() if k != custom_weights.OPTION}
    with custom_weights.loading_from(merged.get(custom_weights.OPTION)):
        model = spec.factory(**factory_options)
    model.spec = spec
    model.options = merged
    return model.to(device).eval()
