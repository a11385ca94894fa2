"""Scoring a plan's pending cells: the cost model sizes the pools, the scheduler streams every dataset through
them, and each cell is committed the moment its last image comes back.

:func:`size_run` is what ``--dry-run`` prints (pools, actors, predicted time); :func:`score_cells` runs it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.efficiency.measured_resources import load_measured_resources
from orchestrator.results.columns import column
from orchestrator.results.files import write_text_atomic
from orchestrator.results.store import CellStore, IncompleteCellError, cell_frame
from orchestrator.results.summary import SummaryRow
from orchestrator.run.cells import Cell
from orchestrator.run.cost import ACTOR_START_SECONDS, MetricCost, metric_cost, typical_pixels
from orchestrator.run.placement import PlacementError
from orchestrator.run.plan import DatasetPass, Plan
from orchestrator.run.pools import (ClusterShape, MetricDemand, PoolSpec, Prediction, check_fits, make_pools,
                                    predict)
from orchestrator.run.ray_session import cluster_resources
from orchestrator.run.request import RunSettings
from orchestrator.run.schedule import DatasetWork, Scheduler

log = logging.getLogger(__name__)

#: Streamed results are committed to disk at least every ``request.checkpoint_every`` rows or this often.
FLUSH_SECONDS = 10.0
#: Threads that write cells (parts, commits): each cell always on the same one. A commit waits on the disk
#: (several atomic, synced files), so a run of many cells commits them side by side.
WRITER_THREADS = 4
#: What the scheduling of a run cost and predicted (``<out>/scoring.json``): when scoring started and ended (wall
#: clock), the predicted and lower-bound seconds, and per pool the estimated and measured seconds per row.
SCORING_JSON = "scoring.json"

#: Told of each cell as it ends: its summary row and table, or why it has none.
CellDone = Callable[[Cell, SummaryRow | None, str | None, pd.DataFrame | None], None]


@dataclass
class RunSizing:
    """The pools of a run, what one image costs each metric on each dataset, and the predicted schedule."""

    pools: list[PoolSpec]
    prediction: Prediction
    costs: dict[str, MetricCost]
    #: (dataset key, metric) → estimated seconds per image.
    per_image: dict[tuple[str, str], float]
    work: list[DatasetWork] = field(default_factory=list)

    def describe(self) -> str:
        p = self.prediction
        lines = [f"Pools: {len(self.pools)} for {sum(len(x.metrics) for x in self.pools)} metric(s); predicted "
                 f"scoring time {_clock(p.makespan)} (lower bound {_clock(p.lower_bound)}, efficiency "
                 f"{p.lower_bound / p.makespan if p.makespan else 1:.2f})"]
        for pool in sorted(self.pools, key=lambda x: -x.work_seconds):
            costs = ", ".join(f"{self.costs[m].seconds_per_image:.3g} s/img ({self.costs[m].source})" for m in pool.metrics[:3])
            lines.append(f"  {pool.name[:60]:<60} {p.initial_workers.get(pool.name, 0)}→{p.peak_workers.get(pool.name, 0)} "
                         f"actor(s) × [{pool.num_cpus:g} CPU, {pool.num_gpus:g} GPU, {pool.memory_mb} MB]; "
                         f"work {_clock(pool.work_seconds)} on one actor; {costs}")
        if p.deferred:
            lines.append(f"  waiting for room at first (start as others finish): {', '.join(p.deferred)}")
        return "\n".join(lines)


def _clock(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{s:02d}" if hours else f"{minutes}:{s:02d}"


def _pending_rows(dataset_pass: DatasetPass, cells: list[Cell], store: CellStore) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """The manifest rows some of ``cells`` still need, and per metric which of them it needs."""
    table = dataset_pass.manifest.table
    ids = table["id"]
    masks = {}
    for cell in cells:
        done = store.scored_ids(cell.key)
        masks[cell.metric] = ~pc.is_in(ids, pa.array(sorted(done), pa.int64())).to_numpy(zero_copy_only=False) \
            if done else np.ones(table.num_rows, dtype=bool)
    needed = np.zeros(table.num_rows, dtype=bool)
    for mask in masks.values():
        needed |= mask
    keep = np.flatnonzero(needed)
    for cell in cells:
        if cell.captions is not None:  # the row order of the manifest, which ``id`` numbers
            table = table.append_column(column(cell.metric, "caption"), pa.array(cell.captions, pa.string()))
    return table.take(pa.array(keep)), {m: mask[keep] for m, mask in masks.items()}


def size_run(plan: Plan, pending: dict[str, list[Cell]], store: CellStore | None, cluster: ClusterShape,
             echo: Callable[[str], None] | None = None) -> RunSizing:
    """Pools and predicted schedule for the ``pending`` cells (by dataset key) on ``cluster``; ``store``: the
    rows a killed run committed are left out (and ``echo`` says so)."""
    request = plan.request
    measured = load_measured_resources()
    costs: dict[str, MetricCost] = {}
    per_image: dict[tuple[str, str], float] = {}
    work_seconds: dict[str, float] = {}
    resources = {}
    work: list[DatasetWork] = []
    for index, dataset_pass in enumerate(plan.passes):
        cells = pending.get(dataset_pass.dataset.key, [])
        if not cells:
            continue
        if store is not None:
            rows, masks = _pending_rows(dataset_pass, cells, store)
            left = sum(int(m.sum()) for m in masks.values())
            full = dataset_pass.manifest.num_rows * len(cells)
            if left < full and echo is not None:
                echo(f"Resuming {dataset_pass.dataset.key}: {full - left} image score(s) already committed, "
                     f"{left} to score")
        else:
            rows = dataset_pass.manifest.table
            masks = {c.metric: np.ones(rows.num_rows, dtype=bool) for c in cells}
        resize = dataset_pass.dataset.augment.get("resize")
        paths = rows["dist_path"].to_pylist() if rows.num_rows else []
        pixels = typical_pixels(paths, resize)
        work.append(DatasetWork(index, rows, masks,
                                {"resize": resize, "with_ref": dataset_pass.dataset.mode in ("FR", "2AFC")}))
        factor = 2 if dataset_pass.dataset.mode == "2AFC" else 1  # both candidates are scored
        for cell in cells:
            r = plan.resources(cell)
            on_gpu = request.use_gpu and r.num_gpus > 0
            resources[cell.metric] = (r, on_gpu)
            cost = costs.setdefault(cell.metric, metric_cost(cell.spec, "cuda" if on_gpu else "cpu",
                                                             measured.get(cell.spec.registered_name)))
            seconds = per_image[(dataset_pass.dataset.key, cell.metric)] = cost.seconds_for(pixels) * factor
            work_seconds[cell.metric] = work_seconds.get(cell.metric, 0.0) + int(masks[cell.metric].sum()) * seconds
    demands = []
    for metric, (r, on_gpu) in resources.items():
        override = plan.overrides.get(metric)
        fixed = override.workers if override is not None and override.workers is not None else request.num_workers
        demands.append(MetricDemand(metric, r.num_cpus, r.num_gpus if on_gpu else 0.0, r.memory_mb,
                                    costs[metric].load_seconds, work_seconds[metric], fixed))
    if request.use_gpu and cluster.gpus <= 0:
        raise PlacementError("--use_gpu was given but the Ray cluster has no GPU")
    pools = make_pools(demands, cluster)
    check_fits(pools, cluster)
    return RunSizing(pools, predict(pools, cluster), costs, per_image, work)


def _physical_memory() -> float | None:
    """This machine's memory in bytes (what no actor of a local cluster can exceed), or None if unknown."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not a POSIX system: the check waits for Ray's figure
        return None


