"""Optimisers and learning-rate schedulers as pyiqa's training options name them.

An optimiser entry is ``{type, lr, <torch keyword>..., lr_<part>, weight_decay_<part>}``. ``lr_<part>`` gives
the parameters whose name contains ``<part>`` (and that are trained) their own group with that learning rate and
``weight_decay_<part>`` (default 0), in the order the keys are written; the remaining trained parameters form the
last group with ``lr`` and the entry's other keywords. Empty groups are dropped. This is pyiqa's documented
behaviour of ``GeneralIQAModel.setup_optimizers``, which its option files rely on (``lr_basemodel``,
``lr_classifier``...). A network may name its parts otherwise (``named_parts``: part → which parameter names
it holds), as pyiqa's WaDIQaM model does (``lr_basemodel``: the trunk, ``lr_fc_layers``: the rest).

Schedulers: ``MultiStepLR`` (``milestones``, ``gamma``) and ``CosineAnnealingLR`` (``T_max``, ``eta_min``),
stepped once per iteration as pyiqa does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

OPTIMISERS: dict[str, type[torch.optim.Optimizer]] = {
    "Adam": torch.optim.Adam,
    "AdamW": torch.optim.AdamW,
    "SGD": torch.optim.SGD,
}
SCHEDULERS: dict[str, tuple[type, dict[str, type | tuple[type, ...]]]] = {
    "MultiStepLR": (torch.optim.lr_scheduler.MultiStepLR, {"milestones": list, "gamma": (int, float)}),
    "CosineAnnealingLR": (torch.optim.lr_scheduler.CosineAnnealingLR, {"T_max": int, "eta_min": (int, float)}),
}
_REQUIRED_SCHEDULER_KEYS = {"MultiStepLR": {"milestones"}, "CosineAnnealingLR": {"T_max"}}


Parts = dict[str, Callable[[str], bool]]


def _in_part(part: str, name: str, parts: Parts | None) -> bool:
    return parts[part](name) if parts and part in parts else part in name


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _part_keys(options: dict[str, Any]) -> list[str]:
    """The ``<part>`` of every ``lr_<part>`` key, in the order written."""
    return [key[3:] for key in options if key.startswith("lr_")]


def optimiser_problems(options: Any, where: str, parameter_names: list[str] | None,
                       named_parts: Parts | None = None) -> list[str]:
    """Why the optimiser entry cannot be built for a network with ``parameter_names`` (None: the network is not
    known, its groups are not checked) and ``named_parts``, one line each."""
    if not isinstance(options, dict):
        return [f"{where}: must be a mapping with a 'type', got {options!r}"]
    kind = options.get("type")
    if kind not in OPTIMISERS:
        return [f"{where}.type: unknown optimiser {kind!r} (known: {', '.join(OPTIMISERS)})"]
    accepted = set(inspect.signature(OPTIMISERS[kind]).parameters) - {"params"}
    problems = []
    if "lr" not in options:
        problems.append(f"{where}.lr: is required")
    parts = _part_keys(options)
    for key, value in options.items():
        if key == "type":
            continue
        grouped = key.startswith("lr_") or (key.startswith("weight_decay_") and key[13:] in parts)
        if not grouped and key not in accepted:
            problems.append(f"{where}.{key}: not an option of {kind} (accepted: {', '.join(sorted(accepted))}, "
                            "lr_<part>, weight_decay_<part>)")
        elif key.startswith(("lr", "weight_decay", "momentum")) and not (_number(value) and value >= 0):
            problems.append(f"{where}.{key}: must be a number >= 0, got {value!r}")
    for part in parts if parameter_names is not None else ():
        if not any(_in_part(part, name, named_parts) for name in parameter_names):
            problems.append(f"{where}.lr_{part}: no parameter of the network has {part!r} in its name"
                            + (f" (its named parts: {', '.join(named_parts)})" if named_parts else ""))
    return problems


def parameter_groups(model: nn.Module, options: dict[str, Any], named_parts: Parts | None = None
                     ) -> list[dict[str, Any]]:
    """pyiqa's grouping (module docstring) of ``model``'s trained parameters."""
    trained = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    groups = []
    for part in _part_keys(options):
        members = [(name, p) for name, p in trained if _in_part(part, name, named_parts)]
        trained = [(name, p) for name, p in trained if not _in_part(part, name, named_parts)]
        groups.append({"params": [p for _, p in members], "lr": float(options[f"lr_{part}"]),
                       "weight_decay": float(options.get(f"weight_decay_{part}", 0.0))})
    groups.append({"params": [p for _, p in trained]})
    return [g for g in groups if g["params"]]


def build_optimiser(model: nn.Module, options: dict[str, Any], named_parts: Parts | None = None
                    ) -> torch.optim.Optimizer:
    kind = options["type"]
    parts = _part_keys(options)
    keywords = {k: v for k, v in options.items() if k != "type" and not k.startswith("lr_")
                and not (k.startswith("weight_decay_") and k[13:] in parts)}
    return OPTIMISERS[kind](parameter_groups(model, options, named_parts), **keywords)


def scheduler_problems(options: Any, where: str) -> list[str]:
    if options is None:
        return []
    if not isinstance(options, dict):
        return [f"{where}: must be a mapping with a 'type', got {options!r}"]
    kind = options.get("type")
    if kind not in SCHEDULERS:
        return [f"{where}.type: unknown scheduler {kind!r} (known: {', '.join(SCHEDULERS)})"]
    _, fields = SCHEDULERS[kind]
    problems = [f"{where}.{key}: not an option of {kind} (accepted: {', '.join(fields)})"
                for key in options if key != "type" and key not in fields]
    problems += [f"{where}.{key}: is required" for key in sorted(_REQUIRED_SCHEDULER_KEYS[kind] - set(options))]
    milestones = options.get("milestones", [])
    if not isinstance(milestones, list) or not all(isinstance(m, int) and not isinstance(m, bool) and m > 0
                                                   for m in milestones):
        problems.append(f"{where}.milestones: must be a list of positive integers, got {milestones!r}")
    elif milestones != sorted(milestones):
        problems.append(f"{where}.milestones: must increase, got {milestones!r}")
    for key in ("gamma", "eta_min"):
        if key in options and not (_number(options[key]) and options[key] >= 0):
            problems.append(f"{where}.{key}: must be a number >= 0, got {options[key]!r}")
    if "T_max" in options and not (isinstance(options["T_max"], int) and options["T_max"] > 0):
        problems.append(f"{where}.T_max: must be a positive integer, got {options['T_max']!r}")
    return problems


def build_scheduler(optimiser: torch.optim.Optimizer, options: dict[str, Any] | None) -> Any:
    """The scheduler of a validated entry (None: the learning rate stays constant)."""
    if options is None:
        return None
    cls, _ = SCHEDULERS[options["type"]]
    return cls(optimiser, **{k: v for k, v in options.items() if k != "type"})
