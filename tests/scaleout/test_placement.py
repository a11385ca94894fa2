"""orchestrator.run.placement without Ray: per-run overrides, GPU packing and filling, memory, refusals."""

from __future__ import annotations

import pytest

from metrics.registry import MetricSpec, Resources
from orchestrator.run.placement import (
    MIB,
    PlacementError,
    ResourceOverride,
    pack_gpus,
    place,
    place_in_waves,
    resource_override,
)
from orchestrator.run.plan import Cell


def cell(name: str, num_gpus: float, num_cpus: float = 1.0, memory_mb: int = 100) -> Cell:
    spec = MetricSpec(name=name, mode="FR", lower_better=False, score_range=(0.0, 1.0), paper="test-only",
                      calibration="none", factory=lambda **_: None,
                      resources=Resources(num_cpus=num_cpus, num_gpus=num_gpus, memory_mb=memory_mb))
    return Cell(metric=name, dataset="fake", options={}, spec=spec, key=name)


SMALL_HALF_WHOLE = [cell("small", 0.25), cell("half", 0.5), cell("whole", 1.0)]


def by_metric(placements):
    return {p.metric: p for p in placements}


def gpu_total(placements) -> float:
    return sum(p.workers * p.num_gpus for p in placements)


def test_cpu_run_ignores_gpu_shares_and_reserves_memory():
    placements = by_metric(place(SMALL_HALF_WHOLE, 8, 4, use_gpu=False))
    for p in placements.values():
        assert p.num_gpus == 0 and p.device == "cpu" and p.workers == 8 // 3
        assert p.ray_options() == {"num_cpus": p.num_cpus, "memory": 100 * MIB}
    assert sum(p.workers * p.num_cpus for p in placements.values()) <= 8 - 0.5 + 1e-9


def test_gpu_metrics_fill_the_gpus_evenly_up_to_the_cpu_count():
    placements = by_metric(place(SMALL_HALF_WHOLE, 8, 4, use_gpu=True))
    # CPU-based cap 8 // 3 = 2 actors per metric; 2×0.25 + 2×0.5 + 2×1 = 3.5 GPUs pack onto 4.
    assert {m: p.workers for m, p in placements.items()} == {"small": 2, "half": 2, "whole": 2}
    assert placements["whole"].ray_options() == {"num_cpus": 1.0, "memory": 100 * MIB, "num_gpus": 1.0}
    assert all(p.device == "cuda" and p.threads == 1 for p in placements.values())


def test_gpu_fill_stops_when_nothing_more_fits():
    placements = place(SMALL_HALF_WHOLE, 64, 4, use_gpu=True)
    workers = {p.metric: p.workers for p in placements}
    shares = {p.metric: p.num_gpus for p in placements}
    assert gpu_total(placements) <= 4 + 1e-9
    flat = [shares[m] for m in workers for _ in range(workers[m])]
    assert pack_gpus(flat, [4]) is not None
    for metric in workers:  # maximal: one more actor of any metric no longer packs
        assert pack_gpus(flat + [shares[metric]], [4]) is None
    # Even fill: the whole-GPU metric does not starve the small ones, nor the reverse.
    totals = sorted(workers[m] * shares[m] for m in workers)
    assert totals[-1] - totals[0] <= 1.0


def test_explicit_workers_that_do_not_fit_are_refused_before_any_actor_starts():
    with pytest.raises(PlacementError, match="do not fit"):
        place([cell("a", 1.0), cell("b", 1.0), cell("c", 1.0)], 16, 4, use_gpu=True, num_workers=2)
    # Fragmentation: five 0.75 shares sum to 3.75 but only four fit on 4 GPUs.
    with pytest.raises(PlacementError):
        place([cell("big", 0.75)], 16, 4, use_gpu=True, num_workers=5)
    assert place([cell("big", 0.75)], 16, 4, use_gpu=True, num_workers=4)[0].workers == 4


def test_multi_gpu_actor_needs_its_gpus_on_one_node():
    two = cell("two", 2.0)
    assert place([two], 8, 2, use_gpu=True, gpus_per_node=[2])[0].num_gpus == 2.0
    with pytest.raises(PlacementError):
        place([two], 8, 2, use_gpu=True, gpus_per_node=[1, 1])


def test_pack_gpus_reports_where_each_share_goes():
    where = pack_gpus([0.25, 1.0, 0.5, 0.25], [2, 1])
    assert where is not None and len(where) == 4
    assert where[1] == (0, 0)  # the whole GPU is packed first
    assert len({where[0], where[2], where[3]}) == 1  # the fractions share one GPU
    assert pack_gpus([1.5], [4]) is None


def test_use_gpu_without_gpus_is_refused():
    with pytest.raises(PlacementError, match="no GPU"):
        place(SMALL_HALF_WHOLE, 8, 0, use_gpu=True)


