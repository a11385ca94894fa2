"""Actor pools sized from their share of the work, and the one growth policy both the planner's prediction and the
running scheduler follow.

A *pool* scores one metric (or a bundle of cheap metrics that share actors) with actors that load the model once
per run and serve every dataset. Its *work* is the seconds one actor would need for every image it must score.
:func:`grow` hands out actors one at a time to the pool that would finish last, while the cluster has room for
another of its actors (GPU shares packed onto whole GPUs per node, CPUs, memory) and while the extra actor saves
more than it costs to load. Starting from no actors this sizes every pool in proportion to its work, so that all
pools finish together; pools that do not fit at first (memory, GPU shares) start, longest first, as soon as
others finish and free their resources; during a run the scheduler calls it again with measured rates.
The actors of a pool that has finished are handed over to pools that want actors of their shape (they load the new
models in their process instead of a new actor starting one: see ``ClusterShape.actor_start_seconds``).
:func:`predict` replays the same policy in simulated time to predict the makespan.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

from orchestrator.run.placement import MIB, PlacementError, pack_gpus

#: CPUs left free for the decode tasks (at least; a big cluster keeps :data:`DECODE_SHARE` of its CPUs).
DECODE_RESERVE_CPUS = 0.5
DECODE_SHARE = 0.1
#: An extra actor is worth starting when it brings its pool's finish forward by at least this fraction...
WORTH_GAIN = 0.05
#: ... or by more than this many model loads (a long pool on a big cluster: with a fraction alone, a pool of 20
#: actors could never get a 21st, however much work it had left).
WORTH_LOADS = 2.0


@dataclass(frozen=True)
class ClusterShape:
    """What the Ray cluster offers: CPUs, GPUs per node, and Ray's ``memory`` resource (bytes, None: unchecked)."""

    cpus: float
    gpus_per_node: tuple[float, ...] = ()
    memory_bytes: float | None = None
    #: Seconds a new actor takes before its models load: Ray starts a worker process and it imports the scoring
    #: code. An actor handed over from a finished pool does not pay it (only its new models' load).
    actor_start_seconds: float = 0.0

    @property
    def gpus(self) -> float:
        return float(sum(self.gpus_per_node))

    @property
    def decode_cpus(self) -> float:
        """CPUs kept free for the decode tasks: :data:`DECODE_RESERVE_CPUS`, or a tenth of a big cluster's, at most
        a quarter of a small one's."""
        return min(max(DECODE_RESERVE_CPUS, DECODE_SHARE * self.cpus), self.cpus / 4)

    @property
    def usable_cpus(self) -> float:
        """CPUs for actors: all but the decode tasks' reserve."""
        return max(self.cpus - self.decode_cpus, 0.1)


@dataclass(frozen=True)
class PoolSpec:
    """One pool: the metrics its actors hold and what one actor reserves and costs."""

    name: str
    metrics: tuple[str, ...]
    num_cpus: float
    num_gpus: float
    memory_mb: int
    threads: int
    load_seconds: float
    #: Seconds one actor needs for every image of the pool (estimated at plan time).
    work_seconds: float
    #: Actors fixed by the run (``--num_workers`` or a metric's ``resources: {workers}``); None: sized by work.
    fixed_workers: int | None = None

    @property
    def device(self) -> str:
        return "cuda" if self.num_gpus > 0 else "cpu"

    def takes_over(self, reservation: "PoolSpec") -> bool:
        """Whether an actor that reserved ``reservation`` can hold this pool's models instead: the same device and
        GPU share, no more CPUs or memory."""
        return (self.device == reservation.device and self.num_gpus == reservation.num_gpus
                and self.num_cpus <= reservation.num_cpus and self.memory_mb <= reservation.memory_mb)


