"""Results on disk, committed atomically per cell, so that a killed run loses nothing already scored.

Layout under ``<out>``::

    cells/<cell_key>/parts/part-<n>.parquet   per-image results streamed in while a cell is scored
    cells/<cell_key>/scores.parquet           the cell's per-image table (manifest columns + result)
    cells/<cell_key>/summary.json             the cell's summary row
    cells/<cell_key>/COMMIT                   written last: the cell is done only when this exists
    scores/<dataset>/<metric>.parquet         the latest committed table of each (dataset, metric)

Every file is written to a temporary name in its folder and renamed into place.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestrator.results.columns import RESULT_FIELDS, column
from orchestrator.results.files import write_parquet_atomic, write_text_atomic


PART_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("score", pa.float64()),
        #: 2AFC datasets: the score of the second candidate (``score`` is the first's); null otherwise.
        ("score_b", pa.float64()),
        ("error", pa.string()),
        ("seconds", pa.float64()),
        ("node_id", pa.string()),
        ("started", pa.float64()),
        ("finished", pa.float64()),
    ]
)
MANIFEST_COLUMNS = ("id", "dist_name", "ref_name", "mos", "split")
#: Extra manifest columns carried into the per-image table when a dataset has them.
OPTIONAL_COLUMNS = (("dist_b_name", pa.string()), ("judge", pa.float64()))
SCORE_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("dist_name", pa.string()),
        ("ref_name", pa.string()),
        ("mos", pa.float64()),
        ("split", pa.string()),
        *[PART_SCHEMA.field(name) for name in PART_SCHEMA.names[1:]],
    ]
)
COMMIT_MARKER = "COMMIT"
#: The error of an image whose result never reached the store (a cell with such rows is never committed).
LOST_ERROR = "lost: no result came back for this image"
#: The error of an image the metric answered without a score (NaN) and without an error.
NO_SCORE_ERROR = "score: the metric returned no score (NaN)"


class IncompleteCellError(RuntimeError):
    """A cell whose per-image table has rows that never came back: it is not committed, its parts are kept."""


def scores_path(out: Path, dataset: str, metric: str) -> Path:
    return Path(out) / "scores" / dataset / f"{metric}.parquet"


def result_part(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One metric's columns of a streamed result batch, renamed to the part schema."""
    wanted = {column(metric, k): ("node_id" if k == "node" else k) for k in RESULT_FIELDS}
    part = results[["id", *wanted]].rename(columns=wanted)
    part["error"] = [e if isinstance(e, str) else None for e in part["error"]]
    return part


class CellStore:
    """Committed and in-progress cell results under ``<out>/cells``."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.root = self.out / "cells"

    def cell_dir(self, key: str) -> Path:
        return self.root / key

    def is_committed(self, key: str) -> bool:
        return (self.cell_dir(key) / COMMIT_MARKER).is_file()

    # ---------------------------------------------------------------- streamed parts (resume inside a cell)
    def append_part(self, key: str, part: pd.DataFrame) -> None:
        parts = self.cell_dir(key) / "parts"
        parts.mkdir(parents=True, exist_ok=True)
        index = len(list(parts.glob("part-*.parquet")))
        table = pa.Table.from_pandas(part[list(PART_SCHEMA.names)], schema=PART_SCHEMA, preserve_index=False)
        write_parquet_atomic(table, parts / f"part-{index:06d}.parquet")

    def load_parts(self, key: str) -> pd.DataFrame:
        """Every committed part of a cell, one row per id (the first result of an id wins)."""
        files = sorted((self.cell_dir(key) / "parts").glob("part-*.parquet"))
        if not files:
            return pd.DataFrame({name: pd.Series(dtype=object) for name in PART_SCHEMA.names})
        frame = pa.concat_tables([pq.read_table(f, schema=PART_SCHEMA) for f in files]).to_pandas()
        return frame.drop_duplicates("id", keep="first").reset_index(drop=True)

    def scored_ids(self, key: str) -> set[int]:
        return set(int(i) for i in self.load_parts(key)["id"])

    def discard(self, key: str) -> None:
        shutil.rmtree(self.cell_dir(key), ignore_errors=True)

    # ---------------------------------------------------------------- commits
    def commit(self, key: str, frame: pd.DataFrame, summary: dict[str, Any]) -> None:
        """Write the cell's table and summary, then its marker (the driver publishes committed cells).

        A table with rows that never came back (:data:`LOST_ERROR`: a second writer removed parts under this one,
        or a result went missing) raises :class:`IncompleteCellError`: nothing is written, the parts stay, and
        a rerun resumes the cell instead of caching the gap.
        """
        lost = lost_rows(frame)
        if lost:
            raise IncompleteCellError(
                f"incomplete: {lost} of {len(frame)} image(s) have no result in {self.cell_dir(key) / 'parts'} "
                "(another writer on this folder?); not committed, rerun to finish it")
        directory = self.cell_dir(key)
        schema = score_schema(frame)
        table = pa.Table.from_pandas(frame[list(schema.names)], schema=schema, preserve_index=False)
        write_parquet_atomic(table, directory / "scores.parquet")
        write_text_atomic(json.dumps(_jsonable(summary), sort_keys=True, indent=1), directory / "summary.json")
        write_text_atomic(key + "\n", directory / COMMIT_MARKER)
        shutil.rmtree(directory / "parts", ignore_errors=True)

    def load_committed(self, key: str) -> tuple[pd.DataFrame, dict[str, Any]]:
        directory = self.cell_dir(key)
        frame = pq.read_table(directory / "scores.parquet").to_pandas()
        summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
        return frame, summary

    def publish(self, key: str, dataset: str, metric: str) -> Path:
        """Make the committed table of ``key`` the public ``scores/<dataset>/<metric>.parquet``; returns its path."""
        path = scores_path(self.out, dataset, metric)
        write_parquet_atomic(pq.read_table(self.cell_dir(key) / "scores.parquet"), path)
        return path


def score_schema(frame: pd.DataFrame) -> pa.Schema:
    """The per-image table's schema: the common columns plus the optional manifest columns the frame has."""
    schema = SCORE_SCHEMA
    for name, kind in OPTIONAL_COLUMNS:
        if name in frame.columns:
            schema = schema.insert(schema.get_field_index("split") + 1, pa.field(name, kind))
    return schema


def cell_frame(manifest: pa.Table, results: pd.DataFrame) -> pd.DataFrame:
    """The per-image table of one cell: every manifest row joined with its result (part schema) by id."""
    optional = [name for name, _ in OPTIONAL_COLUMNS if name in manifest.column_names]
    base = manifest.select([*MANIFEST_COLUMNS, *optional]).to_pandas()
    frame = base.merge(results, on="id", how="left", validate="one_to_one")
    frame["error"] = [e if isinstance(e, str) else None for e in frame["error"]]
    returned = frame["id"].isin(results["id"]).to_numpy()
    score = frame["score"].to_numpy(dtype=float, na_value=np.nan)
    no_error = np.array([e is None for e in frame["error"]], dtype=bool)
    frame.loc[no_error & ~returned, "error"] = LOST_ERROR
    frame.loc[no_error & returned & np.isnan(score), "error"] = NO_SCORE_ERROR
    return frame


def lost_rows(frame: pd.DataFrame) -> int:
    """How many rows of a cell's per-image table never came back (see :func:`cell_frame`)."""
    return int((frame["error"] == LOST_ERROR).sum())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
