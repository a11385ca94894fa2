"""How many actors each metric gets and what each one reserves (CPUs, a GPU share, memory).

The registry declares what one model instance needs (:class:`metrics.registry.Resources`); a run may override
it per metric (:class:`ResourceOverride`). Small metrics declare a GPU fraction and share a GPU, large ones
declare 1 (or more) and get whole GPUs. :func:`place` turns that into one :class:`Placement` per metric of a
dataset pass and refuses, before any actor starts, a pass whose actors cannot all be placed at once (a Ray
Data pipeline whose actor pools do not fit would wait forever).

GPU feasibility is checked by packing the actors' GPU shares into whole GPUs, per node when the nodes' GPU
counts are given: a fractional share lives on one GPU, a whole-number share needs that many free GPUs on one
node (Ray's rules). Ray assigns GPUs in the order actors arrive, so a set that packs here could still be split
badly by Ray when shares of very different sizes are mixed; shares that divide each other (1, 1/2, 1/4, …)
pack the same way in any order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from metrics.spec import Resources
from orchestrator.run.cells import Cell

#: CPUs left free for the read + decode stage (actors that take every CPU starve it).
DECODE_RESERVE_CPUS = 0.5
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


def resource_override(metric: str, mapping: Mapping[str, Any], source: str = "resources") -> ResourceOverride:
    """Validate one metric's ``resources:`` mapping (from a run's options) into a :class:`ResourceOverride`.

    Keys: ``num_cpus`` (> 0), ``num_gpus`` (a fraction in [0, 1] or a whole number), ``memory_mb`` (integer
    > 0), ``workers`` (integer >= 1). Every problem raises :class:`ValueError` naming the source and metric.
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
    if values.get("workers") is not None and values["workers"] < 1:
        raise ValueError(f"{where}: workers must be >= 1, got {values['workers']}")
    override = ResourceOverride(**values)
    try:  # the same rules as the registry's declarations
        override.apply(Resources())
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    return override


@dataclass(frozen=True)
class Placement:
    metric: str
    workers: int
    num_cpus: float
    num_gpus: float
    memory_mb: int
    device: str
    threads: int

    @property
    def memory_bytes(self) -> int:
        """What each actor reserves as Ray's ``memory`` resource (bytes)."""
        return int(self.memory_mb) * MIB

    def ray_options(self) -> dict[str, Any]:
        """Per-actor resource arguments for ``map_batches`` / ``ray.remote``: ``num_cpus``, ``num_gpus``, ``memory``."""
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "memory": self.memory_bytes}
        if self.num_gpus > 0:
            options["num_gpus"] = self.num_gpus
        return options


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


def _gpu_shares(workers: Mapping[str, int], gpus: Mapping[str, float]) -> list[float]:
    return [gpus[m] for m in workers for _ in range(workers[m]) if gpus[m] > 0]


