"""The scheduler: every dataset's images through metric actors that load their model once per run.

How a run flows:

- The rows still to score (every dataset, resumed cells without their committed rows) are cut into blocks of one
  dataset each, and the datasets' blocks are interleaved in proportion to their sizes, so that every pool sees
  the same mix of work from start to end.
- A block is read and decoded once, by a CPU task, when the first pool needs it; its decoded images stay in Ray's
  object store until every pool that scores any of its rows has scored them (a bounded window: a pool that runs
  far ahead of the slowest one waits). Where CPU actors already hold every CPU, a block only one CPU pool scores
  is decoded by that pool's actor itself (no task to take turns with it on the same cores, no object-store copy).
  Each pool takes the blocks it has rows in, in order, independently of the other pools, so a fast metric never
  waits for a slow one and no pool drains between datasets.
- Pools are sized and grown by :func:`orchestrator.run.pools.grow` from the work they have left — estimated
  first, then measured from the scored blocks. A pool whose work is done stops its actors at once, and their
  GPUs, CPUs and memory go to the pools still working (and to pools that did not fit at first).
- An actor that dies is restarted by Ray (bounded) and its block is given again; a pool whose actors keep dying
  is split into one pool per metric when it holds several, else given up with the reason.

Results come back per block (scores only, never images) through ``on_rows``; nothing waits for a dataset's end.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from metrics.registry import module_of
from orchestrator.results.columns import CAPTION_COLUMNS, RESULT_FIELDS, column
# Imported with this module, not when the first actor starts: a driver run by `ray job submit` must not need its
# working directory again once scoring has begun (Ray may clean a job's working directory up while it runs).
from orchestrator.run.actors import PoolActor, decode_batch
from orchestrator.run.pools import ClusterShape, Held, PoolSpec, grow, hand_over_to
from orchestrator.run.placement import MIB

log = logging.getLogger(__name__)

#: CPUs each read + decode task reserves.
DECODE_TASK_CPUS = 0.25
#: A dead actor is restarted this many times by Ray; a pool whose actors die more often than this is split/given up.
ACTOR_MAX_RESTARTS = 2
#: Calls in flight per actor: one running, one waiting, so that an actor never idles between blocks.
CALLS_PER_ACTOR = 2
#: A pool whose actors have not started after this long (resources that never free up) is given up.
WAIT_FOR_ACTORS_S = 600.0
#: Most rows in one block (a model still sees ``batch_size`` images at a time).
MAX_BLOCK_ROWS = 64
#: Blocks each actor of the run should get at least, so that pools fill and drain in small steps.
BLOCKS_PER_ACTOR = 8
#: How often the pools are resized from measured rates.
REBALANCE_EVERY_S = 5.0
#: An actor that has not started this long after it was asked for (no room on the cluster) gives its blocks back
#: once its pool has nothing else queued (or 4 load times, if longer).
STRAGGLER_S = 60.0
#: Decode tasks asked for before the first actors (see :meth:`Scheduler.run`).
FIRST_DECODES = 2
#: Blocks a pool must have scored before its measured rate replaces the estimate.
MEASURED_AFTER_BLOCKS = 2

OnRows = Callable[[int, str, pd.DataFrame], None]


@dataclass
class DatasetWork:
    """One dataset's rows still to score: the manifest rows and, per metric, which of them it must score."""

    index: int
    rows: pa.Table
    masks: dict[str, np.ndarray]
    decode: dict[str, Any]


@dataclass
class Block:
    index: int
    dataset: int
    rows: pa.Table
    masks: dict[str, np.ndarray]
    decode: dict[str, Any]


