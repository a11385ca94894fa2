"""How many actors each metric gets and what each one reserves, from the registry and the cluster."""

from __future__ import annotations

import math
from dataclasses import dataclass

from orchestrator.plan import Cell

#: CPUs left free for the read + decode stage (actors that take every CPU starve it).
DECODE_RESERVE_CPUS = 0.5


@dataclass(frozen=True)
class Placement:
    metric: str
    workers: int
    num_cpus: float
    num_gpus: float
    memory_mb: int
    device: str
    threads: int


class PlacementError(RuntimeError):
    pass


def place(cells: list[Cell], cluster_cpus: float, cluster_gpus: float, use_gpu: bool,
          num_workers: int | None = None) -> list[Placement]:
    """One placement per cell of a dataset pass; never asks for more CPUs or GPUs than the cluster has."""
    if not cells:
        return []
    if use_gpu and cluster_gpus <= 0:
        raise PlacementError("--use_gpu was given but the Ray cluster has no GPU")
    reserve = min(DECODE_RESERVE_CPUS, cluster_cpus / 4)
    available = max(cluster_cpus - reserve, 0.1)
    n = len(cells)
    workers = num_workers or max(1, int(cluster_cpus) // n)
    per_actor_share = available / (n * workers)
    placements = []
    for cell in cells:
        wanted = cell.spec.resources
        gpus = wanted.num_gpus if use_gpu and wanted.num_gpus > 0 else 0.0
        cpus = round(min(wanted.num_cpus, per_actor_share), 3) or 0.001
        threads = max(1, min(math.floor(wanted.num_cpus), int(cluster_cpus)) if gpus == 0 else 1)
        threads = max(1, min(threads, math.ceil(cpus)))
        placements.append(
            Placement(
                metric=cell.metric,
                workers=workers,
                num_cpus=cpus,
                num_gpus=gpus,
                memory_mb=wanted.memory_mb,
                device="cuda" if gpus > 0 else "cpu",
                threads=threads,
            )
        )
    if use_gpu:
        demand = sum(p.num_gpus * p.workers for p in placements)
        if demand > cluster_gpus + 1e-9:
            # Ray would queue the extra actors; say so rather than deadlock a pass waiting for them.
            raise PlacementError(
                f"the metrics of one pass ask for {demand:g} GPUs ({', '.join(f'{p.metric}: {p.workers}×{p.num_gpus:g}' for p in placements)}) "
                f"but the cluster has {cluster_gpus:g}; lower --num_workers or the per-metric num_gpus"
            )
    return placements
