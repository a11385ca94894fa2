"""The default SQLite store: made whole or not at all, and never set aside while it holds runs that a killed
writer left behind a hot journal."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.results import mlflow_store
from orchestrator.results.mlflow_store import StoreError, prepare_store

_WRITER_KILLED_MID_TRANSACTION = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE runs SET name = 'half-written'")
db.execute("CREATE TABLE filler (x BLOB)")
db.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 1000,)] * 5000)  # spills pages: a hot journal
print("ready", flush=True)
time.sleep(120)
"""


def _store_with_a_run(path: Path) -> str:
    from mlflow.tracking import MlflowClient

    prepare_store(f"sqlite:///{path}")
    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    experiment = client.create_experiment("iqabench", artifact_location=(path.parent / "art").as_uri())
    return client.create_run(experiment, run_name="train", tags={"iqabench.training": "x"}).info.run_id


def test_a_store_whose_writer_was_killed_mid_transaction_keeps_its_runs(tmp_path):
    """SIGKILL during a write leaves ``mlflow.db-journal``; a read-only probe fails on it ("attempt to write a
    readonly database"), which once moved the whole store aside and lost a resumed training's run."""
    from mlflow.tracking import MlflowClient

    path = tmp_path / "mlflow.db"
    run_id = _store_with_a_run(path)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER_KILLED_MID_TRANSACTION, str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert (tmp_path / "mlflow.db-journal").stat().st_size > 0  # the hot journal the kill left
    with pytest.raises(sqlite3.OperationalError, match="readonly"), \
            sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        db.execute("SELECT COUNT(*) FROM runs").fetchone()

    prepare_store(f"sqlite:///{path}")
    assert not list(tmp_path.glob("mlflow.db.broken-*"))
    run = MlflowClient(tracking_uri=f"sqlite:///{path}").get_run(run_id)
    assert run.info.run_name == "train"  # the killed transaction rolled back, the run kept


def test_a_busy_store_is_one_line_and_left_alone(tmp_path, monkeypatch):
    path = tmp_path / "mlflow.db"
    _store_with_a_run(path)
    monkeypatch.setattr(mlflow_store, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        one_line = rf"^MLflow store {re.escape(str(path))}: cannot read it \(database is locked\)$"
        with pytest.raises(StoreError, match=one_line):
            prepare_store(f"sqlite:///{path}")
    finally:
        holder.close()
    assert not list(tmp_path.glob("mlflow.db.broken-*"))


def test_a_file_that_is_not_a_database_is_set_aside_and_made_again(tmp_path):
    from mlflow.tracking import MlflowClient

    path = tmp_path / "mlflow.db"
    path.write_bytes(b"not a database, " * 100)
    prepare_store(f"sqlite:///{path}")
    aside = list(tmp_path.glob("mlflow.db.broken-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"not a database, " * 100
    assert MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # a whole store again
