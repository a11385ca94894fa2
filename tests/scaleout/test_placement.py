"""Sizing without Ray: the cost model, work-proportional pools, GPU packing, deferred pools (waves) in
longest-first order, memory, bundles of cheap metrics, per-run overrides and the predicted makespan."""

from __future__ import annotations

import pytest

from metrics.spec import MetricSpec
from orchestrator.run.cost import REFERENCE_PIXELS, MetricCost, metric_cost, pyiqa_table
from orchestrator.run.placement import MIB, PlacementError, pack_gpus, resource_override
from orchestrator.run.pools import (ClusterShape, Held, MetricDemand, check_fits, grow, lower_bound, make_pools,
                                    predict, worth_another)

FOUR_GPUS = ClusterShape(cpus=8, gpus_per_node=(4.0,))


def demand(name, gpus, work, load=1.0, memory_mb=100, cpus=1.0, fixed=None):
    return MetricDemand(name, cpus, gpus, memory_mb, load, work, fixed)


THREE = [demand("fast", 0.25, 1.4, 1), demand("mid", 0.5, 14, 3), demand("slow", 1.0, 70, 5)]


def test_actor_counts_follow_each_metrics_share_of_the_work():
    pools = make_pools(THREE, FOUR_GPUS)
    prediction = predict(pools, FOUR_GPUS)
    start = prediction.initial_workers
    # The slow metric holds most of the GPUs from the start; the cheap ones one actor each.
    assert start["slow"] == 3 and start["mid"] == 1 and 1 <= start["fast"] <= 2
    shares = {p.name: p.num_gpus for p in pools}
    flat = [shares[m] for m, k in start.items() for _ in range(k)]
    assert pack_gpus(flat, [4]) is not None and sum(flat) <= 4
    # When the cheap pools finish, their GPUs go to the slow one (a 4th actor is worth its 5 s load).
    assert prediction.peak_workers["slow"] == 4
    # The bound: GPU-seconds / GPUs + the longest load = (0.35 + 7 + 70) / 4 + 5.
    assert prediction.lower_bound == pytest.approx(77.35 / 4 + 5)
    assert prediction.lower_bound / prediction.makespan >= 0.9


def test_an_even_split_would_be_slower_than_the_proportional_one():
    pools = make_pools(THREE, FOUR_GPUS)
    proportional = predict(pools, FOUR_GPUS).makespan
    fixed = [demand(d.metric, d.num_gpus, d.work_seconds, d.load_seconds, fixed=1) for d in THREE]
    assert predict(make_pools(fixed, FOUR_GPUS), FOUR_GPUS).makespan > 2 * proportional


def test_pools_that_do_not_fit_at_once_wait_longest_first_and_start_as_room_frees():
    # 3 GB of memory: each metric's actor takes 1 GB, so one runs at a time beside the others' first actors.
    cluster = ClusterShape(cpus=8, gpus_per_node=(), memory_bytes=2048 * MIB)
    demands = [demand(n, 0.0, w, load=0.1, memory_mb=1024) for n, w in (("a", 10), ("b", 30), ("c", 20))]
    pools = make_pools(demands, cluster)
    prediction = predict(pools, cluster)
    assert set(prediction.initial_workers) == {"b", "c"}  # the two longest start
    assert prediction.deferred == ("a",)
    assert prediction.makespan == pytest.approx(30.1 + 0.0, abs=0.5) or prediction.makespan < 31


def test_an_actor_that_cannot_fit_even_alone_is_named():
    with pytest.raises(PlacementError, match="fat"):
        check_fits(make_pools([demand("fat", 0.0, 1, memory_mb=4096)], ClusterShape(4, (), 2048 * MIB)),
                   ClusterShape(4, (), 2048 * MIB))
    with pytest.raises(PlacementError, match="two"):
        check_fits(make_pools([demand("two", 2.0, 1)], ClusterShape(8, (1.0, 1.0))), ClusterShape(8, (1.0, 1.0)))
    check_fits(make_pools([demand("two", 2.0, 1)], ClusterShape(8, (2.0,))), ClusterShape(8, (2.0,)))


def test_grow_never_oversubscribes_gpus_and_stops_when_an_actor_is_not_worth_its_load():
    pools = make_pools(THREE, FOUR_GPUS)
    held = Held()
    added = grow(pools, {}, {p.name: p.work_seconds for p in pools}, held, FOUR_GPUS)
    assert pack_gpus(held.gpu_shares, [4]) is not None
    assert sorted(set(added)) == ["fast", "mid", "slow"]
    # Nearly done: one more actor would finish after the current ones.
    assert not worth_another(left=2.0, have=2, load_seconds=5.0)
    assert worth_another(left=100.0, have=2, load_seconds=5.0)
    # A long pool on a big cluster keeps growing: a 21st actor saves ~583 s of a 12,233 s pool (4.8 %, under
    # the relative gain) for a 6 s load.
    assert worth_another(left=244_662.0, have=20, load_seconds=6.0)
    assert not worth_another(left=20 * 6.0 * 2, have=20, load_seconds=6.0)


