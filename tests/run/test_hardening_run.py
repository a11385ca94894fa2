"""Issue #16 (hardening, the run's part): one regression test per defect, each reproducing the attack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from orchestrator.results.outlock import HOLDER_NAME
from orchestrator.results.store import LOST_ERROR, CellStore, IncompleteCellError, cell_frame

from .conftest import REPO, make_fr_dataset, plugin_env, write_data_opt


def _fr_entry(root: Path, name: str = "tiny") -> dict:
    return {"name": name, "type": "GeneralFRDataset", "dataroot_target": str(root / "dist"),
            "dataroot_ref": str(root / "ref"), "meta_info_file": str(root / "meta.csv")}


def _bench(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jobs.cli", "bench", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ----------------------------------------------------------------------------------------------- defect 4
@pytest.mark.timeout(600)
def test_second_bench_on_the_same_out_is_refused_and_the_first_commits_complete_cells(demo_root, tmp_path,
                                                                                        markers):
    pairs = 16
    root = make_fr_dataset(tmp_path / "d", demo_root, pairs)
    opt = write_data_opt(tmp_path / "opt.yml", {"tiny": _fr_entry(root)})
    out = tmp_path / "out"
    env = {**os.environ, **plugin_env(markers), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("RAY_ADDRESS", None)
    args = ["-m", "t_slow", "t_meandiff", "-d", "tiny", "--data_opt", str(opt), "--out", str(out),
            "--batch_size", "2", "--checkpoint_every", "2", "--bootstrap_resamples", "20", "--num_workers", "1"]
    first = _bench(args, env)
    try:
        deadline = time.monotonic() + 240
        while not (out / HOLDER_NAME).is_file():  # the first run holds the folder
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.2)
        before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
        second = _bench(args, env)
        _, err = second.communicate(timeout=240)
        assert second.returncode == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert f"output folder {out} is in use by another iqabench run (pid {first.pid} on" in lines[0]
        assert first.poll() is None, "the first run ended before the second was refused: the test proves nothing"
        # The first run keeps writing as its cells commit (parts, published scores, MLflow artifacts): leave those.
        live = {"cells", "scores", "mlartifacts", "plots"}
        after = sorted(str(p.relative_to(out)) for p in out.rglob("*") if not live & set(p.relative_to(out).parts))
        assert set(after) <= set(before) | live  # the second run wrote nothing
        stdout, stderr = first.communicate(timeout=400)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv").set_index("metric")
    for metric in ("t_slow", "t_meandiff"):
        assert summary.loc[metric, "n"] == pairs and summary.loc[metric, "n_failed"] == 0
        frame = pd.read_parquet(out / "scores" / "tiny" / f"{metric}.parquet")
        assert len(frame) == pairs and frame["error"].isna().all()
    assert not (out / HOLDER_NAME).exists()


def test_a_commit_with_rows_that_never_came_back_is_refused_and_keeps_its_parts(demo_root, tmp_path):
    """A stray second writer removed the parts under a cell: the gap is never cached, the parts resume it."""
    from datasets_io.manifest import build_manifest
    from datasets_io.options import spec_from_entry

    root = make_fr_dataset(tmp_path / "d", demo_root, 4)
    manifest = build_manifest(spec_from_entry("tiny", _fr_entry(root), "test"), hash_cache=False)
    store = CellStore(tmp_path / "out")
    part = pd.DataFrame({"id": [0, 1], "score": [0.5, 0.25], "score_b": [None, None], "error": [None, None],
                         "seconds": [0.1, 0.1], "node_id": ["n", "n"], "started": [0.0, 0.0],
                         "finished": [1.0, 1.0]})
    store.append_part("k", part)
    frame = cell_frame(manifest.table, store.load_parts("k"))
    assert (frame["error"] == LOST_ERROR).sum() == 2
    with pytest.raises(IncompleteCellError, match="2 of 4 image"):
        store.commit("k", frame, {"n": 2})
    assert not store.is_committed("k")
    assert store.scored_ids("k") == {0, 1}
    assert not (store.cell_dir("k") / "scores.parquet").exists()


# ----------------------------------------------------------------------------------------------- defect 9
def _one_line_exit_2(capsys, argv: list[str]) -> str:
    from jobs.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_out_that_is_a_file_or_under_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    err = _one_line_exit_2(capsys, ["bench", "-m", "psnr", "--out", str(blocker)])
    assert f"--out {blocker}: is a file, not a folder" in err
    err = _one_line_exit_2(capsys, ["bench", "-m", "psnr", "--out", str(blocker / "sub" / "out")])
    assert f"is under {blocker}, a file" in err
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("flag,what", [("--metric_opt", "metric option file"), ("--data_opt", "dataset option file")])
def test_garbage_bytes_in_an_option_yaml_name_the_file(tmp_path, capsys, flag, what):
    garbage = tmp_path / "garbage.yml"
    garbage.write_bytes(b"psnr:\n  data_range: \xff\xfe\x00\x81 binary")
    err = _one_line_exit_2(capsys, ["bench", "-m", "psnr", flag, str(garbage), "--out", str(tmp_path / "o")])
    assert f"{garbage}: {what} is not UTF-8" in err
    garbage.write_bytes(b"psnr:\n  data_range: \x01\x02\n: [")  # UTF-8, but not YAML
    err = _one_line_exit_2(capsys, ["bench", "-m", "psnr", flag, str(garbage), "--out", str(tmp_path / "o")])
    assert f"{garbage}: not valid YAML: " in err
    assert not (tmp_path / "o").exists()


def test_corrupt_tracking_pending_file_is_one_line(tmp_path, capsys):
    from jobs.cli import main
    from orchestrator.results.tracking import PENDING_FILE

    out = tmp_path / "out"
    out.mkdir()
    explicit = ["--tracking_uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    for text, extra in (("{not json", []), ('["a list"]', []), ('{"uri": 3}', []), ("{not json", explicit)):
        (out / PENDING_FILE).write_text(text)
        assert main(["mlflow-sync", "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert f"{out / PENDING_FILE}: " in err
        assert (out / PENDING_FILE).read_text() == text  # kept for the user to look at


# ----------------------------------------------------------------------------------------------- defects 10, 11
def test_option_types_and_values_are_checked_in_the_plan(tmp_path, monkeypatch):
    import orchestrator.run.benchmark as benchmark
    from orchestrator.run.plan import PlanError, build_plan
    from orchestrator.run.request import BenchmarkRequest

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started for an invalid matrix")

    monkeypatch.setattr(benchmark, "start_ray", no_ray)
    monkeypatch.setenv("IQABENCH_HOME", str(tmp_path / "home"))
    opt = tmp_path / "m.yml"
    cases = {
        "psnr:\n  data_range: abc\n": "option 'data_range' must be a number (as its default 1.0), got 'abc'",
        "psnr:\n  data_range: .nan\n": "option 'data_range' must be a finite number, got nan",
        "psnr:\n  data_range: .inf\n": "option 'data_range' must be a finite number, got inf",
        "psnr:\n  data_range: 0\n": "option 'data_range' must be > 0, got 0",
        "ssim:\n  channel: 5\n": "option 'channel' must be a string (as its default 'gray'), got 5",
        "ssim:\n  channel: rgbx\n": "option 'channel' must be one of 'gray', 'y', 'rgb', got 'rgbx'",
        "ssim:\n  window_size: true\n": "option 'window_size' must be an integer (as its default 11), got True",
        "psnr:\n  resources: {num_gpus: -1}\n": "num_gpus must be >= 0, got -1",
        f"psnr:\n  resources: {{workers: {10**12}}}\n": f"workers must be >= 1 and <= 10000, got {10**12}",
    }
    for text, expected in cases.items():
        opt.write_text(text)
        with pytest.raises(PlanError) as err:
            benchmark.run_benchmark(BenchmarkRequest(metrics=("psnr", "ssim"), metric_opt=opt, out=tmp_path / "o"),
                                    echo=lambda line: None)
        assert expected in str(err.value) and str(opt) in str(err.value), (text, str(err.value))
    assert not (tmp_path / "o").exists()
    opt.write_text("psnr:\n  data_range: 255\nmad:\n  channel: gray\n")  # int for a float; str for a None default
    plan = build_plan(BenchmarkRequest(metrics=("psnr", "mad"), metric_opt=opt, out=tmp_path / "o"))
    assert {c.metric: dict(c.options) for c in plan.cells}["psnr"]["data_range"] == 255


def test_an_actor_that_fits_no_local_machine_is_refused_before_ray(tmp_path, monkeypatch):
    import orchestrator.run.benchmark as benchmark
    import orchestrator.run.scoring as scoring
    from orchestrator.run.placement import PlacementError
    from orchestrator.run.request import BenchmarkRequest

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started for actors that cannot fit")

    monkeypatch.setattr(benchmark, "start_ray", no_ray)
    monkeypatch.setattr(scoring, "starts_local_cluster", lambda request: True)
    monkeypatch.setenv("IQABENCH_HOME", str(tmp_path / "home"))
    opt = tmp_path / "m.yml"
    opt.write_text(f"psnr:\n  resources: {{memory_mb: {10**10}}}\n")  # 10 PB: no machine has it
    with pytest.raises(PlacementError, match="fits the cluster"):
        benchmark.run_benchmark(BenchmarkRequest(metrics=("psnr",), metric_opt=opt, out=tmp_path / "o"),
                                echo=lambda line: None)
    assert not (tmp_path / "o").exists()


def test_an_oversized_metric_option_file_is_refused_unread(tmp_path):
    from orchestrator.run.plan import MAX_METRIC_OPTION_BYTES, PlanError, build_plan
    from orchestrator.run.request import BenchmarkRequest

    opt = tmp_path / "huge.yml"
    with opt.open("wb") as f:  # sparse: millions of keys' worth of bytes, none of them written
        f.truncate(50 * 2**20)
    started = time.monotonic()
    with pytest.raises(PlanError) as err:
        build_plan(BenchmarkRequest(metrics=("psnr",), metric_opt=opt, out=tmp_path / "o"))
    assert time.monotonic() - started < 30
    message = str(err.value)
    assert len(message.splitlines()) == 1
    assert f"{opt}: metric option file of {50 * 2**20} bytes exceeds the limit of {MAX_METRIC_OPTION_BYTES}" in message


# ----------------------------------------------------------------------------------------------- defect 5
def _flat_dataset(tmp_path: Path, demo_root: Path, pairs: int, mos: str = "3.0", row: int | None = None) -> Path:
    """``pairs`` demo pairs whose MOS is ``mos`` (every row, or only row ``row``)."""
    root = make_fr_dataset(tmp_path / "flat", demo_root, pairs)
    lines = (root / "meta.csv").read_text().splitlines()
    fixed = [lines[0]] + [",".join([*line.split(",")[:2], mos]) if row in (None, i) else line
                          for i, line in enumerate(lines[1:])]
    (root / "meta.csv").write_text("\n".join(fixed) + "\n")
    return root


def test_constant_or_infinite_mos_is_refused_at_plan_time_naming_dataset_and_row(demo_root, tmp_path):
    from orchestrator.run.plan import PlanError, build_plan
    from orchestrator.run.request import BenchmarkRequest

    root = _flat_dataset(tmp_path, demo_root, 5)
    opt = write_data_opt(tmp_path / "opt.yml", {"flat": _fr_entry(root, "flat")})
    with pytest.raises(PlanError) as err:
        build_plan(BenchmarkRequest(metrics=("psnr",), datasets=("flat",), data_opt=opt, out=tmp_path / "o"))
    assert f"dataset 'flat' ({root / 'meta.csv'}): MOS is constant (3 in all 5 rows scored)" in str(err.value)
    inf_root = _flat_dataset(tmp_path / "inf", demo_root, 5, mos="inf", row=2)
    opt = write_data_opt(tmp_path / "opt2.yml", {"hot": _fr_entry(inf_root, "hot")})
    with pytest.raises(PlanError) as err:
        build_plan(BenchmarkRequest(metrics=("psnr",), datasets=("hot",), data_opt=opt, out=tmp_path / "o"))
    assert f"{inf_root / 'meta.csv'} (dataset 'hot'): row 4, column 'mos': MOS 'inf' is not finite" in str(err.value)


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_a_dataset_whose_statistics_fail_costs_no_other_cell(ray_cluster, demo_root, tmp_path, monkeypatch):
    """The plan check bypassed: the statistics of the flat dataset fail, its rows say why, the rest is written."""
    import datasets_io.manifest as manifest
    from mlflow.tracking import MlflowClient

    from orchestrator.run.benchmark import run_benchmark
    from orchestrator.run.request import BenchmarkRequest

    monkeypatch.setattr(manifest, "check_mos_varies", lambda *args, **kwargs: None)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    good = make_fr_dataset(tmp_path / "good", demo_root, 8)
    flat = _flat_dataset(tmp_path, demo_root, 8)
    opt = write_data_opt(tmp_path / "opt.yml", {"good": _fr_entry(good, "good"), "flat": _fr_entry(flat, "flat")})
    out = tmp_path / "out"
    result = run_benchmark(BenchmarkRequest(metrics=("psnr", "ssim"), datasets=("flat", "good"), data_opt=opt,
                                            out=out, bootstrap_resamples=20), echo=lambda line: None)
    assert result.tracking_error is None and not result.given_up
    summary = pd.read_csv(out / "summary.csv").set_index(["dataset", "metric"])
    assert len(summary) == 4
    for metric in ("psnr", "ssim"):
        assert summary.loc[("flat", metric), "analysis_note"].startswith("statistics failed: ")
        assert pd.isna(summary.loc[("flat", metric), "srcc_ci_low"])
        assert summary.loc[("good", metric), "n"] == 8 and pd.notna(summary.loc[("good", metric), "srcc_ci_low"])
        for dataset in ("flat", "good"):
            assert len(pd.read_parquet(out / "scores" / dataset / f"{metric}.parquet")) == 8
    results = pd.read_csv(out / "benchmark_results.csv").set_index("Metric name")
    assert results.loc["psnr", "good(PLCC/SRCC/KRCC)"].count("/") == 2 and "flat(PLCC/SRCC/KRCC)" in results
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("iqabench").experiment_id])
    assert sorted(r.data.tags["iqabench.role"] for r in runs) == ["cell"] * 4 + ["parent"]
    notes = json.loads((out / "analysis.json").read_text())["notes"]
    assert any(note.startswith("flat: statistics failed") for note in notes)


# ----------------------------------------------------------------------------------------------- defect 8
def _half_migrated_store(path: Path, monkeypatch) -> None:
    """A SQLite store as a full disk leaves it: MLflow's migration stopped after part of a migration's DDL (the
    ``spans`` table) landed; opening it again fails with "table spans already exists"."""
    import errno
    import sqlite3

    from alembic import command
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    spans = next(r for r in ScriptDirectory.from_config(_get_alembic_config("")).walk_revisions()
                 if r.doc == "add spans table")
    upgrade = command.upgrade

    def disk_fills(config, revision):
        upgrade(config, spans.down_revision)
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE spans (trace_id VARCHAR(50))")
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(command, "upgrade", disk_fills)
        with pytest.raises(OSError, match="No space left"):
            SqlAlchemyStore(f"sqlite:///{path}", (path.parent / "art").as_uri())
    with pytest.raises(Exception, match="table spans already exists"):  # what every later run met
        SqlAlchemyStore(f"sqlite:///{path}", (path.parent / "art").as_uri())


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_a_half_migrated_default_store_is_rebuilt_and_sync_failures_are_one_line(ray_cluster, demo_root, tmp_path,
                                                                                 monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from jobs.cli import main
    from orchestrator.results.tracking import PENDING_FILE
    from orchestrator.run.benchmark import run_benchmark
    from orchestrator.run.request import BenchmarkRequest

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = make_fr_dataset(tmp_path / "d", demo_root, 6)
    opt = write_data_opt(tmp_path / "opt.yml", {"tiny": _fr_entry(root)})
    out = tmp_path / "out"
    out.mkdir()
    store = out / "mlflow.db"
    _half_migrated_store(store, monkeypatch)

    result = run_benchmark(BenchmarkRequest(metrics=("psnr", "ssim"), datasets=("tiny",), data_opt=opt, out=out,
                                            bootstrap_resamples=20), echo=lambda line: None)
    assert result.tracking_error is None and result.parent_run_id
    assert len(list(out.glob("mlflow.db.broken-*"))) == 1 and not (out / PENDING_FILE).exists()

    # The same run's pending list for another half-made store: mlflow-sync rebuilds it and logs the run.
    other = tmp_path / "sync" / "mlflow.db"
    other.parent.mkdir()
    _half_migrated_store(other, monkeypatch)
    (out / PENDING_FILE).write_text(json.dumps({
        "invocation_id": result.invocation_id, "uri": f"sqlite:///{other}", "run_name": "bench tiny", "tags": {},
        "cells": list(result.summary["cell_key"]), "params": {}}))
    assert main(["mlflow-sync", "--out", str(out)]) == 0
    client = MlflowClient(tracking_uri=f"sqlite:///{other}")
    runs = client.search_runs([client.get_experiment_by_name("iqabench").experiment_id])
    assert sorted(r.data.tags["iqabench.role"] for r in runs) == ["cell", "cell", "parent"]
    assert len(list(other.parent.glob("mlflow.db.broken-*"))) == 1 and not (out / PENDING_FILE).exists()

    # A store that cannot be made at all: one line, the pending file kept.
    (out / PENDING_FILE).write_text(json.dumps({
        "invocation_id": "x", "uri": None, "run_name": "r", "cells": list(result.summary["cell_key"])}))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    capsys.readouterr()
    assert main(["mlflow-sync", "--out", str(out), "--tracking_uri", f"sqlite:///{blocker}/mlflow.db"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"MLflow store {blocker}/mlflow.db: cannot create it" in err and (out / PENDING_FILE).is_file()