def starts_local_cluster(request: RunSettings) -> bool:
    """Whether the run will start its own Ray cluster on this machine (no address, none connected)."""
    ray = sys.modules.get("ray")  # not imported: not connected either
    return not (request.ray_address or os.environ.get("RAY_ADDRESS") or (ray is not None and ray.is_initialized()))


def refuse_what_cannot_fit_here(plan: Plan, out: Path) -> None:
    """When the run would start a local Ray cluster to score cells, raise :class:`PlacementError` now (before Ray
    and before anything is written) if an actor of theirs cannot fit this machine."""
    request = plan.request
    if not starts_local_cluster(request):
        return
    store = CellStore(out)  # read only: which cells a run would score
    pending = {p.dataset.key: [c for c in p.cells if request.force or not store.is_committed(c.key)]
               for p in plan.passes}
    if any(pending.values()):
        size_run(plan, pending, None, replace(dry_run_cluster(request), memory_bytes=_physical_memory()))


def dry_run_cluster(request: RunSettings) -> ClusterShape:
    """The cluster a dry run plans for: ``--plan_cluster CPUS GPUS``, else this machine."""
    if request.plan_cluster is not None:
        cpus, gpus = request.plan_cluster
        return ClusterShape(float(cpus), (float(gpus),) if gpus else (), actor_start_seconds=ACTOR_START_SECONDS)
    gpus = 0
    if request.use_gpu:
        import torch

        gpus = torch.cuda.device_count()
    return ClusterShape(float(os.cpu_count() or 1), (float(gpus),) if gpus else (),
                        actor_start_seconds=ACTOR_START_SECONDS)


