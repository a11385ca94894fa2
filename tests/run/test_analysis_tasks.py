"""Statistics on a few Ray tasks while scoring goes on: every cell's fits come back, equal to the driver's, a burst
of cells shares tasks instead of starting one each, and each result is heard of as its task ends."""

from __future__ import annotations

import math
import threading

import numpy as np

from orchestrator.run.analysis_tasks import CELLS_PER_TASK, AnalysisTasks
from orchestrator.stats.cell import analyse_cell, analyse_cells


def test_a_burst_of_cells_shares_a_few_tasks_and_every_cell_gets_its_own_fits(ray_cluster):
    rng = np.random.default_rng(0)
    cells = {}
    for i in range(20):
        score = rng.normal(size=30)
        cells[("d", f"m{i}")] = (score, 2.0 * score + rng.normal(scale=0.5 + i / 20, size=30))
    heard, lock = {}, threading.Lock()

    def on_result(key, made):
        with lock:
            heard[key] = made

    analyses = AnalysisTasks(analyse_cells, in_flight=1, per_task=CELLS_PER_TASK, on_result=on_result)
    for key, (score, mos) in cells.items():
        analyses.add(key, (score, mos, f"{key[1]} @ {key[0]}", 0.5))
    made = analyses.results()
    assert sorted(made) == sorted(cells)
    # One task at a time: the first takes one cell, the cells that arrive meanwhile share the next ones.
    assert analyses.tasks <= 1 + math.ceil(19 / CELLS_PER_TASK)
    for key in (("d", "m0"), ("d", "m19")):
        score, mos = cells[key]
        local = analyse_cell(score, mos, "", 0.5)
        assert [f.params for f in made[key].fits] == [f.params for f in local.fits]
        assert made[key].scatter_png.startswith(b"\x89PNG")
    # Every result was also handed over as its task ended (on Ray's threads), the same object results() returns.
    assert sorted(heard) == sorted(cells)
    for key in cells:
        assert [f.params for f in heard[key].fits] == [f.params for f in made[key].fits]
        assert heard[key].scatter_png == made[key].scatter_png