def test_a_pool_with_most_of_the_work_gets_its_share_of_a_big_cluster():
    """Regression: the 64-GPU projection held its heaviest pool (37 % of the GPU-seconds) at 19 actors."""
    demands = [demand("heavy", 1.0, 250_000.0, load=6.0)] + [demand(f"m{i}", 0.25, 6_000.0, load=6.0)
                                                             for i in range(60)]
    cluster = ClusterShape(512, (64.0,))
    pools = make_pools(demands, cluster)
    prediction = predict(pools, cluster)
    assert prediction.peak_workers["heavy"] > 20
    assert prediction.makespan < 1.05 * prediction.lower_bound


def test_fixed_workers_are_kept():
    pools = make_pools([demand("a", 0.5, 10, fixed=3), demand("b", 0.5, 100)], FOUR_GPUS)
    assert predict(pools, FOUR_GPUS).initial_workers["a"] == 3


def test_cpu_metrics_that_outnumber_the_cpus_share_one_pool_of_one_actor_per_cpu():
    cluster = ClusterShape(cpus=2)
    pools = make_pools([demand(n, 0.0, 10) for n in "abcd"], cluster)
    assert len(pools) == 1 and pools[0].metrics == tuple("abcd")
    assert predict(pools, cluster).initial_workers[pools[0].name] == 2
    assert pools[0].num_cpus * 2 <= 2 - 0.5 + 1e-9


def test_cheap_gpu_metrics_are_bundled_by_share_and_expensive_ones_keep_their_own_pool():
    demands = [demand(f"tiny{i}", 0.25, 1.0, load=0.5) for i in range(6)] + [demand("big", 1.0, 400)]
    pools = make_pools(demands, FOUR_GPUS)
    assert any(p.name == "big" for p in pools)
    bundles = [p for p in pools if len(p.metrics) > 1]
    assert bundles and all(p.num_gpus == 0.25 for p in bundles)
    assert sorted(m for p in pools for m in p.metrics) == sorted(d.metric for d in demands)
    # GPU actors reserve CPUs in proportion to their share, so a full GPU of small actors never lacks CPUs.
    assert all(p.num_cpus <= 1.0 for p in pools)


def test_lower_bound_on_a_cpu_cluster_spreads_cpu_seconds_over_the_usable_cpus():
    pools = make_pools([demand("a", 0.0, 30, load=2.0)], ClusterShape(cpus=4))
    assert lower_bound(pools, ClusterShape(cpus=4)) == pytest.approx(30 * 1.0 / 3.5 + 2.0)


def test_cost_model_prefers_measurements_then_pyiqa_table_then_defaults():
    spec = MetricSpec(name="ssim", mode="FR", lower_better=False, score_range=(0, 1), paper="p", calibration="unverified",
                      factory=lambda: None)
    measured = metric_cost(spec, "cuda", {"seconds_per_image": {"cuda": 0.2}, "load_seconds": 3, "at_pixels": 100})
    assert (measured.source, measured.seconds_per_image, measured.load_seconds) == ("measured", 0.2, 3.0)
    published = metric_cost(spec, "cpu")
    assert published.source == "pyiqa table" and published.seconds_per_image == pyiqa_table()["ssim"]["cpu"]
    unknown = metric_cost(MetricSpec(name="zzz", mode="NR", lower_better=False, score_range=(0, 1), paper="p",
                                     calibration="unverified", factory=lambda: None), "cpu")
    assert unknown.source == "default"


def test_seconds_scale_affinely_with_the_pixel_count():
    cost = MetricCost("m", "cpu", 1.0, 1.0, at_pixels=REFERENCE_PIXELS)
    assert cost.seconds_for(REFERENCE_PIXELS) == pytest.approx(1.0)
    assert cost.seconds_for(REFERENCE_PIXELS / 4) == pytest.approx(0.1 + 0.9 / 4)
    assert cost.seconds_for(4 * REFERENCE_PIXELS) == pytest.approx(0.1 + 0.9 * 4)


def test_pack_gpus_reports_where_each_share_goes():
    where = pack_gpus([0.25, 1.0, 0.5, 0.25], [2, 1])
    assert where is not None and len(where) == 4
    assert where[1] == (0, 0)  # the whole GPU is packed first
    assert len({where[0], where[2], where[3]}) == 1  # the fractions share one GPU
    assert pack_gpus([1.5], [4]) is None


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




ONE_GPU_SLOW_START = ClusterShape(cpus=8, gpus_per_node=(1.0,), actor_start_seconds=5.0)