@dataclass
class Held:
    """Resources held by running actors."""

    cpus: float = 0.0
    memory_bytes: float = 0.0
    gpu_shares: list[float] = field(default_factory=list)

    def copy(self) -> "Held":
        return Held(self.cpus, self.memory_bytes, list(self.gpu_shares))

    def add(self, pool: PoolSpec) -> None:
        self.cpus += pool.num_cpus
        self.memory_bytes += pool.memory_mb * MIB
        if pool.num_gpus > 0:
            self.gpu_shares.append(pool.num_gpus)

    def remove(self, pool: PoolSpec) -> None:
        self.cpus -= pool.num_cpus
        self.memory_bytes -= pool.memory_mb * MIB
        if pool.num_gpus > 0:
            self.gpu_shares.remove(pool.num_gpus)


def fits(pool: PoolSpec, held: Held, cluster: ClusterShape) -> bool:
    """Whether one more actor of ``pool`` fits beside the ``held`` ones."""
    if held.cpus + pool.num_cpus > cluster.usable_cpus + 1e-9:
        return False
    if cluster.memory_bytes is not None and held.memory_bytes + pool.memory_mb * MIB > cluster.memory_bytes:
        return False
    if pool.num_gpus > 0:
        return pack_gpus(held.gpu_shares + [pool.num_gpus], list(cluster.gpus_per_node)) is not None
    return True


def check_fits(pools: Sequence[PoolSpec], cluster: ClusterShape) -> None:
    """Refuse, before any actor starts, a pool one of whose actors could not fit even on an empty cluster."""
    empty = Held()
    bad = [f"{p.name} ({p.num_cpus:g} CPU, {p.num_gpus:g} GPU, {p.memory_mb} MB per actor)"
           for p in pools if not fits(p, empty, cluster)]
    if bad:
        memory = f", {cluster.memory_bytes / MIB:.0f} MiB" if cluster.memory_bytes is not None else ""
        raise PlacementError(
            f"no actor of {', '.join(bad)} fits the cluster ({cluster.cpus:g} CPU, GPUs per node "
            f"{list(cluster.gpus_per_node) or [0]}{memory}); lower the metric's num_gpus / memory_mb in --metric_opt")


def worth_another(left: float, have: int, load_seconds: float) -> bool:
    """Whether one more actor (which works only after loading its model) ends a pool with ``left`` single-actor
    seconds of work and ``have`` working actors sooner by at least :data:`WORTH_GAIN` of its time left, or by
    more than :data:`WORTH_LOADS` model loads."""
    now = left / have
    later = load_seconds + max(0.0, left - have * load_seconds) / (have + 1)
    return later < now * (1 - WORTH_GAIN) or now - later > WORTH_LOADS * load_seconds


def grow(pools: Sequence[PoolSpec], workers: Mapping[str, int], remaining: Mapping[str, float],
         held: Held, cluster: ClusterShape) -> list[str]:
    """The pools to give one more actor each, in order (a pool may appear several times).

    ``workers``: actors each pool has (running or starting); ``remaining``: seconds one actor would still need for
    the pool's images. Pools without actors come first (longest work first); then the pool that would finish
    last gets an actor, while one fits and is worth its start and load time. ``held`` is updated.
    """
    count = dict(workers)
    added: list[str] = []
    while True:
        best: tuple[float, float, PoolSpec] | None = None
        for pool in pools:
            left = remaining.get(pool.name, 0.0)
            have = count.get(pool.name, 0)
            if left <= 0 or (pool.fixed_workers is not None and have >= pool.fixed_workers):
                continue
            if have > 0 and pool.fixed_workers is None and not worth_another(
                    left, have, cluster.actor_start_seconds + pool.load_seconds):
                continue
            wanting = have == 0 or (pool.fixed_workers is not None and have < pool.fixed_workers)
            finish = math.inf if wanting else left / have
            if not fits(pool, held, cluster):
                continue
            key = (finish, left)
            if best is None or key > best[:2]:
                best = (finish, left, pool)
        if best is None:
            return added
        pool = best[2]
        held.add(pool)
        count[pool.name] = count.get(pool.name, 0) + 1
        added.append(pool.name)


