"""Run as a script (in its own process): place test-only metrics on a Ray cluster with fake GPUs, start the
actors with the placement's Ray options and print, as JSON, which GPU(s) and share each actor received.

Usage: ``python fake_gpu_probe.py CONFIG_JSON``; CONFIG_JSON holds ``gpus`` (fake GPUs), ``cpus``,
``temp_dir``, ``metrics`` (name → [num_gpus, memory_mb]) and optionally ``num_workers`` and ``data`` (also run
one placement through a Ray Data actor pool).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import ray

from metrics.registry import MetricSpec, Resources
from orchestrator.run.placement import place
from orchestrator.run.plan import Cell


class Probe:
    """Reports what Ray gave this actor."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def report(self) -> dict:
        context = ray.get_runtime_context()
        return {
            "metric": self.metric,
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "accelerator_ids": context.get_accelerator_ids().get("GPU", []),
            "node_id": context.get_node_id(),
            "actor_id": context.get_actor_id(),
            "assigned": context.get_assigned_resources(),
        }

    def __call__(self, batch: dict) -> dict:  # as a Ray Data actor-pool stage
        report = self.report()
        n = len(batch["id"])
        batch["gpu_ids"] = np.array([",".join(report["gpu_ids"])] * n, dtype=object)
        batch["actor_id"] = np.array([report["actor_id"]] * n, dtype=object)
        return batch


def cells_for(metrics: dict[str, list[float]]) -> list[Cell]:
    cells = []
    for name, (num_gpus, memory_mb) in metrics.items():
        spec = MetricSpec(
            name=name, mode="FR", lower_better=False, score_range=(0.0, 1.0), paper="test-only",
            calibration="none", factory=lambda **_: None,
            resources=Resources(num_cpus=1.0, num_gpus=num_gpus, memory_mb=int(memory_mb)),
        )
        cells.append(Cell(metric=name, dataset="fake", options={}, spec=spec, key=name))
    return cells


def main(config: dict) -> dict:
    ray.init(num_cpus=config["cpus"], num_gpus=config["gpus"], include_dashboard=False,
             _temp_dir=config["temp_dir"], log_to_driver=False)
    try:
        resources = ray.cluster_resources()
        placements = place(cells_for(config["metrics"]), resources["CPU"], resources["GPU"], True,
                           config.get("num_workers"), cluster_memory_bytes=resources.get("memory"))
        actors = []
        for p in placements:
            cls = ray.remote(**p.ray_options())(Probe)
            actors += [cls.remote(p.metric) for _ in range(p.workers)]
        reports = ray.get([a.report.remote() for a in actors], timeout=120)
        result = {"placements": [dict(p.__dict__, ray_options=p.ray_options()) for p in placements],
                  "actors": reports, "cluster": resources}
        for a in actors:
            ray.kill(a)
        if config.get("data"):
            p = next(p for p in placements if p.metric == config["data"])
            ds = ray.data.range(16).map_batches(
                Probe, fn_constructor_kwargs={"metric": p.metric}, batch_size=4,
                compute=ray.data.ActorPoolStrategy(size=p.workers), **p.ray_options(),
            )
            rows = ds.take_all()
            result["data_stage"] = {"rows": len(rows), "gpu_ids": sorted({r["gpu_ids"] for r in rows}),
                                    "actors": sorted({r["actor_id"] for r in rows})}
        return result
    finally:
        ray.shutdown()


if __name__ == "__main__":
    print("PROBE-RESULT " + json.dumps(main(json.loads(sys.argv[1]))), flush=True)
