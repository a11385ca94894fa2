"""The Ray Data pipeline of one dataset pass: manifest → read + decode → one actor pool per metric.

Where the first metric runs on CPU, its actors read and decode the images themselves (no extra stage, no
object-store hop, no task workers to start); where it runs on a GPU, CPU tasks decode ahead of it so the GPU
never waits on PNG decoding. Either way each image is decoded once per pass and flows on to the later metrics.
Where all the metrics run on CPU and outnumber the CPUs, one pool of actors that each hold every metric replaces
the per-metric pools (:func:`orchestrator.placement.shared_actors`).

Results stream back to the driver batch by batch (``iter_batches``), so the driver can commit them as they
arrive; nothing waits for the whole dataset.
"""

from __future__ import annotations

import math
import warnings
from typing import Iterator

import pandas as pd
import pyarrow as pa
import ray

from metrics.registry import module_of
from orchestrator.run.actors import ScoreWith, ScoreWithAll, decode_batch
from orchestrator.run.placement import Placement
from orchestrator.run.plan import Cell

#: CPUs each read + decode task reserves.
DECODE_TASK_CPUS = 0.25
#: A dead metric actor is restarted, and its batch retried, this many times before the pass fails.
ACTOR_MAX_RESTARTS = 2
#: How long a pass waits for its actors to start before it fails.
WAIT_FOR_ACTORS_S = 600


#: Most rows one Ray task carries through the pipeline (a model still sees ``batch_size`` images at a time).
MAX_ROWS_PER_TASK = 64
#: Tasks each actor should get at least, so that the pool's actors share the work evenly.
TASKS_PER_ACTOR = 4


def rows_per_task(rows: int, batch_size: int, actors: int) -> int:
    """Rows per Ray task: whole model batches, at most :data:`MAX_ROWS_PER_TASK` unless one batch is larger, and
    few enough that each of ``actors`` gets about :data:`TASKS_PER_ACTOR` tasks.

    Ray's cost per task (scheduling, serialising the batch, the hop to the next stage and to the driver) is
    fixed, so fast metrics need several model batches per task to keep the actors busy.
    """
    batch_size = max(1, batch_size)
    wanted = min(MAX_ROWS_PER_TASK, math.ceil(rows / (TASKS_PER_ACTOR * max(1, actors))))
    return max(1, math.ceil(wanted / batch_size)) * batch_size


def _blocks(table: pa.Table, rows_per_block: int) -> list[pa.Table]:
    return [table.slice(start, rows_per_block) for start in range(0, table.num_rows, rows_per_block)]


def stream_pass(
    rows: pa.Table,
    cells: list[Cell],
    placements: list[Placement],
    batch_size: int,
    with_ref: bool,
    resize: int | None,
    shared: Placement | None = None,
) -> Iterator[pd.DataFrame]:
    """Score ``rows`` (manifest rows: id, dist_path, ref_path) with every cell's metric; yield result batches.

    ``shared`` (from :func:`orchestrator.placement.shared_actors`): one pool of actors holding every metric
    instead of one pool per metric.
    """
    # Start every actor of a pool before feeding it (else the first ready node takes all the work), and fail
    # rather than wait forever when they cannot start.
    ray.data.DataContext.get_current().wait_for_min_actors_s = WAIT_FOR_ACTORS_S
    table = rows.select([c for c in ("id", "dist_path", "ref_path", "dist_b_path") if c in rows.column_names])
    actors = shared.workers if shared is not None else max(p.workers for p in placements)
    task_rows = rows_per_task(table.num_rows, batch_size, actors)
    ds = ray.data.from_arrow(_blocks(table, task_rows))
    decode = {"resize": resize, "with_ref": with_ref}
    decode_in_actors = placements[0].device == "cpu"
    if not decode_in_actors:
        ds = ds.map_batches(decode_batch, batch_size=task_rows, batch_format="numpy", num_cpus=DECODE_TASK_CPUS,
                            fn_kwargs=decode)
    last = len(cells) - 1
    stages = [
        {
            "metric": cell.metric,
            "module": module_of(cell.metric),
            "options": dict(cell.options),
            "device": placement.device,
            "batch_size": batch_size,
            "num_threads": placement.threads,
            "drop_images": index == last,
        }
        for index, (placement, cell) in enumerate(zip(placements, cells))
    ]
    if shared is not None:
        pools = [(ScoreWithAll, {"stages": stages, "decode": decode}, shared)]
    else:
        pools = [(ScoreWith, {**stage, "decode": decode if index == 0 and decode_in_actors else None}, placement)
                 for index, (stage, placement) in enumerate(zip(stages, placements))]
    for actor_class, actor_kwargs, placement in pools:
        with warnings.catch_warnings():
            # Ray 2.60 has no named parameter for an actor's restart budget: a remote argument is the only way to
            # pass it, and it draws a blanket deprecation warning.
            warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
            ds = ds.map_batches(
                actor_class,
                fn_constructor_kwargs=actor_kwargs,
                batch_size=task_rows,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=placement.workers),
                **placement.ray_options(),
                max_restarts=ACTOR_MAX_RESTARTS,
                max_task_retries=ACTOR_MAX_RESTARTS,
            )
    yield from ds.iter_batches(batch_size=None, batch_format="pandas")
