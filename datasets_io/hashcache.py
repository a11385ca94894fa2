"""A small persistent cache of file sha256 digests, keyed by (absolute path, size, mtime in ns).

Digesting a dataset hashes every image; with the cache, unchanged files (same path, size and modification
time) are not re-read, so a 10k-image dataset is hashed once. The cache is an SQLite file under
``$IQABENCH_HOME`` (default ``~/.cache/iqabench``); a cache that cannot be opened is reported and skipped.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def default_cache_path() -> Path:
    base = os.environ.get("IQABENCH_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "iqabench")
    return Path(base) / "file_hashes.sqlite"


def file_sha256(path: str | Path) -> str:
    """The file's sha256 (hex): the one definition in ``datasets_io``; ``metrics`` calls ``hashlib.file_digest``."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class HashCache:
    """``sizes_and_hashes(paths)`` → {path: (size, sha256)}, re-hashing only files whose key changed."""

    def __init__(self, path: str | Path | None = None, workers: int | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.workers = workers or min(8, os.cpu_count() or 1)
        #: How many files the last call actually hashed (for tests and logs).
        self.last_hashed = 0

    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30)
            db.execute(
                "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT)"
            )
            return db
        except (OSError, sqlite3.Error) as exc:
            warnings.warn(f"file hash cache {self.path} unavailable ({exc}); hashing without it", stacklevel=3)
            return None

    def sizes_and_hashes(self, paths: list[str]) -> dict[str, tuple[int, str]]:
        keys: dict[str, tuple[int, int]] = {}
        for p in paths:
            st = os.stat(p)
            keys[p] = (st.st_size, st.st_mtime_ns)
        db = self._connect()
        known: dict[str, str] = {}
        try:
            if db is not None:
                for p, (size, mtime) in keys.items():
                    row = db.execute("SELECT size, mtime_ns, sha256 FROM hashes WHERE path = ?", (p,)).fetchone()
                    if row is not None and (row[0], row[1]) == (size, mtime):
                        known[p] = row[2]
            todo = [p for p in keys if p not in known]
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                fresh = dict(zip(todo, pool.map(file_sha256, todo)))
            self.last_hashed = len(fresh)
            if db is not None and fresh:
                with db:
                    db.executemany(
                        "INSERT OR REPLACE INTO hashes (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                        [(p, keys[p][0], keys[p][1], sha) for p, sha in fresh.items()],
                    )
        finally:
            if db is not None:
                db.close()
        known.update(fresh)
        return {p: (keys[p][0], known[p]) for p in paths}