def test_per_run_override_changes_share_memory_and_workers():
    overrides = {
        "small": resource_override("small", {"num_gpus": 1, "memory_mb": 2048}),
        "half": resource_override("half", {"workers": 3, "num_cpus": 0.5}),
    }
    placements = by_metric(place(SMALL_HALF_WHOLE, 8, 4, use_gpu=True, overrides=overrides))
    assert placements["small"].num_gpus == 1.0 and placements["small"].memory_bytes == 2048 * MIB
    assert placements["half"].workers == 3 and placements["half"].num_cpus == 0.5
    assert gpu_total(placements.values()) <= 4 + 1e-9
    with pytest.raises(PlacementError, match="not in this pass"):
        place(SMALL_HALF_WHOLE, 8, 4, use_gpu=True, overrides={"nope": ResourceOverride(num_gpus=0.5)})


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"gpus": 1}, "unknown resource key"),
        ({"num_gpus": "half"}, "must be a number"),
        ({"num_gpus": 1.5}, "num_gpus"),
        ({"num_cpus": 0}, "num_cpus must be > 0"),
        ({"memory_mb": 1.5}, "memory_mb must be an integer"),
        ({"workers": 0}, "workers must be >= 1"),
        ({"workers": True}, "workers must be an integer"),
        (["num_gpus", 1], "must be a mapping"),
    ],
)
def test_resource_override_validation_names_metric_and_source(mapping, message):
    with pytest.raises(ValueError, match=message) as info:
        resource_override("ssim", mapping, source="opts.yml")
    assert "opts.yml" in str(info.value) and "'ssim'" in str(info.value)


def test_memory_demand_beyond_the_cluster_is_refused():
    cells = [cell("fat", 0.0, memory_mb=4096)]
    assert place(cells, 4, 0, use_gpu=False, num_workers=2, cluster_memory_bytes=8192 * MIB)[0].workers == 2
    with pytest.raises(PlacementError, match="MiB of memory"):
        place(cells, 4, 0, use_gpu=False, num_workers=3, cluster_memory_bytes=8192 * MIB)


def test_a_pass_that_fits_is_one_wave():
    cells = [cell("a", 0.0, memory_mb=1000), cell("b", 0.0, memory_mb=1000)]
    waves = place_in_waves(cells, 2, 0, use_gpu=False, cluster_memory_bytes=8000 * MIB)
    assert [[c.metric for c in wave] for wave, _ in waves] == [["a", "b"]]


def test_metrics_whose_memory_does_not_fit_at_once_run_in_waves_in_plan_order():
    # 1 worker each: 3000 MB fits twice in 7000 MB, not three times
    cells = [cell(name, 0.0, memory_mb=3000) for name in "abcde"]
    waves = place_in_waves(cells, 2, 0, use_gpu=False, num_workers=1, cluster_memory_bytes=7000 * MIB)
    assert [[c.metric for c in wave] for wave, _ in waves] == [["a", "b"], ["c", "d"], ["e"]]
    for wave, placements in waves:
        assert [p.metric for p in placements] == [c.metric for c in wave]
        assert sum(p.memory_bytes * p.workers for p in placements) <= 7000 * MIB


def test_gpu_shares_that_do_not_pack_split_into_waves_and_overrides_follow_their_metric():
    cells = [cell("a", 1.0), cell("b", 1.0), cell("c", 0.5)]
    overrides = {"c": resource_override("c", {"num_gpus": 1})}
    waves = place_in_waves(cells, 8, 2, use_gpu=True, num_workers=1, overrides=overrides)
    assert [[c.metric for c in wave] for wave, _ in waves] == [["a", "b"], ["c"]]
    assert waves[1][1][0].num_gpus == 1.0


def test_a_metric_that_cannot_be_placed_alone_is_named():
    cells = [cell("small", 0.0, memory_mb=100), cell("huge", 0.0, memory_mb=50_000)]
    with pytest.raises(PlacementError, match="huge"):
        place_in_waves(cells, 2, 0, use_gpu=False, num_workers=1, cluster_memory_bytes=8000 * MIB)


def test_rows_per_task_are_whole_model_batches_capped_and_spread_over_the_actors():
    from orchestrator.run.execute import MAX_ROWS_PER_TASK, rows_per_task

    assert rows_per_task(1000, 8, 2) == MAX_ROWS_PER_TASK == 64  # many rows: the cap
    assert rows_per_task(80, 8, 2) == 16  # 80 / (4 tasks × 2 actors) = 10 → two model batches
    assert rows_per_task(80, 3, 2) == 12
    assert rows_per_task(5, 8, 4) == 8  # never less than one model batch
    assert rows_per_task(1000, 100, 2) == 100  # a model batch above the cap stays whole
    for rows, batch, actors in [(1, 1, 1), (7, 2, 3), (12345, 5, 7)]:
        task = rows_per_task(rows, batch, actors)
        assert task % batch == 0 and task >= batch