def test_a_new_actor_pays_the_start_one_handed_over_only_its_models_load():
    # A finishes at 5 + 1 + 10 = 16 s; B takes A's actor over (same shape) and loads for 1 s: done at 27 s. A new
    # actor for B would have started at 16 + 5 + 1 = 22 s and finished at 32 s.
    pools = make_pools([demand("a", 1.0, 10, load=1.0), demand("b", 1.0, 10, load=1.0)], ONE_GPU_SLOW_START)
    assert predict(pools, ONE_GPU_SLOW_START).makespan == pytest.approx(27.0)
    # A pool of another GPU share cannot take the actor over: its actors pay the start.
    pools = make_pools([demand("a", 1.0, 10, load=1.0), demand("b", 0.5, 10, load=1.0)], ONE_GPU_SLOW_START)
    assert predict(pools, ONE_GPU_SLOW_START).makespan >= 16 + 5 + 1 + 10 / 2


def test_an_actor_is_taken_over_by_a_pool_of_its_share_with_no_more_cpus_or_memory():
    big, = make_pools([demand("big", 1.0, 10, memory_mb=400, cpus=2.0)], FOUR_GPUS)
    same, = make_pools([demand("same", 1.0, 10, memory_mb=400, cpus=2.0)], FOUR_GPUS)
    fatter, = make_pools([demand("fatter", 1.0, 10, memory_mb=800, cpus=2.0)], FOUR_GPUS)
    half, = make_pools([demand("half", 0.5, 10, memory_mb=100)], FOUR_GPUS)
    cpu, = make_pools([demand("cpu", 0.0, 10, memory_mb=100)], FOUR_GPUS)
    assert same.takes_over(big) and not fatter.takes_over(big)
    assert not half.takes_over(big) and not big.takes_over(half) and not cpu.takes_over(half)


def test_hand_over_judges_the_worth_of_an_actor_on_its_models_load_only():
    from orchestrator.run.pools import hand_over_to

    cluster = ClusterShape(cpus=8, gpus_per_node=(2.0,), actor_start_seconds=30.0)
    pools = {p.name: p for p in make_pools([demand("done", 1.0, 1.0), demand("busy", 1.0, 20.0)], cluster)}
    done, busy = pools["done"], pools["busy"]
    held = Held()
    held.add(busy)
    # 20 s left on one actor: a new actor (30 s start + 1 s load) is not worth it, one already up (1 s load) is.
    assert grow([busy], {"busy": 1}, {"busy": 20.0}, held.copy(), cluster) == []
    assert hand_over_to([busy], {"busy": 1}, {"busy": 20.0}, held, cluster, done) == "busy"
    assert hand_over_to([busy], {"busy": 1}, {"busy": 20.0}, held, cluster, make_pools(
        [demand("small", 0.5, 1.0)], cluster)[0]) is None


def test_pools_of_one_gpu_share_reserve_alike_when_memory_allows_so_any_can_take_over_another():
    demands = [demand("light", 0.25, 300, memory_mb=100), demand("heavy", 0.25, 300, memory_mb=900),
               demand("whole", 1.0, 600, memory_mb=2000)]
    roomy = ClusterShape(cpus=8, gpus_per_node=(4.0,), memory_bytes=64 * 1024 * MIB)
    pools = {p.name: p for p in make_pools(demands, roomy)}
    assert pools["light"].memory_mb == pools["heavy"].memory_mb == 900
    assert pools["light"].takes_over(pools["heavy"]) and pools["heavy"].takes_over(pools["light"])
    assert pools["whole"].memory_mb == 2000 and not pools["whole"].takes_over(pools["light"])
    # A few quarter-GPU actors × 900 MB do not fit in half of 4 GB: each keeps its own reservation.
    tight = ClusterShape(cpus=8, gpus_per_node=(4.0,), memory_bytes=4 * 1024 * MIB)
    pools = {p.name: p for p in make_pools(demands, tight)}
    assert (pools["light"].memory_mb, pools["heavy"].memory_mb) == (100, 900)
    assert not pools["heavy"].takes_over(pools["light"])


def test_even_reservations_let_a_finished_pools_actor_serve_a_bigger_one_in_the_replay():
    cluster = ClusterShape(cpus=8, gpus_per_node=(1.0,), memory_bytes=64 * 1024 * MIB, actor_start_seconds=5.0)
    pools = make_pools([demand("small", 1.0, 10, load=1.0, memory_mb=100),
                        demand("large", 1.0, 10, load=1.0, memory_mb=800)], cluster)
    # One GPU: "small" starts (equal work: the first listed), then "large" takes its actor over although it needs
    # more memory: 5 + 1 + 10 + 1 + 10 = 27 s, not 32 s with a second actor start.
    assert predict(pools, cluster).makespan == pytest.approx(27.0)
