"""Type and value checks of a metric's options, made when a run is planned (before any actor builds the metric).

The expected type of an option is its factory default's: ``bool`` takes only true/false (never 1), ``int``
only integers, ``float`` integers or floats, ``str`` strings, a list or tuple a list or tuple of as many items of
the default items' types. A ``None`` default accepts ``None`` or a value of the type its annotation documents
(``str | None``); an annotation this module cannot read accepts anything. Every number must be finite. A spec
narrows the values further with ``option_choices`` and ``option_ranges``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from metrics.spec import MetricSpec

#: Annotation names this module reads (``from __future__ import annotations`` keeps them as strings).
_ANNOTATED = {"str": "str", "int": "int", "float": "float", "bool": "bool", "None": "none"}


def _kind(value: Any) -> str:
    """The option type a value stands for: bool, int, float, str, sequence, none or the class name."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "sequence"
    return type(value).__name__


def _accepts(default_kind: str, value_kind: str) -> bool:
    return value_kind == default_kind or (default_kind == "float" and value_kind == "int")


def _annotated_kinds(annotation: Any) -> set[str] | None:
    """The kinds a ``X | Y`` annotation string allows, or None when it is not made of plain names."""
    if not isinstance(annotation, str):
        return None
    kinds = set()
    for part in (p.strip() for p in annotation.split("|")):
        if part not in _ANNOTATED:
            return None
        kinds.add(_ANNOTATED[part])
    return kinds


def _type_problem(value: Any, default: Any, annotation: Any) -> str | None:
    """Why ``value`` cannot stand where the factory's ``default`` is, or None."""
    value_kind = _kind(value)
    if default is None:
        allowed = _annotated_kinds(annotation)
        if allowed is None or value_kind in allowed or ("float" in allowed and value_kind == "int"):
            return None
        names = sorted("null" if kind == "none" else kind for kind in allowed)
        return f"must be {' or '.join(names)} (as documented: {annotation}), got {value!r}"
    default_kind = _kind(default)
    if not _accepts(default_kind, value_kind):
        expected = {"float": "a number", "int": "an integer", "bool": "true or false", "str": "a string",
                    "sequence": "a list"}.get(default_kind, default_kind)
        return f"must be {expected} (as its default {default!r}), got {value!r}"
    if default_kind == "sequence":
        if len(value) != len(default):
            return f"must be a list of {len(default)} items (as its default {list(default)!r}), got {value!r}"
        for item, item_default in zip(value, default):
            problem = _type_problem(item, item_default, None)
            if problem:
                return f"item {item!r}: {problem}"
    return None


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return any(_non_finite(item) for item in value)
    return False


def option_problem(spec: MetricSpec, key: str, value: Any, parameter: inspect.Parameter | None) -> str | None:
    """Why option ``key`` = ``value`` of ``spec`` is refused (one phrase), or None when it is accepted."""
    if _non_finite(value):
        return f"must be a finite number, got {value!r}"
    if parameter is not None and parameter.default is not inspect.Parameter.empty:
        problem = _type_problem(value, parameter.default, parameter.annotation)
        if problem:
            return problem
    choices = spec.option_choices.get(key)
    if choices is not None and value is not None and not any(_kind(value) == _kind(c) and value == c
                                                             for c in choices):
        return f"must be one of {', '.join(map(repr, choices))}, got {value!r}"
    allowed = spec.option_ranges.get(key)
    if allowed is not None and value is not None:
        if _kind(value) not in ("int", "float"):
            return f"must be a number ({allowed.describe()}), got {value!r}"
        if value not in allowed:
            return f"must be {allowed.describe()}, got {value!r}"
    return None


def check_option_values(spec: MetricSpec, options: dict[str, Any],
                        parameters: dict[str, inspect.Parameter]) -> None:
    """Raise ``ValueError`` naming the metric, the option and what it accepts for the first refused option."""
    for key, value in options.items():
        problem = option_problem(spec, key, value, parameters.get(key))
        if problem:
            raise ValueError(f"metric {spec.name!r}: option {key!r} {problem}")
