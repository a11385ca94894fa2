"""The Ray Data pipeline of one dataset pass: manifest → read + decode (CPU tasks) → one actor pool per metric."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import ray

from orchestrator.actors import ScoreWith, decode_batch
from orchestrator.placement import Placement
from orchestrator.plan import DatasetPass

#: CPUs each read + decode task reserves.
DECODE_TASK_CPUS = 0.25


def _blocks(table: pa.Table, rows_per_block: int) -> list[pa.Table]:
    return [table.slice(start, rows_per_block) for start in range(0, table.num_rows, rows_per_block)]


def run_pass(dataset_pass: DatasetPass, placements: list[Placement], batch_size: int) -> pd.DataFrame:
    """Score every image of the pass with every metric; one row per image, columns per metric."""
    manifest = dataset_pass.manifest
    resize = dataset_pass.dataset.augment.get("resize")
    with_ref = dataset_pass.dataset.mode == "FR"
    table = manifest.table.select(["id", "dist_path", "ref_path"])
    ds = ray.data.from_arrow(_blocks(table, max(1, batch_size)))
    ds = ds.map_batches(
        decode_batch,
        batch_size=batch_size,
        batch_format="numpy",
        num_cpus=DECODE_TASK_CPUS,
        fn_kwargs={"resize": resize, "with_ref": with_ref},
    )
    last = len(placements) - 1
    for index, (placement, cell) in enumerate(zip(placements, dataset_pass.cells)):
        ds = ds.map_batches(
            ScoreWith,
            fn_constructor_kwargs={
                "metric": cell.metric,
                "options": dict(cell.options),
                "device": placement.device,
                "batch_size": batch_size,
                "num_threads": placement.threads,
                "drop_images": index == last,
            },
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=placement.workers),
            num_cpus=placement.num_cpus,
            num_gpus=placement.num_gpus or None,
        )
    return ds.to_pandas().sort_values("id").reset_index(drop=True)
