"""Per-image results on disk: ``<out>/scores/<dataset>/<metric>.parquet``, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestrator.actors import column
from orchestrator.plan import Cell, DatasetPass

SCORE_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("dist_name", pa.string()),
        ("ref_name", pa.string()),
        ("mos", pa.float64()),
        ("split", pa.string()),
        ("score", pa.float64()),
        ("error", pa.string()),
        ("seconds", pa.float64()),
        ("node_id", pa.string()),
        ("started", pa.float64()),
        ("finished", pa.float64()),
    ]
)


def scores_path(out: Path, dataset: str, metric: str) -> Path:
    return Path(out) / "scores" / dataset / f"{metric}.parquet"


def cell_frame(dataset_pass: DatasetPass, cell: Cell, results: pd.DataFrame) -> pd.DataFrame:
    """The per-image table of one cell: manifest columns joined with the metric's result columns by id."""
    manifest = dataset_pass.manifest.table.select(["id", "dist_name", "ref_name", "mos", "split"]).to_pandas()
    wanted = {column(cell.metric, k): k for k in ("score", "error", "seconds", "node", "started", "finished")}
    part = results[["id", *wanted]].rename(columns=wanted).rename(columns={"node": "node_id"})
    frame = manifest.merge(part, on="id", how="left", validate="one_to_one")
    frame["error"] = frame["error"].astype(object).where(frame["error"].notna(), None)
    lost = frame["error"].isna() & frame["score"].isna()
    frame.loc[lost, "error"] = "lost: no result came back for this image"
    return frame


def write_atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=SCORE_SCHEMA, preserve_index=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)