@dataclass
class PoolState:
    spec: PoolSpec
    queue: deque[int]
    estimate_per_row: float
    actors: list[Any] = field(default_factory=list)
    inflight: dict[Any, int] = field(default_factory=dict)  # actor index -> calls in flight
    ready_at: dict[int, float] = field(default_factory=dict)
    started_at: dict[int, float] = field(default_factory=dict)
    deaths: int = 0
    #: Actors that failed and are being restarted by Ray: they get no block until they answer again.
    recovering: set[int] = field(default_factory=set)
    last_failure: str = ""
    blocks_done: int = 0
    rows_done: int = 0
    busy_seconds: float = 0.0
    rows_total: int = 0
    given_up: str | None = None
    load_seconds: list[float] = field(default_factory=list)
    #: What each actor reserved on the cluster: its own pool's spec, or the spec of the pool it was started for
    #: when it was handed over (:meth:`Scheduler._hand_over`).
    reserved: dict[int, PoolSpec] = field(default_factory=dict)
    #: Actors handed over from another pool (a restart by Ray builds their first pool's models: load ours again).
    adopted: set[int] = field(default_factory=set)

    @property
    def per_row(self) -> float:
        if self.blocks_done >= MEASURED_AFTER_BLOCKS and self.rows_done:
            return self.busy_seconds / self.rows_done
        return self.estimate_per_row

    @property
    def live_actors(self) -> list[int]:
        return [i for i, a in enumerate(self.actors) if a is not None]


def block_rows(total_rows: int, batch_size: int, actors: int) -> int:
    """Rows per block: whole model batches, at most :data:`MAX_BLOCK_ROWS` unless one batch is larger, and few
    enough that each actor gets about :data:`BLOCKS_PER_ACTOR` blocks."""
    batch_size = max(1, batch_size)
    wanted = min(MAX_BLOCK_ROWS, math.ceil(total_rows / (BLOCKS_PER_ACTOR * max(1, actors))))
    return max(1, math.ceil(wanted / batch_size)) * batch_size


def make_blocks(work: list[DatasetWork], rows_per_block: int) -> list[Block]:
    """Every dataset cut into blocks, interleaved in proportion to the datasets' sizes."""
    keyed = []
    for item in work:
        n = item.rows.num_rows
        count = math.ceil(n / rows_per_block)
        for j in range(count):
            start = j * rows_per_block
            stop = min(n, start + rows_per_block)
            masks = {m: mask[start:stop] for m, mask in item.masks.items() if mask[start:stop].any()}
            if masks:
                keyed.append(((j + 0.5) / count, item.index, item.rows.slice(start, stop - start), masks, item.decode))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [Block(i, d, rows, masks, decode) for i, (_, d, rows, masks, decode) in enumerate(keyed)]