def place(cells: list[Cell], cluster_cpus: float, cluster_gpus: float, use_gpu: bool,
          num_workers: int | None = None, *, overrides: Mapping[str, ResourceOverride] | None = None,
          cluster_memory_bytes: float | None = None,
          gpus_per_node: Sequence[float] | None = None) -> list[Placement]:
    """One placement per cell of a dataset pass; never asks for more CPUs, GPUs or memory than the cluster has.

    ``overrides`` (metric → :class:`ResourceOverride`) replace the registry's resources for this run.
    Actors per metric: the override's ``workers``, else ``num_workers``, else an even share of the CPUs; with
    ``use_gpu`` and no explicit count, GPU metrics then get as many actors as fit, filling the GPUs so that
    each GPU metric holds about the same total GPU share (never more than the CPU-based count).
    ``cluster_memory_bytes`` (Ray's ``memory`` resource) and ``gpus_per_node`` (one GPU count per node; default:
    one node holding ``cluster_gpus``) enable the memory check and per-node GPU packing.
    """
    if not cells:
        return []
    if use_gpu and cluster_gpus <= 0:
        raise PlacementError("--use_gpu was given but the Ray cluster has no GPU")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - {c.metric for c in cells})
    if unknown:
        raise PlacementError(f"resource overrides for metric(s) not in this pass: {', '.join(unknown)}")
    nodes = list(gpus_per_node) if gpus_per_node is not None else [cluster_gpus]

    wanted = {c.metric: overrides.get(c.metric, ResourceOverride()).apply(c.spec.resources) for c in cells}
    gpus = {m: (r.num_gpus if use_gpu and r.num_gpus > 0 else 0.0) for m, r in wanted.items()}
    n = len(cells)
    cpu_workers = num_workers or max(1, int(cluster_cpus) // n)
    fixed = {c.metric: overrides[c.metric].workers for c in cells
             if c.metric in overrides and overrides[c.metric].workers is not None}
    workers = {c.metric: fixed.get(c.metric, cpu_workers) for c in cells}

    if use_gpu:
        auto = [m for m in workers if gpus[m] > 0 and m not in fixed and num_workers is None]
        for m in auto:
            workers[m] = 1
        if pack_gpus(_gpu_shares(workers, gpus), nodes) is None:
            detail = ", ".join(f"{m}: {workers[m]}×{gpus[m]:g}" for m in workers if gpus[m] > 0)
            raise PlacementError(
                f"the metrics of one pass ask for GPU shares ({detail}) that do not fit the cluster's GPUs "
                f"({', '.join(f'{g:g}' for g in nodes)} per node); lower --num_workers or the per-metric num_gpus"
            )
        _fill_gpus(workers, gpus, auto, cpu_workers, nodes)

    reserve = min(DECODE_RESERVE_CPUS, cluster_cpus / 4)
    available = max(cluster_cpus - reserve, 0.1)
    per_actor_share = available / sum(workers.values())
    placements = []
    for cell in cells:
        r = wanted[cell.metric]
        share = gpus[cell.metric]
        cpus = round(min(r.num_cpus, per_actor_share), 3) or 0.001
        threads = max(1, min(math.floor(r.num_cpus), int(cluster_cpus)) if share == 0 else 1)
        threads = max(1, min(threads, math.ceil(cpus)))
        placements.append(
            Placement(
                metric=cell.metric,
                workers=workers[cell.metric],
                num_cpus=cpus,
                num_gpus=share,
                memory_mb=r.memory_mb,
                device="cuda" if share > 0 else "cpu",
                threads=threads,
            )
        )
    if cluster_memory_bytes is not None:
        demand = sum(p.memory_bytes * p.workers for p in placements)
        if demand > cluster_memory_bytes:
            raise PlacementError(
                f"the metrics of one pass reserve {demand / MIB:.0f} MiB of memory "
                f"({', '.join(f'{p.metric}: {p.workers}×{p.memory_mb} MiB' for p in placements)}) but the cluster "
                f"offers {cluster_memory_bytes / MIB:.0f} MiB; lower --num_workers or the per-metric memory_mb"
            )
    return placements


def shared_actors(placements: list[Placement], cluster_cpus: float, num_workers: int | None = None,
                  overrides: Mapping[str, ResourceOverride] | None = None,
                  cluster_memory_bytes: float | None = None) -> Placement | None:
    """One data-parallel pool of actors that each hold every metric of the pass, where that beats a pool per metric.

    That is the case when all the metrics run on CPU and there are more of them than CPUs (a laptop running the
    classical zoo): one-metric actors would then get one worker each, share the cores anyway, and spend much of
    the CPU on starting up (a Python process importing torch each). Shared actors start once per CPU, split the
    batches between them, and score every metric on each batch (the decoded images never leave the actor).
    Not used when the run fixes actor counts (``--num_workers`` or a per-metric ``workers``), when any metric
    has a GPU, or when the models' memory does not fit. Returns None where the pass keeps one pool per metric.
    """
    if len(placements) < 2 or num_workers is not None or len(placements) <= cluster_cpus:
        return None
    if any(p.device != "cpu" for p in placements):
        return None
    if any(o.workers is not None for o in (overrides or {}).values()):
        return None
    memory_mb = sum(p.memory_mb for p in placements)
    workers = max(1, int(cluster_cpus))
    if cluster_memory_bytes is not None:
        workers = min(workers, int(cluster_memory_bytes // (memory_mb * MIB)))
        if workers < 1:
            return None
    reserve = min(DECODE_RESERVE_CPUS, cluster_cpus / 4)
    return Placement(
        metric="+".join(p.metric for p in placements),
        workers=workers,
        num_cpus=round(max(cluster_cpus - reserve, 0.1) / workers, 3),
        num_gpus=0.0,
        memory_mb=memory_mb,
        device="cpu",
        threads=1,
    )


def place_in_waves(cells: list[Cell], cluster_cpus: float, cluster_gpus: float, use_gpu: bool,
                   num_workers: int | None = None, **kwargs: Any) -> list[tuple[list[Cell], list[Placement]]]:
    """The cells of a dataset pass in consecutive waves whose actors all fit the cluster at once.

    One wave (the whole pass) whenever :func:`place` accepts it; otherwise cells join the current wave, in plan
    order, while it still places, and the next cell opens a new wave. Each wave is its own read of the dataset.
    A cell that cannot be placed even alone raises :class:`PlacementError` (naming it). ``kwargs`` are
    :func:`place`'s keyword arguments (``overrides`` may name metrics of other waves).
    """
    overrides = dict(kwargs.pop("overrides", None) or {})

    def attempt(group: list[Cell]) -> list[Placement]:
        own = {c.metric: overrides[c.metric] for c in group if c.metric in overrides}
        return place(group, cluster_cpus, cluster_gpus, use_gpu, num_workers, overrides=own, **kwargs)

    try:
        return [(list(cells), attempt(list(cells)))]
    except PlacementError:
        if len(cells) == 1:
            raise
    waves: list[tuple[list[Cell], list[Placement]]] = []
    current: list[Cell] = []
    placements: list[Placement] = []
    for cell in cells:
        try:
            placements = attempt(current + [cell])
            current.append(cell)
            continue
        except PlacementError:
            if not current:
                raise
        waves.append((current, placements))
        current, placements = [cell], attempt([cell])
    waves.append((current, placements))
    return waves


def _fill_gpus(workers: dict[str, int], gpus: Mapping[str, float], auto: list[str], cap: int,
               nodes: Sequence[float]) -> None:
    """Add actors to the ``auto`` GPU metrics, smallest total GPU share first, while they still pack."""
    growing = list(auto)
    while growing:
        metric = min(growing, key=lambda m: (workers[m] * gpus[m], auto.index(m)))
        if workers[metric] >= cap:
            growing.remove(metric)
            continue
        workers[metric] += 1
        if pack_gpus(_gpu_shares(workers, gpus), nodes) is None:
            workers[metric] -= 1
            growing.remove(metric)
