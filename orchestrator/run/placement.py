"""What one actor reserves, and whether a set of actors fits the cluster's GPUs.

The registry declares what one model instance needs (:class:`metrics.spec.Resources`); a run may override it
per metric (:class:`ResourceOverride`, ``resources:`` in ``--metric_opt``). Small metrics declare a GPU
fraction and share a GPU, large ones declare 1 (or more) and get whole GPUs. How many actors each metric gets
is :mod:`orchestrator.run.pools`'s job.

GPU feasibility is checked by packing the actors' GPU shares into whole GPUs, per node (:func:`pack_gpus`): a
fractional share lives on one GPU, a whole-number share needs that many free GPUs on one node (Ray's rules). Ray
assigns GPUs in the order actors arrive, so a set that packs here could still be split badly by Ray when shares
of very different sizes are mixed; shares that divide each other (1, 1/2, 1/4, …) pack the same way in any
order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from metrics.spec import Resources

MIB = 2**20
_EPS = 1e-9


class PlacementError(RuntimeError):
    pass


@dataclass(frozen=True)
class ResourceOverride:
    """A run's per-metric replacement for the registry's resources; ``None`` keeps the registry's value."""

    num_cpus: float | None = None
    num_gpus: float | None = None
    memory_mb: int | None = None
    #: Actors for this metric (overrides ``--num_workers`` and the automatic choice).
    workers: int | None = None

    def apply(self, declared: Resources) -> Resources:
        """The effective resources of one model instance (validated by :class:`Resources`)."""
        changes = {k: v for k, v in (("num_cpus", self.num_cpus), ("num_gpus", self.num_gpus),
                                     ("memory_mb", self.memory_mb)) if v is not None}
        return replace(declared, **changes)


OVERRIDE_KEYS = ("num_cpus", "num_gpus", "memory_mb", "workers")
#: The most actors a run may ask for one metric (``resources: {workers: N}``).
MAX_WORKERS = 10_000


def resource_override(metric: str, mapping: Mapping[str, Any], source: str = "resources") -> ResourceOverride:
    """Validate one metric's ``resources:`` mapping (from a run's options) into a :class:`ResourceOverride`.

    Keys: ``num_cpus`` (> 0), ``num_gpus`` (a fraction in [0, 1] or a whole number), ``memory_mb`` (integer
    > 0), ``workers`` (integer in [1, :data:`MAX_WORKERS`]). Every problem raises :class:`ValueError` naming the
    source and metric.
    """
    where = f"{source}: metric {metric!r}"
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{where}: resources must be a mapping, got {type(mapping).__name__}")
    unknown = sorted(set(map(str, mapping)) - set(OVERRIDE_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown resource key(s) {', '.join(unknown)} (known: {', '.join(OVERRIDE_KEYS)})")
    values: dict[str, Any] = {}
    for key in ("num_cpus", "num_gpus"):
        if key in mapping:
            value = mapping[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{where}: {key} must be a number, got {value!r}")
            values[key] = float(value)
    for key in ("memory_mb", "workers"):
        if key in mapping:
            value = mapping[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{where}: {key} must be an integer, got {value!r}")
            values[key] = value
    if values.get("workers") is not None and not 1 <= values["workers"] <= MAX_WORKERS:
        raise ValueError(f"{where}: workers must be >= 1 and <= {MAX_WORKERS}, got {values['workers']}")
    if values.get("num_gpus", 0.0) < 0:
        raise ValueError(f"{where}: num_gpus must be >= 0, got {values['num_gpus']:g}")
    override = ResourceOverride(**values)
    try:  # the same rules as the registry's declarations
        override.apply(Resources())
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    return override


def pack_gpus(shares: Sequence[float], gpus_per_node: Sequence[float]) -> list[tuple[int, int]] | None:
    """First-fit-decreasing packing of per-actor GPU shares onto the nodes' GPUs.

    Returns, for each share (in the given order), ``(node index, first GPU index on that node)``, or None when
    the shares cannot all be placed at once. A share in (0, 1) stays on one GPU; a whole number ``k`` takes
    ``k`` free GPUs of one node; a share above 1 that is not whole is refused (Ray refuses it too).
    """
    free = [[1.0] * int(math.floor(count + _EPS)) for count in gpus_per_node]
    where: list[tuple[int, int] | None] = [None] * len(shares)
    for index in sorted(range(len(shares)), key=lambda i: -shares[i]):
        share = shares[index]
        if share <= 0:
            raise ValueError(f"GPU share must be > 0, got {share}")
        if share > 1 + _EPS and not float(share).is_integer():
            return None
        found = None
        for node, gpus in enumerate(free):
            if share >= 1 - _EPS:
                whole = [g for g, left in enumerate(gpus) if left >= 1 - _EPS]
                if len(whole) >= int(round(share)):
                    for g in whole[: int(round(share))]:
                        gpus[g] = 0.0
                    found = (node, whole[0])
            else:
                for g, left in enumerate(gpus):
                    if left + _EPS >= share:
                        gpus[g] = left - share
                        found = (node, g)
                        break
            if found is not None:
                break
        if found is None:
            return None
        where[index] = found
    return [w for w in where if w is not None]