def hand_over_to(pools: Sequence[PoolSpec], workers: Mapping[str, int], remaining: Mapping[str, float],
                 held: Held, cluster: ClusterShape, reservation: PoolSpec) -> str | None:
    """The pool an idle actor that reserved ``reservation`` should serve next: the first pool :func:`grow` would
    give an actor now that :meth:`PoolSpec.takes_over` the reservation (its worth judged on a model load only: the
    actor's process is up). ``held``: what the other actors hold (without this one); left unchanged."""
    up = replace(cluster, actor_start_seconds=0.0)
    for name in grow(pools, workers, remaining, held.copy(), up):
        if next(p for p in pools if p.name == name).takes_over(reservation):
            return name
    return None


@dataclass(frozen=True)
class Prediction:
    """The policy replayed in simulated time: when the last pool finishes and how many actors each pool starts
    with (and at most holds)."""

    makespan: float
    initial_workers: dict[str, int]
    peak_workers: dict[str, int]
    #: Pools that cannot start at once (they wait for others to free resources).
    deferred: tuple[str, ...]
    lower_bound: float


def lower_bound(pools: Iterable[PoolSpec], cluster: ClusterShape) -> float:
    """No schedule beats this: the GPU-seconds (or CPU-seconds, on a CPU-only cluster) of all the work spread
    over every GPU (CPU), plus the longest model load."""
    pools = list(pools)
    if not pools:
        return 0.0
    if cluster.gpus > 0 and any(p.num_gpus > 0 for p in pools):
        area = sum(p.work_seconds * p.num_gpus for p in pools if p.num_gpus > 0) / cluster.gpus
    else:
        area = sum(p.work_seconds * p.num_cpus for p in pools) / cluster.usable_cpus
    return area + max(p.load_seconds for p in pools)


def predict(pools: Sequence[PoolSpec], cluster: ClusterShape) -> Prediction:
    """Replay :func:`grow` over time: actors start (worker process, then models), work at their
    pool's rate, and the resources of a finished pool go to the pools still working; its actors are handed over
    to pools of their shape (they load models only), as the scheduler does."""
    remaining = {p.name: p.work_seconds for p in pools}
    by_name = {p.name: p for p in pools}
    held = Held()
    workers: dict[str, int] = {}
    # (time the actor starts working, pool)
    starting: list[tuple[float, str]] = []
    working: dict[str, int] = {}
    now = 0.0

    def start(names: list[str]) -> None:
        for name in names:
            workers[name] = workers.get(name, 0) + 1
            heapq.heappush(starting, (now + cluster.actor_start_seconds + by_name[name].load_seconds, name))

    start(grow(pools, workers, remaining, held, cluster))
    initial = dict(workers)
    peak = dict(workers)
    deferred = tuple(p.name for p in pools if p.name not in initial and p.work_seconds > 0)
    finished: set[str] = set()
    for _ in range(100_000):
        active = {n: k for n, k in working.items() if k > 0 and remaining[n] > 0}
        next_start = starting[0][0] if starting else math.inf
        next_finish, finishing = math.inf, None
        for name, k in active.items():
            t = now + remaining[name] / k
            if t < next_finish:
                next_finish, finishing = t, name
        step_to = min(next_start, next_finish)
        if step_to == math.inf:
            break
        for name, k in active.items():
            remaining[name] = max(0.0, remaining[name] - k * (step_to - now))
        now = step_to
        if next_start <= next_finish:
            _, name = heapq.heappop(starting)
            working[name] = working.get(name, 0) + 1
        else:
            name = finishing
            remaining[name] = 0.0
        for name in [n for n in remaining if remaining[n] <= 1e-12 and n not in finished and workers.get(n)]:
            # Every actor of the pool stops (those still loading too) and frees its resources.
            finished.add(name)
            starting[:] = [(t, n) for t, n in starting if n != name]
            heapq.heapify(starting)
            actors, workers[name], working[name] = workers[name], 0, 0
            for _ in range(actors):  # each is handed over to a pool that wants one of its shape, or stops
                held.remove(by_name[name])
                taker = hand_over_to(pools, workers, remaining, held, cluster, by_name[name])
                if taker is not None:
                    held.add(by_name[name])
                    workers[taker] = workers.get(taker, 0) + 1
                    heapq.heappush(starting, (now + by_name[taker].load_seconds, taker))
        # Pools still loading count their starting actors too (the runtime does the same).
        start(grow(pools, workers, remaining, held, cluster))
        for name, k in workers.items():
            peak[name] = max(peak.get(name, 0), k)
    return Prediction(makespan=now, initial_workers=initial, peak_workers=peak, deferred=deferred,
                      lower_bound=lower_bound(pools, cluster))