class Scheduler:
    """Runs blocks through pools on the connected Ray cluster (see the module docstring)."""

    def __init__(self, work: list[DatasetWork], pools: list[PoolSpec], cluster: ClusterShape, batch_size: int,
                 options: dict[str, dict[str, Any]], on_rows: OnRows,
                 on_progress: Callable[["Scheduler"], None] | None = None,
                 builds: Mapping[str, str] | None = None) -> None:
        self.cluster = cluster
        #: Actors handed from a finished pool to another instead of being stopped and started anew.
        self.handovers = 0
        #: Blocks read and decoded by the actor that scored them instead of a decode task (:meth:`_decodes_itself`).
        self.decoded_by_actors = 0
        #: Measured seconds from asking for a new actor to its models starting to load (worker process, imports).
        self.start_seconds: list[float] = []
        #: metric → the registered metric that builds it (a named variant's; absent: the metric itself).
        self.builds = dict(builds or {})
        self.batch_size = batch_size
        self.options = options
        self.on_rows = on_rows
        self.on_progress = on_progress
        total_rows = sum(w.rows.num_rows for w in work)
        self.blocks = make_blocks(work, block_rows(total_rows, batch_size, max(1, int(cluster.gpus * 4 or cluster.cpus))))
        self.held = Held()
        self.pools: dict[str, PoolState] = {}
        for spec in pools:
            self._add_pool(spec)
        self.decoded: dict[int, Any] = {}
        self.consumers: dict[int, set[str]] = {}
        for name, pool in self.pools.items():
            for b in pool.queue:
                self.consumers.setdefault(b, set()).add(name)
        self.calls: dict[Any, tuple[str, int, int]] = {}  # result ref -> (pool, actor index, block)
        self.readies: dict[Any, tuple[str, int]] = {}
        self.given_up: dict[str, str] = {}  # metric -> reason
        self.started = time.monotonic()
        self.max_decoded = max(16, 4 * CALLS_PER_ACTOR * max(1, int(cluster.gpus * 4 or cluster.cpus)))
        #: Decode tasks at once: as many as the CPUs kept free for decoding hold.
        self.max_decoding = max(1, int(cluster.decode_cpus / DECODE_TASK_CPUS))
        self.undecoded: set[Any] = set()

    # ------------------------------------------------------------------ pools
    def _add_pool(self, spec: PoolSpec) -> None:
        queue = deque(b.index for b in self.blocks if any(m in b.masks for m in spec.metrics))
        rows = sum(self._block_rows(self.blocks[b], spec) for b in queue)
        per_row = spec.work_seconds / rows if rows else 0.0
        self.pools[spec.name] = PoolState(spec, queue, per_row, rows_total=rows)

    @staticmethod
    def _block_rows(block: Block, spec: PoolSpec) -> int:
        """Rows of ``block`` that at least one metric of the pool scores."""
        selected = np.zeros(block.rows.num_rows, dtype=bool)
        for m in spec.metrics:
            if m in block.masks:
                selected |= block.masks[m]
        return int(selected.sum())

    def _remaining(self) -> dict[str, float]:
        return {name: (pool.rows_total - pool.rows_done) * pool.per_row if pool.given_up is None else 0.0
                for name, pool in self.pools.items()}

    def _workers(self) -> dict[str, int]:
        return {name: len(pool.live_actors) for name, pool in self.pools.items()}

    def _rebalance(self) -> None:
        specs = [p.spec for p in self.pools.values() if p.given_up is None and p.queue]
        added = grow(specs, self._workers(), self._remaining(), self.held, self.cluster)
        # The longest model loads are asked for first: a node starts worker processes a few at a time, and the
        # actor that loads longest would otherwise also wait longest for its process.
        for name in sorted(added, key=lambda name: -self.pools[name].spec.load_seconds):
            self._start_actor(self.pools[name])

    def _stages(self, spec: PoolSpec) -> list[dict[str, Any]]:
        """The :class:`~orchestrator.run.actors.ScoreWith` arguments of the pool's metrics."""
        return [{"metric": m, "options": dict(self.options.get(m, {})), "device": spec.device,
                 "batch_size": self.batch_size, "num_threads": spec.threads,
                 "module": module_of(self.builds.get(m, m)), "builds": self.builds.get(m)}
                for m in spec.metrics]

    def _start_actor(self, pool: PoolState) -> None:
        import ray

        spec = pool.spec
        stages = self._stages(spec)
        resources: dict[str, Any] = {"num_cpus": spec.num_cpus, "memory": int(spec.memory_mb) * MIB}
        if spec.num_gpus > 0:
            resources["num_gpus"] = spec.num_gpus
        actor = ray.remote(PoolActor).options(**resources, max_restarts=ACTOR_MAX_RESTARTS, max_task_retries=0,
                                              name=None).remote(stages)
        index = len(pool.actors)
        pool.actors.append(actor)
        pool.inflight[index] = 0
        pool.started_at[index] = time.monotonic()
        pool.reserved[index] = spec
        self.readies[actor.ready.remote()] = (spec.name, index)
        log.debug("started an actor of %s (%d now)", spec.name, len(pool.live_actors))

    def _stop_actor(self, pool: PoolState, index: int) -> None:
        import ray

        actor = pool.actors[index]
        if actor is None:
            return
        ray.kill(actor, no_restart=True)
        pool.actors[index] = None
        self.held.remove(pool.reserved.pop(index, pool.spec))

    def _release(self, pool: PoolState, index: int) -> None:
        """An actor whose pool has nothing left for it: hand it over to a pool that wants one, else stop it."""
        if pool.actors[index] is not None and not self._hand_over(pool, index):
            self._stop_actor(pool, index)

    def _hand_over(self, pool: PoolState, index: int) -> bool:
        """Give the idle actor to the pool :func:`~orchestrator.run.pools.hand_over_to` names: the actor loads that
        pool's models in its process (:meth:`~orchestrator.run.actors.PoolActor.switch`), which saves starting a
        worker process, importing and initialising the device. Returns whether it was handed over."""
        reservation = pool.reserved.get(index, pool.spec)
        without = self.held.copy()
        without.remove(reservation)
        specs = [p.spec for p in self.pools.values() if p.given_up is None and p.queue and p is not pool]
        name = hand_over_to(specs, self._workers(), self._remaining(), without, self.cluster, reservation)
        if name is None:
            return False
        target = self.pools[name]
        actor = pool.actors[index]
        pool.actors[index] = None
        pool.reserved.pop(index, None)
        new = len(target.actors)
        target.actors.append(actor)
        target.inflight[new] = 0
        target.started_at[new] = time.monotonic()
        target.reserved[new] = reservation
        target.adopted.add(new)
        self.readies[actor.switch.remote(self._stages(target.spec))] = (name, new)
        self.handovers += 1
        log.debug("handed an actor of %s over to %s", pool.spec.name, name)
        return True

    def _wake(self, pool: PoolState, index: int) -> Any:
        """The call that answers once the actor (restarted by Ray after a failure) holds this pool's models."""
        actor = pool.actors[index]
        if index in pool.adopted:  # Ray restarts it with the first pool's models
            return actor.switch.remote(self._stages(pool.spec))
        return actor.ready.remote()

    # ------------------------------------------------------------------ blocks
    def _decoding(self) -> int:
        """Decode tasks not finished yet (checked without waiting)."""
        import ray

        if self.undecoded:
            ready, _ = ray.wait(list(self.undecoded), num_returns=len(self.undecoded), timeout=0, fetch_local=False)
            self.undecoded.difference_update(ready)
        return len(self.undecoded)

    @staticmethod
    def _paths(block: Block) -> dict[str, np.ndarray]:
        """The columns a decode needs: ids, image paths and captions."""
        columns = [c for c in block.rows.column_names
                   if c in ("id", "dist_path", "ref_path", "dist_b_path") or c.startswith(CAPTION_COLUMNS)]
        return {c: block.rows[c].to_numpy(zero_copy_only=False) for c in columns}

    def _decoded(self, block: Block) -> Any:
        import ray

        ref = self.decoded.get(block.index)
        if ref is None:
            task = ray.remote(decode_batch).options(num_cpus=DECODE_TASK_CPUS)
            ref = task.remote(self._paths(block), **block.decode)
            self.decoded[block.index] = ref
            self.undecoded.add(ref)
        return ref

    def _decodes_itself(self, pool: PoolState, block: int) -> bool:
        """Whether the pool's actor reads and decodes ``block`` in its own call (no decode task): its pool is the
        block's only one, scores on CPUs, and the run's CPU actors already hold every CPU of the cluster, so a
        decode task would only take turns with them on the same cores and add a copy through the object store."""
        if pool.spec.num_gpus > 0 or block in self.decoded or self.consumers.get(block) != {pool.spec.name}:
            return False
        cpu_actors = sum(len(p.live_actors) for p in self.pools.values() if p.spec.num_gpus <= 0)
        return cpu_actors >= max(1, int(self.cluster.cpus))

    def _may_decode(self, pool: PoolState, block: int) -> bool:
        if block not in self.decoded and self._decoding() >= self.max_decoding:
            return False  # decode tasks never take more CPUs than their reserve: actors waiting to start get theirs
        if block in self.decoded or len(self.decoded) < self.max_decoded:
            return True
        fronts = [p.queue[0] for p in self.pools.values() if p.queue and p.given_up is None]
        return bool(fronts) and block <= min(fronts)  # the slowest pool always moves on

    def _dispatch(self) -> None:
        for pool in self.pools.values():
            if pool.given_up is not None:
                continue
            for index in pool.live_actors:
                if index in pool.recovering:
                    continue
                # A working actor holds two blocks; one still loading its model holds one only while no actor of
                # its pool works yet (a block waiting on a loading actor would otherwise hold the pool's end).
                limit = CALLS_PER_ACTOR if index in pool.ready_at else (0 if pool.ready_at else 1)
                while pool.queue and pool.inflight[index] < limit:
                    b = pool.queue[0]
                    itself = self._decodes_itself(pool, b)
                    if not (itself or self._may_decode(pool, b)):
                        break
                    pool.queue.popleft()
                    block = self.blocks[b]
                    masks = {m: block.masks[m] for m in pool.spec.metrics if m in block.masks}
                    if itself:
                        ref = pool.actors[index].decode_and_score.remote(self._paths(block), block.decode, masks)
                        self.decoded_by_actors += 1
                    else:
                        ref = pool.actors[index].score.remote(self._decoded(block), masks)
                    self.calls[ref] = (pool.spec.name, index, b)
                    pool.inflight[index] += 1
                if not pool.queue and pool.inflight[index] == 0:
                    self._release(pool, index)  # nothing left for it: to another pool, or free its resources

    def _consumed(self, pool_name: str, b: int) -> None:
        waiting = self.consumers.get(b)
        if waiting is None:
            return
        waiting.discard(pool_name)
        if not waiting:
            self.consumers.pop(b, None)
            self.undecoded.discard(self.decoded.pop(b, None))

    def _deliver(self, pool: PoolState, b: int, result: dict[str, Any]) -> None:
        block = self.blocks[b]
        ids = np.asarray(result["id"])
        busy = 0.0
        for metric in pool.spec.metrics:
            mask = block.masks.get(metric)
            if mask is None or column(metric, "score") not in result:
                continue
            # One frame from whole columns (column-by-column assignment costs the driver's thread ~10× more).
            columns = {"id": ids[mask]}
            for what in RESULT_FIELDS:
                columns["node_id" if what == "node" else what] = np.asarray(result[column(metric, what)])[mask]
            columns["error"] = np.array([e if isinstance(e, str) else None for e in columns["error"]], dtype=object)
            part = pd.DataFrame(columns, copy=False)
            started, finished = result[column(metric, "started")], result[column(metric, "finished")]
            if len(started):
                busy += float(np.max(finished) - np.min(started))
            self.on_rows(block.dataset, metric, part)
        rows = self._block_rows(block, pool.spec)
        pool.rows_done += rows
        pool.blocks_done += 1
        pool.busy_seconds += busy

    def _failed(self, pool: PoolState, index: int, b: int, exc: BaseException) -> None:
        """A call failed: its block is given again. The first failure of an actor counts as one death (its other
        calls in flight fail with it) and the actor gets no block until Ray has restarted it; a pool whose
        actors died more than :data:`ACTOR_MAX_RESTARTS` times is retired."""
        pool.queue.appendleft(b)
        pool.queue = deque(sorted(set(pool.queue)))
        self.undecoded.discard(self.decoded.pop(b, None))  # decoded again, should the decode itself have failed
        if index in pool.recovering:
            return
        pool.deaths += 1
        pool.recovering.add(index)
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
        pool.last_failure = reason
        log.warning("%s: an actor failed (%s); %d failure(s) so far", pool.spec.name, reason, pool.deaths)
        if pool.deaths > ACTOR_MAX_RESTARTS:
            self._retire(pool, reason)
        elif pool.actors[index] is not None:  # answers once Ray has restarted it (or fails if it cannot)
            self.readies[self._wake(pool, index)] = (pool.spec.name, index)

    def _withdraw(self, pool: PoolState, index: int) -> None:
        """Stop one actor and give its blocks in flight back to its pool's queue."""
        for ref, (name, i, b) in list(self.calls.items()):
            if name == pool.spec.name and i == index:
                self.calls.pop(ref)
                pool.queue.append(b)
        pool.inflight[index] = 0
        pool.queue = deque(sorted(set(pool.queue)))
        self._stop_actor(pool, index)

    def _retire(self, pool: PoolState, reason: str) -> None:
        """Stop a pool whose actors keep failing: split a bundle into one pool per metric (to find the culprit),
        or give its metric up with the reason."""
        for index in pool.live_actors:
            self._withdraw(pool, index)
        if len(pool.spec.metrics) > 1:
            log.warning("%s: its actors keep failing; scoring its metrics one pool each to find the culprit",
                        pool.spec.name)
            pool.given_up = "split"
            undelivered = set(pool.queue)
            for metric in pool.spec.metrics:
                single = PoolSpec(metric, (metric,), pool.spec.num_cpus, pool.spec.num_gpus,
                                  max(1, pool.spec.memory_mb // len(pool.spec.metrics)), pool.spec.threads,
                                  pool.spec.load_seconds / len(pool.spec.metrics),
                                  pool.spec.work_seconds / len(pool.spec.metrics))
                self._add_pool(single)
                part = self.pools[metric]
                part.queue = deque(x for x in part.queue if x in undelivered)  # what the bundle had not delivered
                part.rows_total = sum(self._block_rows(self.blocks[x], single) for x in part.queue)
                for x in part.queue:
                    self.consumers.setdefault(x, set()).add(metric)
        else:
            pool.given_up = reason
            self.given_up[pool.spec.metrics[0]] = f"gave up: {reason}"
            log.warning("Giving up %s for this run: %s", pool.spec.name, reason)
        for x in list(pool.queue):
            self._consumed(pool.spec.name, x)
        pool.queue.clear()

    # ------------------------------------------------------------------ the loop
    def run(self) -> dict[str, str]:
        """Score every block; returns the metrics given up, with their reasons."""
        import ray

        # The first blocks' decode tasks are asked for before the actors: both need worker processes, which a node
        # starts a few at a time, and with many actors starting, those whose models have loaded would otherwise
        # wait for their first images. Only a few: each delays the actors' processes by one process start.
        for block in self.blocks[:min(FIRST_DECODES, self.max_decoding)]:
            self._decoded(block)
        self._rebalance()
        last_rebalance = last_progress = time.monotonic()
        while self.calls or any(p.queue and p.given_up is None for p in self.pools.values()):
            self._dispatch()
            if not self.calls and not self.readies:
                if not any(p.live_actors for p in self.pools.values() if p.queue and p.given_up is None):
                    self._rebalance()
                    if not self.calls and not any(p.live_actors for p in self.pools.values()):
                        stuck = [p.spec.name for p in self.pools.values() if p.queue and p.given_up is None]
                        raise RuntimeError(f"no actor of {', '.join(stuck)} fits the cluster "
                                           f"({self.cluster.cpus:g} CPU, {self.cluster.gpus:g} GPU)")
                    continue
            waiting = list(self.calls) + list(self.readies)
            done, rest = ray.wait(waiting, num_returns=1, timeout=1.0)
            if done and rest:  # take every result that is already there in one go
                done += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
            for ref in done:
                if ref in self.readies:
                    self._answered(*self.readies.pop(ref), ref)
                    continue
                if ref not in self.calls:  # withdrawn while this batch of results was handled
                    continue
                name, index, b = self.calls.pop(ref)
                pool = self.pools[name]
                pool.inflight[index] = max(0, pool.inflight.get(index, 1) - 1)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # an actor death or a broken call: the block is given again
                    self._failed(pool, index, b, exc)
                    continue
                self._deliver(pool, b, result)
                self._consumed(name, b)
                if not pool.queue and pool.inflight.get(index, 0) == 0:
                    self._release(pool, index)
                    self._rebalance()
            now = time.monotonic()
            self._check_stuck(now)
            if now - last_rebalance >= REBALANCE_EVERY_S:
                self._rebalance()
                last_rebalance = now
            if self.on_progress is not None and now - last_progress >= 1.0:
                self.on_progress(self)
                last_progress = now
        for pool in self.pools.values():
            for index in pool.live_actors:
                self._stop_actor(pool, index)
        return dict(self.given_up)

    def _answered(self, name: str, index: int, ref: Any) -> None:
        """An actor's ``ready`` call came back: its model is loaded (first start or a restart), or it is gone."""
        import ray

        pool = self.pools[name]
        if pool.actors[index] is None:
            return
        try:
            answer = ray.get(ref)
        except Exception as exc:  # dead for good (restarts spent): its blocks go to the pool's other actors
            log.debug("%s: actor %d is gone (%s)", name, index, exc)
            if index not in pool.recovering:
                pool.deaths += 1
            self._withdraw(pool, index)
            pool.recovering.discard(index)
            if pool.deaths > ACTOR_MAX_RESTARTS and pool.given_up is None:
                self._retire(pool, pool.last_failure or f"{type(exc).__name__}: {exc}")
            return
        if index in pool.recovering:
            pool.recovering.discard(index)
            return
        pool.ready_at[index] = time.monotonic()
        # From asking for the actor to its models being loaded: (a worker process starting, imports,) the models.
        waited = pool.ready_at[index] - pool.started_at[index]
        model = min(waited, float(answer["load_seconds"]))
        pool.load_seconds.append(model)
        if index not in pool.adopted:
            # The median: an actor that waited for room (the cluster full) says little about starting one.
            self.start_seconds.append(waited - model)
            self.cluster = replace(self.cluster, actor_start_seconds=float(np.median(self.start_seconds)))
        # What starting an actor really costs here, for the next decision to add one.
        pool.spec = replace(pool.spec, load_seconds=sum(pool.load_seconds) / len(pool.load_seconds))

    def _check_stuck(self, now: float) -> None:
        """A pool none of whose actors ever started is given up after :data:`WAIT_FOR_ACTORS_S`; an actor still
        waiting for room once its pool has nothing queued gives its blocks back to the actors that work."""
        for pool in self.pools.values():
            waiting = [i for i in pool.live_actors if i not in pool.ready_at]
            if pool.given_up is not None or not waiting:
                continue
            if not pool.ready_at:
                if now - min(pool.started_at[i] for i in waiting) > WAIT_FOR_ACTORS_S:
                    self._retire(pool, f"TimeoutError: no actor started within {WAIT_FOR_ACTORS_S:.0f} s")
                continue
            patience = max(STRAGGLER_S, 4 * pool.spec.load_seconds)
            for index in waiting:
                if not pool.queue and pool.inflight[index] and now - pool.started_at[index] > patience:
                    log.info("%s: an actor still waiting for room after %.0f s gives its blocks back",
                             pool.spec.name, now - pool.started_at[index])
                    self._withdraw(pool, index)

    # ------------------------------------------------------------------ reporting
    def eta_seconds(self) -> float:
        """Seconds left if every pool keeps its current actors and measured rate."""
        left = []
        for name, pool in self.pools.items():
            k = len(pool.live_actors)
            if pool.given_up is None and k:
                left.append((pool.rows_total - pool.rows_done) * pool.per_row / k)
        return max(left) if left else 0.0

    def pool_report(self) -> list[dict[str, Any]]:
        """Per pool: estimated and measured seconds per row, actors, rows, load seconds."""
        return [{"pool": name, "metrics": list(p.spec.metrics), "estimated_seconds_per_row": p.estimate_per_row,
                 "measured_seconds_per_row": (p.busy_seconds / p.rows_done) if p.rows_done else float("nan"),
                 "actors_started": len(p.actors) - len(p.adopted), "actors_handed_over": len(p.adopted),
                 "rows": p.rows_done,
                 "load_seconds": (sum(p.load_seconds) / len(p.load_seconds)) if p.load_seconds else float("nan")}
                for name, p in self.pools.items()]
