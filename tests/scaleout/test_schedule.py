"""The scheduler's blocks without Ray: whole model batches, datasets interleaved in proportion to their sizes,
per-metric masks carried with each block, and rows no metric needs left out."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from orchestrator.run.schedule import MAX_BLOCK_ROWS, DatasetWork, block_rows, make_blocks


def work(index: int, n: int, masks: dict[str, np.ndarray] | None = None) -> DatasetWork:
    rows = pa.table({"id": pa.array(range(n), pa.int64()), "dist_path": [f"d{index}/{i}.png" for i in range(n)]})
    return DatasetWork(index, rows, masks or {"m": np.ones(n, dtype=bool)}, {"resize": None, "with_ref": False})


def test_block_rows_are_whole_model_batches_capped_and_spread_over_the_actors():
    assert block_rows(100_000, 8, 2) == MAX_BLOCK_ROWS == 64
    assert block_rows(160, 8, 2) == 16  # 160 / (8 blocks × 2 actors) = 10 → two model batches
    assert block_rows(5, 8, 4) == 8  # never less than one model batch
    assert block_rows(100_000, 100, 2) == 100  # a model batch above the cap stays whole


def test_datasets_are_interleaved_in_proportion_to_their_sizes():
    blocks = make_blocks([work(0, 400), work(1, 100)], 10)
    order = [b.dataset for b in blocks]
    assert len(order) == 50 and order.count(0) == 40 and order.count(1) == 10
    # In every fifth of the run, both datasets advance at their own share (4 : 1).
    for fifth in range(5):
        chunk = order[fifth * 10:(fifth + 1) * 10]
        assert chunk.count(1) == 2, order


def test_blocks_carry_each_metrics_rows_and_skip_what_no_metric_needs():
    n = 30
    fr_only = np.zeros(n, dtype=bool)
    fr_only[:12] = True
    blocks = make_blocks([work(0, n, {"a": np.ones(n, dtype=bool), "b": fr_only})], 10)
    assert [sorted(b.masks) for b in blocks] == [["a", "b"], ["a", "b"], ["a"]]
    assert blocks[1].masks["b"].tolist() == [True, True] + [False] * 8
    assert sum(b.rows.num_rows for b in blocks) == n
    nothing = make_blocks([work(0, n, {"a": np.zeros(n, dtype=bool)})], 10)
    assert nothing == []