@dataclass(frozen=True)
class MetricDemand:
    """One metric's part of a run: what an actor of it reserves and how much single-actor work it has."""

    metric: str
    num_cpus: float
    num_gpus: float
    memory_mb: int
    load_seconds: float
    work_seconds: float
    fixed_workers: int | None = None


def make_pools(demands: Sequence[MetricDemand], cluster: ClusterShape) -> list[PoolSpec]:
    """Pools for the metrics of a run: one per metric, except that cheap metrics share actors.

    - CPU metrics that outnumber the CPUs (a laptop running the classical zoo) share one pool whose actors hold
      all of them, one CPU each: one-metric actors would share the cores anyway and spend them starting up.
    - GPU metrics whose whole work is a small part of the run (less than half of an even share of the GPUs) are
      bundled, metrics of one GPU share together, until a bundle holds about that half: a bundle's actor loads its
      models one after another, so a bundle never holds more than an even share. (The bundle's actor reserves the
      largest of its metrics' GPU shares and the sum of their memory.)
    GPU actors reserve CPUs in proportion to their GPU share (a whole GPU: the CPUs per GPU), so that a GPU full
    of small actors never runs out of CPUs first; CPU actors reserve what their metric declares.
    """
    usable = cluster.usable_cpus
    cpu_side = [d for d in demands if d.num_gpus <= 0]
    gpu_side = [d for d in demands if d.num_gpus > 0]
    cpus_for_gpu_actors = usable * (0.5 if cpu_side else 1.0)
    cpus_per_gpu = cpus_for_gpu_actors / max(cluster.gpus, 1.0)
    pools: list[PoolSpec] = []

    if len(cpu_side) > usable and len(cpu_side) > 1 and all(d.fixed_workers is None for d in cpu_side):
        per_actor = round(usable / max(1, int(cluster.cpus)), 3)  # one actor per CPU, sharing the decode reserve
        pools.append(PoolSpec(
            name="+".join(d.metric for d in cpu_side), metrics=tuple(d.metric for d in cpu_side), num_cpus=per_actor,
            num_gpus=0.0, memory_mb=sum(d.memory_mb for d in cpu_side), threads=1,
            load_seconds=sum(d.load_seconds for d in cpu_side), work_seconds=sum(d.work_seconds for d in cpu_side)))
    else:
        # Actor counts a run fixes (--num_workers) are honoured: their CPU reservations shrink to fit together.
        fixed_demand = sum(d.num_cpus * d.fixed_workers for d in cpu_side if d.fixed_workers)
        fixed_scale = min(1.0, usable / fixed_demand) if fixed_demand else 1.0
        for d in cpu_side:
            cpus = round(min(d.num_cpus * (fixed_scale if d.fixed_workers else 1.0), usable), 3)
            pools.append(PoolSpec(d.metric, (d.metric,), cpus, 0.0, d.memory_mb, max(1, math.floor(cpus)),
                                  d.load_seconds, d.work_seconds, d.fixed_workers))

    def gpu_pool(members: list[MetricDemand]) -> PoolSpec:
        share = max(d.num_gpus for d in members)
        return PoolSpec(
            name="+".join(d.metric for d in members), metrics=tuple(d.metric for d in members),
            num_cpus=round(max(min(max(d.num_cpus for d in members), cpus_per_gpu * share), 0.01), 3),
            num_gpus=share, memory_mb=sum(d.memory_mb for d in members), threads=1,
            load_seconds=sum(d.load_seconds for d in members), work_seconds=sum(d.work_seconds for d in members),
            fixed_workers=members[0].fixed_workers if len(members) == 1 else None)

    # The makespan to aim at: the GPU work spread evenly (plus a load); pools far shorter than it are "small".
    gpu_area = sum(d.work_seconds * d.num_gpus for d in gpu_side)
    even_share = gpu_area / max(cluster.gpus, 1.0) + max((d.load_seconds for d in gpu_side), default=0.0)
    small = [d for d in gpu_side if d.fixed_workers is None and d.work_seconds + d.load_seconds < even_share / 2]
    for d in gpu_side:
        if d not in small:
            pools.append(gpu_pool([d]))
    bundle: list[MetricDemand] = []
    for d in sorted(small, key=lambda d: (d.num_gpus, -d.work_seconds)):
        if bundle and (d.num_gpus != bundle[0].num_gpus
                       or sum(b.work_seconds + b.load_seconds for b in bundle) >= even_share / 2):
            pools.append(gpu_pool(bundle))
            bundle = []
        bundle.append(d)
    if bundle:
        pools.append(gpu_pool(bundle))
    return even_reservations(pools, cluster)


