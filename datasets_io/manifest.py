"""The manifest: the single contract between datasets and the orchestrator.

An Arrow table with one row per scored image — ``id``, ``dist_name``, ``ref_name``, ``dist_path``, ``ref_path``,
``mos``, ``split`` — and a digest over the row content and every file's path, size and sha256, which
identifies the dataset version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from datasets_io.meta import MetaInfoError, rows_for
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

_HASH_CHUNK = 1 << 20


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


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _digest(table: pa.Table) -> str:
    h = hashlib.sha256()
    seen: dict[str, str] = {}
    for row in table.to_pylist():
        h.update(repr((row["dist_name"], row["ref_name"], row["mos"], row["split"])).encode())
        for path in (row["dist_path"], row["ref_path"]):
            if path is None:
                continue
            if path not in seen:
                seen[path] = f"{Path(path).stat().st_size}:{file_sha256(path)}"
            h.update(seen[path].encode())
    return h.hexdigest()


def build_manifest(spec: DatasetSpec, limit: int | None = None) -> Manifest:
    """Read ``spec``'s meta-info, resolve image paths, check they exist, and digest the result."""
    rows = rows_for(spec)
    if limit is not None:
        rows = rows.iloc[:limit]
    target = Path(spec.dataroot_target)
    ref_root = Path(spec.dataroot_ref) if spec.dataroot_ref else target
    dist_paths = [str(target / name) for name in rows["dist_name"]]
    ref_paths = [str(ref_root / name) if isinstance(name, str) else None for name in rows["ref_name"]]
    missing = sorted({p for p in dist_paths + ref_paths if p is not None and not Path(p).is_file()})
    if missing:
        shown = "\n  ".join(missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise MissingImagesError(
            f"dataset {spec.key!r} ({spec.meta_info_file}): {len(missing)} image(s) named in the meta-info are "
            f"missing:\n  {shown}{more}"
        )
    if not dist_paths:
        raise MetaInfoError(f"dataset {spec.key!r}: no images to score")
    table = pa.table(
        {
            "id": pa.array(range(len(dist_paths)), pa.int64()),
            "dist_name": pa.array(rows["dist_name"].tolist(), pa.string()),
            "ref_name": pa.array([r if isinstance(r, str) else None for r in rows["ref_name"]], pa.string()),
            "dist_path": pa.array(dist_paths, pa.string()),
            "ref_path": pa.array(ref_paths, pa.string()),
            "mos": pa.array(rows["mos"].tolist(), pa.float64()),
            "split": pa.array([s if isinstance(s, str) else None for s in rows["split"]], pa.string()),
        },
        schema=MANIFEST_SCHEMA,
    )
    return Manifest(spec=spec, table=table, digest=_digest(table))