def describe_dry_run(plan: Plan) -> str:
    """What ``--dry-run`` prints after the plan: the pools and predicted time on the cluster it plans for."""
    request = plan.request
    cluster = dry_run_cluster(request)
    sizing = size_run(plan, {p.dataset.key: list(p.cells) for p in plan.passes}, None, cluster)
    where = "given" if request.plan_cluster else "this machine"
    return f"On {cluster.cpus:g} CPU(s) and {cluster.gpus:g} GPU(s) ({where}):\n{sizing.describe()}"


def connected_cluster() -> ClusterShape:
    """The shape of the Ray cluster this driver is connected to."""
    found = cluster_resources()
    return ClusterShape(found.cpus, found.gpus_per_node or (found.gpus,), found.memory_bytes,
                        actor_start_seconds=ACTOR_START_SECONDS)


class CellCommitter:
    """Buffers each cell's streamed rows, appends them to the store in parts, and commits a cell (its table and
    summary row) as soon as its last image has come back.

    The writes happen on background threads so that the scheduler keeps feeding the actors while cells are
    written: :data:`WRITER_THREADS` writers, each cell always on the same one (its parts before its commit, in
    the order they were asked for), so that the cells of a run commit side by side (their writes wait on the
    disk, not on each other); and one reporter thread that tells ``on_done`` (console, MLflow) of each cell, one
    at a time. An error of a write (a full disk) is raised in the scheduler's thread at the next :meth:`tick` or
    at :meth:`finish`.
    """

    def __init__(self, plan: Plan, pending: dict[str, list[Cell]], store: CellStore, sizing: RunSizing,
                 checkpoint_every: int, summary_row: Callable[[DatasetPass, Cell, pd.DataFrame, float], SummaryRow],
                 on_done: CellDone) -> None:
        self.plan = plan
        self.store = store
        self.sizing = sizing
        self.checkpoint_every = checkpoint_every
        self.summary_row = summary_row
        self.on_done = on_done
        self.cells: dict[tuple[int, str], Cell] = {}
        self.expected: dict[str, int] = {}
        self.received: dict[str, int] = {}
        self.buffers: dict[str, list[pd.DataFrame]] = {}
        self.buffered: dict[str, int] = {}
        self.last_flush = time.monotonic()
        self.passes = {}
        for item in sizing.work:
            dataset_pass = plan.passes[item.index]
            self.passes[item.index] = dataset_pass
            for cell in pending[dataset_pass.dataset.key]:
                self.cells[(item.index, cell.metric)] = cell
                self.expected[cell.key] = int(item.masks[cell.metric].sum())
                self.received[cell.key] = 0
                self.buffers[cell.key] = []
                self.buffered[cell.key] = 0
        #: Cells whose commit was asked for (the write itself may still be under way).
        self.committed: set[str] = set()
        # A run of many cells flushes less often: every flush writes one part per cell.
        self.flush_seconds = max(FLUSH_SECONDS, 0.05 * len(self.cells))
        self._writers = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"iqabench-commit-{i}")
                         for i in range(WRITER_THREADS)]
        self._reporter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iqabench-report")
        self._writes: list[Future] = []
        self._writes_lock = threading.Lock()

    def _submit(self, key: str | None, job: Callable[..., Any], *args: Any) -> None:
        """Run ``job`` on the writer of cell ``key`` (None: on the reporter); its error is raised later."""
        pool = self._reporter if key is None else self._writers[zlib.crc32(key.encode()) % len(self._writers)]
        future = pool.submit(job, *args)
        with self._writes_lock:
            self._writes.append(future)

    def start(self) -> None:
        """Commit the cells a killed run left complete (every image scored, not committed)."""
        for (index, _), cell in self.cells.items():
            if self.expected[cell.key] == 0:
                self._ask_commit(index, cell)

    def rows(self, index: int, metric: str, part: pd.DataFrame) -> None:
        cell = self.cells[(index, metric)]
        self.buffers[cell.key].append(part)
        self.buffered[cell.key] += len(part)
        self.received[cell.key] += len(part)
        if self.received[cell.key] >= self.expected[cell.key]:
            self._ask_flush(cell.key)
            self._ask_commit(index, cell)
        elif self.buffered[cell.key] >= self.checkpoint_every:
            self._ask_flush(cell.key)

    def tick(self) -> None:
        """Flush every buffer at least every ``flush_seconds`` (what a killed driver can lose); raise a write's
        error."""
        self._raise_failed_write()
        if time.monotonic() - self.last_flush >= self.flush_seconds:
            for key in self.buffers:
                self._ask_flush(key)
            self.last_flush = time.monotonic()

    def _raise_failed_write(self) -> None:
        with self._writes_lock:
            done = [f for f in self._writes if f.done()]
            self._writes = [f for f in self._writes if not f.done()]
        for future in done:
            future.result()

    def _ask_flush(self, key: str) -> None:
        if self.buffers[key]:
            parts, self.buffers[key], self.buffered[key] = self.buffers[key], [], 0
            self._submit(key, self.store.append_part, key, pd.concat(parts, ignore_index=True))

    def _ask_commit(self, index: int, cell: Cell) -> None:
        if cell.key not in self.committed:
            self.committed.add(cell.key)
            self._submit(cell.key, self._commit, index, cell)

    def _commit(self, index: int, cell: Cell) -> None:
        dataset_pass = self.passes[index]
        frame = cell_frame(dataset_pass.manifest.table, self.store.load_parts(cell.key))
        construct = frame["error"].dropna()
        construct = construct[construct.str.startswith("construct:")]
        if len(construct):  # the metric itself could not be built: report it, never cache it
            self.store.discard(cell.key)
            self._submit(None, self.on_done, cell, None, construct.iloc[0], None)
            return
        estimate = self.sizing.per_image.get((dataset_pass.dataset.key, cell.metric), float("nan"))
        t0 = time.perf_counter()
        row = self.summary_row(dataset_pass, cell, frame, estimate)
        t1 = time.perf_counter()
        try:
            self.store.commit(cell.key, frame, row.as_dict())
        except IncompleteCellError as exc:  # reported as given up; its parts resume the next run
            self._submit(None, self.on_done, cell, None, str(exc), None)
            return
        self._submit(None, self.on_done, cell, row, None, frame)
        log.debug("committed %s: summary %.3f s, store %.3f s", cell.label, t1 - t0, time.perf_counter() - t1)

    def finish(self, given_up: dict[str, str]) -> None:
        """Flush what is buffered and wait for every write; cells of metrics given up stay uncommitted (their parts
        resume a rerun)."""
        for key in self.buffers:
            self._ask_flush(key)
        for (index, metric), cell in self.cells.items():
            if cell.key in self.committed:
                continue
            reason = given_up.get(metric)
            if reason is None and self.received[cell.key] >= self.expected[cell.key]:
                self._ask_commit(index, cell)
            else:
                self._submit(None, self.on_done, cell, None, reason or "not run: results missing", None)
        for writer in self._writers:  # every commit done (and its report asked for) before the reporter stops
            writer.shutdown(wait=True)
        self._reporter.shutdown(wait=True)
        for future in self._writes:
            future.result()


