"""``iqabench score`` end to end on a real local Ray cluster and MLflow SQLite store: its per-image scores equal
``iqabench.create_metric(...)`` on the same paths, a rerun reuses the committed cells, a run cut short resumes
from the images it had committed; and what cannot be scored is refused before anything is written."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

import iqabench
from jobs.cli import main as cli

METRICS = ("psnr", "ssim", "niqe")


def _image_folders(root, demo_root, count: int = 3):
    """Distorted demo images in ``root/t`` and their references under the same file names in ``root/r``."""
    (root / "t").mkdir(parents=True)
    (root / "r").mkdir()
    for line in (demo_root / "meta_info_demo.csv").read_text().splitlines()[1: count + 1]:
        ref_name, dist_name, _ = line.split(",")
        shutil.copy(demo_root / "dist" / dist_name, root / "t" / dist_name)
        shutil.copy(demo_root / "ref" / ref_name, root / "r" / dist_name)
    return root / "t", root / "r"


def _said(caplog) -> str:
    """What the job told the console since the last call (its lines go through the ``iqabench`` logger)."""
    said = "\n".join(r.getMessage() for r in caplog.records)
    caplog.clear()
    return said


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("IQABENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_score_writes_what_the_python_api_computes_and_resumes(ray_cluster, demo_root, home, caplog):
    from mlflow.tracking import MlflowClient

    caplog.set_level("INFO", logger="iqabench")
    target, ref = _image_folders(home / "images", demo_root)
    out = home / "out"
    argv = ["score", "-m", *METRICS, "-t", str(target), "-r", str(ref), "--out", str(out)]
    assert cli(argv) == 0
    table = pd.read_csv(out / "images.csv")
    assert table["name"].tolist() == sorted(p.name for p in target.iterdir())
    parquet = pd.read_parquet(out / "images.parquet")
    assert parquet.columns.tolist() == table.columns.tolist() == [
        "name", "path", "ref_path", *[c for m in METRICS for c in (m, f"{m}_error")]]
    for name in METRICS:
        metric = iqabench.create_metric(name, device="cpu")
        assert table[f"{name}_error"].isna().all() and parquet[f"{name}_error"].isna().all()
        assert parquet[name].tolist() == table[name].tolist()
        for row in table.itertuples():
            expected = metric(row.path, row.ref_path) if metric.metric_mode == "FR" else metric(row.path)
            assert getattr(row, name) == float(expected[0]), (name, row.name)
    said = _said(caplog)
    assert "0 metric(s) cached, 3 to run" in said and "committed niqe @ images: 3 scored, 0 failed" in said

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("iqabench").experiment_id],
                                filter_string="tags.`iqabench.role` = 'score'")
    assert run.data.metrics["psnr/n"] == 3 and run.data.metrics["niqe/mean"] == pytest.approx(table["niqe"].mean())
    assert run.data.params["metrics"] == "psnr,ssim,niqe"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"images.csv", "images.parquet"}

    # Committed cells are reused: nothing is scored again.
    assert cli(argv) == 0
    assert "3 metric(s) cached, 0 to run" in _said(caplog)
    pd.testing.assert_frame_equal(pd.read_csv(out / "images.csv"), table)

    # A run cut short: niqe had committed two of its three images only; the rerun scores the third alone.
    from orchestrator.results.store import CellStore

    store = CellStore(out)
    (niqe_key,) = [p.name for p in (out / "cells").iterdir()
                   if store.load_committed(p.name)[1]["metric"] == "niqe"]
    frame, _ = store.load_committed(niqe_key)
    store.discard(niqe_key)
    store.append_part(niqe_key, frame[frame["id"] < 2])
    assert cli(argv) == 0
    said = _said(caplog)
    assert "2 metric(s) cached, 1 to run" in said and "2 image score(s) already committed, 1 to score" in said
    pd.testing.assert_frame_equal(pd.read_csv(out / "images.csv"), table)


def test_a_full_reference_metric_without_references_is_refused_before_anything_is_written(demo_root, home, capsys):
    target, _ = _image_folders(home / "images", demo_root, count=1)
    out = home / "out"
    assert cli(["score", "psnr", "niqe", "-t", str(target), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "psnr: full-reference, but no references were given" in err and "niqe" not in err.split("psnr:")[1]
    assert not out.exists()


def test_every_problem_is_listed_at_once(demo_root, home, capsys):
    target, ref = _image_folders(home / "images", demo_root, count=2)
    (ref / min(p.name for p in ref.iterdir())).unlink()
    out = home / "out"
    assert cli(["score", "-m", "psnr", "not_a_metric", "-t", str(target), "-r", str(ref), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not_a_metric" in err and "1 of 2 image(s) have no reference of the same file name" in err
    assert not out.exists()


def test_metrics_are_required(demo_root, home, capsys):
    target, _ = _image_folders(home / "images", demo_root, count=1)
    assert cli(["score", "-t", str(target), "--out", str(home / "out")]) == 2
    assert "-m/--metric_names is required" in capsys.readouterr().err


def test_dry_run_plans_without_scoring(demo_root, home, caplog):
    caplog.set_level("INFO", logger="iqabench")
    target, ref = _image_folders(home / "images", demo_root, count=2)
    out = home / "out"
    assert cli(["score", "-m", *METRICS, "-t", str(target), "-r", str(ref), "--out", str(out), "--dry-run"]) == 0
    said = _said(caplog)
    assert "images (GeneralFRDataset, split all): 2 images" in said and "Pools:" in said
    assert "Dry run: nothing was scored." in said and not out.exists()


def test_pyiqa_option_files_and_extra_options_work_as_in_bench(demo_root, home, caplog):
    caplog.set_level("INFO", logger="iqabench")
    target, ref = _image_folders(home / "images", demo_root, count=1)
    opt = home / "metric_opts.yml"
    opt.write_text("psnr-y:\n  metric_opts: {type: PSNR, test_y_channel: true}\n  metric_mode: FR\n")
    out = home / "out"
    assert cli(["score", "--metric_opt", str(opt), "-t", str(target), "-r", str(ref), "--out", str(out),
                "--dry-run"]) == 0
    said = _said(caplog)
    assert "- psnr-y" in said and "channel=y" in said
    assert cli(["score", "-m", "psnr", "--extra_metric_opts", "test_y_channel=true", "-t", str(target),
                "-r", str(ref), "--out", str(out), "--dry-run"]) == 0
    assert "channel=y" in _said(caplog) and not out.exists()
