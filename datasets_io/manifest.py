"""The manifest: the single contract between datasets and the orchestrator.

An Arrow table with one row per scored item. Every dataset has ``id`` (int64, 0..n-1), ``dist_name``,
``ref_name`` (null for NR), ``dist_path``, ``ref_path`` (absolute paths; ref null for NR), ``mos`` (float64)
and ``split``. Some kinds add labels:

- AVA: ``vote_dist`` (list<float64>, the 10 published vote counts for scores 1..10; ``mos`` is their mean).
- BAPPS (2AFC): one row per judgement: ``dist_*`` is candidate p0, ``dist_b_name``/``dist_b_path`` candidate
  p1, ``ref_*`` the reference, ``judge`` (float64, fraction of observers who preferred p1; also in ``mos``)
  and ``subset`` (e.g. ``val/cnn``). 2AFC accuracy of a metric with distances d0, d1 (lower = more similar):
  ``(d0 < d1)·(1 − judge) + (d0 > d1)·judge + (d0 == d1)·0.5``, averaged.

The digest covers the rows (names, labels, split), the scoring options that change the pixels (``augment``),
and each file's name, size and sha256 (names, not absolute paths, so the same data under another root has
the same digest). Hashes are cached by path, size and mtime (:mod:`datasets_io.hashcache`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from datasets_io.hashcache import HashCache, default_cache_path, file_sha256
from datasets_io.meta import MetaInfoError, check_mos_varies, rows_for
from datasets_io.paths import image_paths
from datasets_io.spec import DatasetSpec

MANIFEST_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("dist_name", pa.string()),
        ("ref_name", pa.string()),
        ("dist_path", pa.string()),
        ("ref_path", pa.string()),
        ("mos", pa.float64()),
        ("split", pa.string()),
    ]
)
#: Extra columns per dataset type, appended after the base schema.
EXTRA_COLUMNS: dict[str, list[pa.Field]] = {
    "AVADataset": [pa.field("vote_dist", pa.list_(pa.float64()))],
    "BAPPSDataset": [
        pa.field("dist_b_name", pa.string()),
        pa.field("dist_b_path", pa.string()),
        pa.field("judge", pa.float64()),
        pa.field("subset", pa.string()),
    ],
}

__all__ = ["Manifest", "MissingImagesError", "MANIFEST_SCHEMA", "EXTRA_COLUMNS", "build_manifest", "file_sha256",
           "manifest_of"]


class MissingImagesError(FileNotFoundError):
    """Images named by a meta-info file that are not on disk."""


@dataclass(frozen=True)
class Manifest:
    spec: DatasetSpec
    table: pa.Table
    digest: str

    @property
    def num_rows(self) -> int:
        return self.table.num_rows


def manifest_schema(spec: DatasetSpec) -> pa.Schema:
    schema = MANIFEST_SCHEMA
    for f in EXTRA_COLUMNS.get(spec.type, []):
        schema = schema.append(f)
    return schema


def _digest(spec: DatasetSpec, table: pa.Table, cache: HashCache) -> str:
    name_of: dict[str, str] = {}
    for name_col, path_col in (("dist_name", "dist_path"), ("ref_name", "ref_path"), ("dist_b_name", "dist_b_path")):
        if path_col in table.column_names:
            for name, path in zip(table[name_col].to_pylist(), table[path_col].to_pylist()):
                if path is not None:
                    name_of.setdefault(path, f"{path_col}:{name}")
    files = cache.sizes_and_hashes(sorted(name_of))
    h = hashlib.sha256()
    h.update(json.dumps({"type": spec.type, "augment": spec.augment}, sort_keys=True).encode())
    label_cols = [c for c in table.column_names if c not in ("id", "dist_path", "ref_path", "dist_b_path")]
    for row in table.select(label_cols).to_pylist():
        h.update(repr(tuple(row[c] for c in label_cols)).encode())
    for path in sorted(name_of, key=name_of.__getitem__):
        size, sha = files[path]
        h.update(f"{name_of[path]}:{size}:{sha}\n".encode())
    return h.hexdigest()


def build_manifest(
    spec: DatasetSpec, limit: int | None = None, *, hash_cache: str | Path | bool = True
) -> Manifest:
    """Read ``spec``'s meta-info, resolve image paths, check they exist, and digest the result.

    ``hash_cache``: True for the default cache file, a path for another, False to hash every file afresh.
    """
    rows = rows_for(spec)
    if limit is not None:
        rows = rows.iloc[:limit]
    check_mos_varies(spec, rows["mos"], limit)
    paths = image_paths(spec, rows)
    dist_paths, ref_paths, extra_paths = paths.dist, paths.ref, paths.dist_b
    columns: dict[str, pa.Array] = {}
    if spec.type == "BAPPSDataset":
        columns = {
            "dist_b_name": pa.array(rows["dist_b_name"].tolist(), pa.string()),
            "dist_b_path": pa.array(extra_paths, pa.string()),
            "judge": pa.array(rows["judge"].tolist(), pa.float64()),
            "subset": pa.array(rows["subset"].tolist(), pa.string()),
        }
    elif spec.type == "AVADataset":
        columns = {"vote_dist": pa.array([list(v) for v in rows["vote_dist"]], pa.list_(pa.float64()))}
    missing = [p for p in paths.distinct() if not os.path.isfile(p)]
    if missing:
        shown = "\n  ".join(missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise MissingImagesError(
            f"dataset {spec.key!r} ({spec.meta_info_file}): {len(missing)} image(s) named in the meta-info are "
            f"missing:\n  {shown}{more}"
        )
    if not dist_paths:
        raise MetaInfoError(f"dataset {spec.key!r}: no images to score")
    base = {
        "id": pa.array(range(len(dist_paths)), pa.int64()),
        "dist_name": pa.array(rows["dist_name"].tolist(), pa.string()),
        "ref_name": pa.array([r if isinstance(r, str) else None for r in rows["ref_name"]], pa.string()),
        "dist_path": pa.array(dist_paths, pa.string()),
        "ref_path": pa.array(ref_paths, pa.string()),
        "mos": pa.array(rows["mos"].tolist(), pa.float64()),
        "split": pa.array([s if isinstance(s, str) else None for s in rows["split"]], pa.string()),
    }
    return manifest_of(spec, pa.table({**base, **columns}, schema=manifest_schema(spec)), hash_cache=hash_cache)


def manifest_of(spec: DatasetSpec, table: pa.Table, *, hash_cache: str | Path | bool = True) -> Manifest:
    """The manifest of rows already resolved (``table`` in :func:`manifest_schema`), digested; ``hash_cache`` as
    in :func:`build_manifest`. Image sets without labels (``iqabench score``) are made with it too."""
    if hash_cache is True:
        cache = HashCache(default_cache_path())
    elif hash_cache is False:
        cache = HashCache(None)
    else:
        cache = HashCache(hash_cache)
    return Manifest(spec=spec, table=table, digest=_digest(spec, table, cache))
