"""Each cell's own statistics (fits, scatter plot) on Ray tasks while the other cells are still being scored.

A few tasks at a time: the cells that committed meanwhile wait on the driver and go, together, into the next task
once one ends. Unbounded, a burst of commits (a pool of many metrics finishing) would start as many tasks (and new
worker processes importing SciPy and Matplotlib) as cells, and they would take the CPUs the decode tasks need
to keep the actors fed. Once the scoring is over, :meth:`CellAnalyses.results` sends what still waits at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import numpy as np

from orchestrator.stats.cell import CellAnalysis, analyse_cells

log = logging.getLogger(__name__)

#: CPUs each statistics task reserves (fits and plots: light, and never in the scorers' way for long).
ANALYSIS_TASK_CPUS = 0.25
#: Cells one task analyses at most.
CELLS_PER_TASK = 16

Key = tuple[str, str]
Item = tuple[np.ndarray, np.ndarray, str, float]


class CellAnalyses:
    """Cells' statistics on at most ``in_flight`` Ray tasks at once; thread-safe (cells commit on other threads)."""

    def __init__(self, in_flight: int) -> None:
        import ray

        self.in_flight = max(1, in_flight)
        self._task = ray.remote(num_cpus=ANALYSIS_TASK_CPUS)(analyse_cells)
        self._lock = threading.RLock()  # a task already done runs its callback at once, inside _send
        self._waiting: list[tuple[Key, Item]] = []
        self._running: dict[Any, list[Key]] = {}  # task ref -> its cells
        self._done: list[tuple[Any, list[Key]]] = []
        #: Tasks sent so far (each holds up to :data:`CELLS_PER_TASK` cells).
        self.tasks = 0

    def add(self, key: Key, score: np.ndarray, mos: np.ndarray, title: str, srcc: float) -> None:
        """Queue one cell's statistics; a task starts now if fewer than ``in_flight`` run."""
        with self._lock:
            self._waiting.append((key, (score, mos, title, srcc)))
            self._send(self.in_flight)

    def _send(self, limit: float) -> None:
        """Start tasks for the waiting cells while fewer than ``limit`` run (the caller holds the lock)."""
        while self._waiting and len(self._running) < limit:
            batch, self._waiting = self._waiting[:CELLS_PER_TASK], self._waiting[CELLS_PER_TASK:]
            ref = self._task.remote([item for _, item in batch])
            self._running[ref] = [key for key, _ in batch]
            self.tasks += 1
            ref.future().add_done_callback(lambda _, ref=ref: self._ended(ref))

    def _ended(self, ref: Any) -> None:
        with self._lock:
            keys = self._running.pop(ref, None)
            if keys is not None:
                self._done.append((ref, keys))
                self._send(self.in_flight)

    def results(self) -> dict[Key, CellAnalysis]:
        """Send every cell still waiting, wait for all tasks and return each cell's statistics. A task that failed
        is logged; its cells are left out (the driver makes their statistics with the rest)."""
        import ray

        with self._lock:
            log.info("cell statistics: %d cell(s) made while scoring, %d under way, %d still waiting",
                     sum(len(keys) for _, keys in self._done), sum(len(keys) for keys in self._running.values()),
                     len(self._waiting))
            self._send(limit=math.inf)  # the scoring is over: every waiting cell goes now
            refs = list(self._running.items()) + self._done
        started = time.monotonic()
        made: dict[Key, CellAnalysis] = {}
        for ref, keys in refs:
            try:
                made.update(zip(keys, ray.get(ref)))
            except ray.exceptions.RayError as exc:  # made again on the driver with the rest of the statistics
                log.warning("the statistics task of %d cell(s) (%s, ...) failed (%s); computing them on the driver",
                            len(keys), keys[0], exc)
        log.info("cell statistics: waited %.1f s for the last ones", time.monotonic() - started)
        return made