def score_cells(plan: Plan, pending: dict[str, list[Cell]], store: CellStore, cluster: ClusterShape,
                summary_row: Callable[[DatasetPass, Cell, pd.DataFrame, float], SummaryRow], on_done: CellDone,
                echo: Callable[[str], None], on_progress: Callable[[int, int, int, int], None] | None = None,
                ) -> RunSizing:
    """Score every pending cell on the connected Ray cluster; ``on_done`` hears of each cell as it ends,
    ``on_progress`` (images done, images in all, cells done, cells in all) about every second."""
    request = plan.request
    sizing = size_run(plan, pending, store, cluster, echo)
    echo(sizing.describe())
    committer = CellCommitter(plan, pending, store, sizing, request.checkpoint_every, summary_row, on_done)
    committer.start()
    total_rows = sum(sum(int(m.sum()) for m in w.masks.values()) for w in sizing.work)
    options = {cell.metric: dict(cell.options) for cells in pending.values() for cell in cells}
    builds = {cell.metric: cell.spec.registered_name for cells in pending.values() for cell in cells}
    state = {"last": 0.0}

    def progress(scheduler: Scheduler) -> None:
        committer.tick()
        if on_progress is not None:
            on_progress(sum(committer.received.values()), total_rows, len(committer.committed), len(committer.cells))
        now = time.monotonic()
        if now - state["last"] < 10.0:
            return
        state["last"] = now
        scored = sum(committer.received.values())
        behind = sorted((c for c in committer.cells.values() if c.key not in committer.committed),
                        key=lambda c: committer.received[c.key] / max(committer.expected[c.key], 1))[:3]
        lagging = "; ".join(f"{c.label} {committer.received[c.key]}/{committer.expected[c.key]}" for c in behind)
        echo(f"  progress: {scored}/{total_rows} image scores ({100 * scored / max(total_rows, 1):.0f} %), "
             f"{len(committer.committed)}/{len(committer.cells)} cells, elapsed {_clock(now - scheduler.started)}, "
             f"ETA {_clock(scheduler.eta_seconds())}" + (f"; furthest behind: {lagging}" if lagging else ""))

    started, started_at = time.perf_counter(), time.time()
    scheduler = Scheduler(sizing.work, sizing.pools, cluster, request.batch_size, options, committer.rows, progress,
                          builds=builds)
    given_up = scheduler.run() if sizing.work else {}
    committer.finish(given_up)
    elapsed = time.perf_counter() - started
    write_text_atomic(json.dumps({
        "started_at": started_at, "finished_at": started_at + elapsed, "seconds": elapsed,
        "predicted_seconds": sizing.prediction.makespan, "lower_bound_seconds": sizing.prediction.lower_bound,
        "cluster": {"cpus": cluster.cpus, "gpus_per_node": list(cluster.gpus_per_node),
                    "memory_bytes": cluster.memory_bytes},
        "actors_handed_over": scheduler.handovers, "blocks_decoded_by_actors": scheduler.decoded_by_actors,
        "actor_start_seconds": {"estimated": ACTOR_START_SECONDS, "measured": scheduler.cluster.actor_start_seconds
                                if scheduler.start_seconds else None},
        "pools": scheduler.pool_report(), "given_up": given_up,
    }, indent=1, default=str), store.out / SCORING_JSON)
    echo(f"Scored {total_rows} image score(s) in {elapsed:.1f} s (predicted {sizing.prediction.makespan:.1f} s)")
    for line in scheduler.pool_report():
        log.info("pool %s: estimated %.4g s/row, measured %.4g s/row, %d actor(s) started, load %.3g s",
                 line["pool"], line["estimated_seconds_per_row"], line["measured_seconds_per_row"],
                 line["actors_started"], line["load_seconds"])
    return sizing
