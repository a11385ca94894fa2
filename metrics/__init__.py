"""IQA metrics: ``create(name)`` builds one, ``available()`` lists them, ``get_spec(name)`` describes one."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from metrics.base import IQAMetric, MetricInputError
from metrics.registry import MetricSpec, Resources, UnknownMetricError, get_spec
from metrics.registry import registry as _registry

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


def check_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The metric's full option set (defaults + ``options``); unknown option names raise ``ValueError``."""
    spec = get_spec(name)
    merged = {**spec.options, **options}
    params = inspect.signature(spec.factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(merged) - set(params))
        if unknown:
            accepted = ", ".join(sorted(p for p in params if p != "self")) or "none"
            raise ValueError(f"metric {name!r}: unknown option(s) {', '.join(unknown)} (accepted: {accepted})")
    return merged


def create(name: str, device: str | torch.device = "cpu", **options: Any) -> IQAMetric:
    """Build metric ``name`` on ``device`` in eval mode, with ``options`` over the spec's defaults."""
    spec = get_spec(name)
    merged = check_options(name, options)
    model = spec.factory(**merged)
    model.spec = spec
    model.options = merged
    return model.to(device).eval()
