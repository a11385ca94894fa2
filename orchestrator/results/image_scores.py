"""The output of ``iqabench score``: one row per image, one column per metric, written as CSV and Parquet.

Columns: ``name`` (the image's name: its file name, or its path relative to the folder a glob's matches share,
or as the CSV gave it), ``path``, ``ref_path`` (full-reference sets only), then per metric ``<metric>`` (the
score; empty where it failed) and ``<metric>_error`` (why it failed; empty where it scored).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pyarrow as pa

from orchestrator.results.files import write_parquet_atomic, write_text_atomic

ERROR_SUFFIX = "_error"


def image_scores_table(manifest: pa.Table, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The per-image table of an image set: its manifest rows (in order) with each metric's committed per-image
    table (``id``, ``score``, ``error``) joined by id; metrics in ``frames``' order."""
    base = manifest.select(["id", "dist_name", "dist_path", "ref_path"]).to_pandas()
    table = base.rename(columns={"dist_name": "name", "dist_path": "path"})
    if table["ref_path"].isna().all():
        table = table.drop(columns="ref_path")
    for metric, frame in frames.items():
        part = frame.set_index("id")
        table[metric] = table["id"].map(part["score"]).astype(float)
        table[metric + ERROR_SUFFIX] = table["id"].map(part["error"]).map(lambda e: e if isinstance(e, str) else None)
    return table.drop(columns="id")


def write_image_scores(table: pd.DataFrame, out: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<out>/<stem>.csv`` and ``<out>/<stem>.parquet`` atomically; returns their paths."""
    csv_path, parquet_path = Path(out) / f"{stem}.csv", Path(out) / f"{stem}.parquet"
    write_text_atomic(table.to_csv(index=False), csv_path)
    write_parquet_atomic(pa.Table.from_pandas(table, preserve_index=False), parquet_path)
    return csv_path, parquet_path


def metric_summary(table: pd.DataFrame, metrics: list[str]) -> dict[str, dict[str, float]]:
    """Per metric: images scored (``n``), failed (``n_failed``) and the mean score of those scored."""
    found = {}
    for metric in metrics:
        scores = table[metric]
        scored = scores.notna() & table[metric + ERROR_SUFFIX].isna()
        found[metric] = {"n": float(scored.sum()), "n_failed": float((~scored).sum()),
                         "mean": float(scores[scored].mean()) if scored.any() else math.nan}
    return found
