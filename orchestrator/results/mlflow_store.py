"""The default MLflow store, a SQLite file (``<out>/mlflow.db``), made so that a failure cannot leave it half-made.

MLflow creates a SQLite store by running its schema migrations on the file in place; a full disk (or a kill)
mid-way leaves a file with some of the tables and an older (or no) schema version, and every later opening
fails ("table spans already exists"). Here a missing store is created in a temporary file beside it, migrated
there, and linked into place only once complete. A store found half-made (not at MLflow's schema head, or
missing tables) that holds no runs is moved aside as ``mlflow.db.broken-<timestamp>`` and made again; one that
holds runs is left for MLflow to migrate (nothing is ever deleted). A store that cannot be read (busy, read-only)
is never taken for a half-made one: it is left alone, with one line saying why. Other URIs are left alone.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"
#: How long reading a store waits for another process's write to end.
BUSY_TIMEOUT_S = 60.0


class StoreError(RuntimeError):
    """The SQLite store could not be prepared (one line: which file, what happened)."""


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI, or None for any other store (servers, in-memory databases)."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    path = uri[len(SQLITE_PREFIX):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def _expected_schema() -> tuple[set[str], str]:
    """The tables MLflow's models define and its newest schema revision."""
    import mlflow.store.tracking.dbmodels.models  # noqa: F401  (defines the tables on Base)
    from mlflow.store.db.base_sql_model import Base
    from mlflow.store.db.utils import _get_latest_schema_revision

    return set(Base.metadata.tables), _get_latest_schema_revision()


def store_state(path: Path) -> tuple[bool, int]:
    """(whether the store at ``path`` is complete, how many runs it holds); a file that is not a database (or is
    damaged) is incomplete with no runs.

    The file is opened for writing, as MLflow opens it: a writer killed mid-transaction leaves a hot journal that
    SQLite rolls back on the next writable opening, and a read-only opening refuses ("attempt to write a readonly
    database") a store that is whole. Raises :class:`StoreError` when the store is busy or unreadable for another
    reason (it is never taken for a broken one).
    """
    tables, head = _expected_schema()
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)) as db:
            present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = list(db.execute("SELECT version_num FROM alembic_version")) if "alembic_version" in present \
                else []
            runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] if "runs" in present else 0
    except sqlite3.OperationalError as exc:  # locked, read-only, I/O: the store may be whole; never set it aside
        raise StoreError(f"MLflow store {path}: cannot read it ({exc})") from exc
    except sqlite3.DatabaseError:  # not a database at all (or damaged): nothing MLflow could read in it
        return False, 0
    complete = tables <= present and [row[0] for row in version] == [head]
    return complete, int(runs)


def _aside(path: Path) -> Path:
    """A new name beside ``path`` for a broken store: ``<name>.broken-<timestamp>`` (numbered if taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.broken-{stamp}")
    number = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.broken-{stamp}-{number}")
        number += 1
    return candidate


def _forget_engine(uri: str) -> None:
    """Close and drop MLflow's cached engine of ``uri`` (its pooled connections would keep using a file that was
    moved aside, or a temporary file that is gone)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engine = getattr(SqlAlchemyStore, "_engine_map", {}).pop(uri, None)
    if engine is not None:
        engine.dispose()


def _create(path: Path) -> None:
    """Create and migrate a store in a temporary file beside ``path``, then link it into place (unless another
    process made one meanwhile)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.creating")
    try:
        SqlAlchemyStore(f"{SQLITE_PREFIX}{temp}", (path.parent / "mlartifacts").resolve().as_uri())
        _forget_engine(f"{SQLITE_PREFIX}{temp}")
        try:
            os.link(temp, path)
        except FileExistsError:  # another run made the store first: theirs is as good
            pass
    finally:
        temp.unlink(missing_ok=True)


def prepare_store(uri: str) -> None:
    """Make sure the SQLite store of ``uri`` (if it is one) exists and is complete; see the module docstring.

    Raises :class:`StoreError` (one line naming the file) when it cannot be made.
    """
    path = sqlite_path(uri)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size > 0:
            complete, runs = store_state(path)
            if complete or runs:
                return  # usable, or holding runs: MLflow migrates it (or says why it cannot)
            path.rename(_aside(path))
            _forget_engine(uri)
        else:
            path.unlink(missing_ok=True)  # an empty file holds nothing
        _create(path)
    except StoreError:
        raise  # already one line naming the file
    except OSError as exc:
        raise StoreError(f"MLflow store {path}: cannot create it ({exc.strerror or exc})") from exc
    except Exception as exc:  # MLflow's or SQLAlchemy's own failure while migrating the temporary copy
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise StoreError(f"MLflow store {path}: cannot create it ({type(exc).__name__}: {first[:300]})") from exc