def even_reservations(pools: Sequence[PoolSpec], cluster: ClusterShape) -> list[PoolSpec]:
    """GPU pools of one GPU share reserve the same CPUs and memory (the largest of theirs), so that an actor of any
    of them can be handed over to any other (:meth:`PoolSpec.takes_over`) instead of a new one starting.

    Only where the cluster has the memory to spare: the most actors of each share that could run at once (the
    GPUs' room for them, and at most the sum of the pools' peaks in the replayed plan), each with the larger
    reservation, must fit in the cluster's memory together; failing that, a share is evened only if its actors
    fit in an even part of the memory (one part per share), and the other pools keep their own reservations. (A
    reservation never oversubscribes: :func:`fits` still checks the memory before each actor.)"""
    shares = sorted({p.num_gpus for p in pools if p.num_gpus > 0})
    if not shares:
        return list(pools)
    groups = {share: [p for p in pools if p.num_gpus == share] for share in shares}
    largest = {share: (max(p.num_cpus for p in group), max(p.memory_mb for p in group))
               for share, group in groups.items()}

    def needs(peaks: Mapping[str, int] | None) -> dict[float, float]:
        """Per share: the bytes its actors would reserve at most, evened (``peaks``: the replay's, if known)."""
        found = {}
        for share, group in groups.items():
            at_once = min(sum(math.floor(g / share + 1e-9) for g in cluster.gpus_per_node),
                          math.floor(cluster.usable_cpus / largest[share][0] + 1e-9))
            if peaks is not None:
                at_once = min(at_once, sum(max(1, peaks.get(p.name, 0)) for p in group))
            found[share] = at_once * largest[share][1] * MIB
        return found

    padded = largest
    if cluster.memory_bytes is not None and sum(needs(None).values()) > cluster.memory_bytes:
        wanted = needs(predict(pools, cluster).peak_workers)  # the replay's peaks: a tighter bound (and its cost)
        if sum(wanted.values()) > cluster.memory_bytes:
            padded = {share: largest[share] for share in shares
                      if wanted[share] <= cluster.memory_bytes / len(shares)}
    return [replace(p, num_cpus=padded[p.num_gpus][0], memory_mb=padded[p.num_gpus][1]) if p.num_gpus in padded
            else p for p in pools]
