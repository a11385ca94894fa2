"""Statistics on a few Ray tasks while the scoring goes on: each cell's (fits, scatter plot) as it commits, each
dataset's (intervals, significance, ranking) as its last cell ends.

A few tasks at a time: what arrives meanwhile waits on the driver and goes, together (up to ``per_task`` items),
into the next task once one ends. Unbounded, a burst of commits (a pool of many metrics finishing) would start as
many tasks (and new worker processes importing SciPy and Matplotlib) as cells, and they would take the CPUs the
decode tasks need to keep the actors fed. Once the scoring is over, :meth:`AnalysisTasks.results` sends what still
waits at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Generic, Hashable, TypeVar

log = logging.getLogger(__name__)

#: CPUs each statistics task reserves (fits and plots: light, and never in the scorers' way for long).
ANALYSIS_TASK_CPUS = 0.25
#: Cells one task analyses at most.
CELLS_PER_TASK = 16
#: Longest wait, once every task has ended, for their results' hand-overs (``on_result``) to finish, all together.
HAND_OVER_WAIT_S = 60.0

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")


class AnalysisTasks(Generic[Key, Result]):
    """``function(items) -> results`` (one result per item, in order) on at most ``in_flight`` Ray tasks at once,
    each taking up to ``per_task`` waiting items. Thread-safe (cells commit on other threads).

    ``on_result(key, result)`` hears of each result as its task ends, on a thread of Ray's (it must be quick and
    thread-safe); an error it raises is logged and costs nothing else.
    """

    def __init__(self, function: Callable[[list[Any]], list[Result]], in_flight: int, per_task: int,
                 on_result: Callable[[Key, Result], None] | None = None) -> None:
        import ray

        self.in_flight = max(1, in_flight)
        self.per_task = max(1, per_task)
        self._on_result = on_result
        self._name = function.__name__
        self._task = ray.remote(num_cpus=ANALYSIS_TASK_CPUS)(function)
        self._lock = threading.RLock()  # a task already done runs its callback at once, inside _send
        self._waiting: list[tuple[Key, Any]] = []
        self._running: dict[Any, list[Key]] = {}  # task ref -> its keys
        self._done: list[tuple[Any, list[Key]]] = []
        self._handed_over: dict[Any, threading.Event] = {}  # task ref -> set once on_result has heard of it
        #: Tasks sent so far.
        self.tasks = 0

    def add(self, key: Key, item: Any) -> None:
        """Queue one item; a task starts now if fewer than ``in_flight`` run."""
        with self._lock:
            self._waiting.append((key, item))
            self._send(self.in_flight)

    def _send(self, limit: float) -> None:
        """Start tasks for the waiting items while fewer than ``limit`` run (the caller holds the lock)."""
        while self._waiting and len(self._running) < limit:
            batch, self._waiting = self._waiting[:self.per_task], self._waiting[self.per_task:]
            ref = self._task.remote([item for _, item in batch])
            self._running[ref] = [key for key, _ in batch]
            self._handed_over[ref] = threading.Event()
            self.tasks += 1
            ref.future().add_done_callback(lambda future, ref=ref: self._ended(ref, future))

    def _ended(self, ref: Any, future: Any) -> None:
        try:
            with self._lock:
                keys = self._running.pop(ref, None)
                if keys is not None:
                    self._done.append((ref, keys))
                    self._send(self.in_flight)
            if keys is None or self._on_result is None or future.exception() is not None:
                return  # a failed task is reported by results()
            for key, result in zip(keys, future.result()):
                try:
                    self._on_result(key, result)
                except Exception:  # the result itself is kept for results(); only its early use is lost
                    log.warning("using the statistics of %s as they came failed", key, exc_info=True)
        finally:
            self._handed_over[ref].set()

    def results(self) -> dict[Key, Result]:
        """Send every item still waiting, wait for all tasks and return each key's result. A task that failed is
        logged; its keys are left out (the driver makes their statistics with the rest)."""
        import ray

        with self._lock:
            log.info("statistics (%s): %d made while scoring, %d under way, %d still waiting",
                     self._name, sum(len(keys) for _, keys in self._done),
                     sum(len(keys) for keys in self._running.values()), len(self._waiting))
            self._send(limit=math.inf)  # the scoring is over: every waiting item goes now
            refs = list(self._running.items()) + self._done
        started = time.monotonic()
        made: dict[Key, Result] = {}
        for ref, keys in refs:
            try:
                made.update(zip(keys, ray.get(ref)))
            except ray.exceptions.RayError as exc:  # made again on the driver with the rest of the statistics
                log.warning("the statistics task of %d item(s) (%s, ...) failed (%s); computing them on the driver",
                            len(keys), keys[0], exc)
        deadline = time.monotonic() + HAND_OVER_WAIT_S
        for ref, keys in refs:  # the hand-overs run on Ray's threads: none may come after the caller moves on
            if not self._handed_over[ref].wait(max(0.0, deadline - time.monotonic())):
                log.warning("the results of %d item(s) (%s, ...) were not handed over within %.0f s",
                            len(keys), keys[0], HAND_OVER_WAIT_S)
        log.info("statistics (%s): waited %.1f s for the last ones", self._name, time.monotonic() - started)
        return made
