"""Faults injected for real: a killed driver, killed actors, a broken metric, corrupt images; cache and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from orchestrator.run.benchmark import run_benchmark
from orchestrator.run.request import BenchmarkRequest

from .conftest import make_fr_dataset, plugin_env, write_data_opt

pytestmark = [pytest.mark.ray]

TIMING = ["seconds_per_image", "images_per_second"]


def _opt(tmp_path, root, key="tiny"):
    entry = {
        "name": key, "type": "GeneralFRDataset", "dataroot_target": str(root / "dist"),
        "dataroot_ref": str(root / "ref"), "meta_info_file": str(root / "meta.csv"),
    }
    return write_data_opt(tmp_path / f"{key}.yml", {key: entry})


def _run(tmp_path, opt, metrics, out, **kw):
    return run_benchmark(
        BenchmarkRequest(metrics=tuple(metrics), datasets=("tiny",), data_opt=opt, out=out, **kw), echo=lambda s: None
    )


def _scores(out, metric):
    return pd.read_parquet(out / "scores" / "tiny" / f"{metric}.parquet")


@pytest.mark.timeout(600)
def test_rerun_uses_cache_and_force_recomputes(ray_cluster, demo_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    opt = _opt(tmp_path, make_fr_dataset(tmp_path / "d", demo_root, 8))
    first = _run(tmp_path, opt, ["psnr", "t_meandiff"], tmp_path / "out", batch_size=4)
    assert (first.cached, first.computed) == (0, 2)
    again = _run(tmp_path, opt, ["psnr", "t_meandiff"], tmp_path / "out", batch_size=4)
    assert (again.cached, again.computed) == (2, 0)
    pd.testing.assert_frame_equal(first.summary, again.summary)
    forced = _run(tmp_path, opt, ["psnr", "t_meandiff"], tmp_path / "out", batch_size=4, force=True)
    assert (forced.cached, forced.computed) == (0, 2)
    # A changed option changes the cell key: the stale result is not reused.
    mopt = tmp_path / "m.yml"
    mopt.write_text("psnr:\n  channel: y\n")
    changed = _run(tmp_path, opt, ["psnr", "t_meandiff"], tmp_path / "out", batch_size=4, metric_opt=mopt)
    assert (changed.cached, changed.computed) == (1, 1)
    psnr_y = _scores(tmp_path / "out", "psnr")["score"].tolist()
    psnr_rgb = pd.read_parquet(tmp_path / "out" / "cells" / first.summary.set_index("metric").loc["psnr", "cell_key"] / "scores.parquet")["score"].tolist()
    assert psnr_y != psnr_rgb


@pytest.mark.timeout(600)
def test_failures_are_isolated_and_accounted(ray_cluster, demo_root, tmp_path, monkeypatch):
    """3 corrupt images in 50, a metric whose constructor raises, an actor that is SIGKILLed once, and a metric
    whose actor always dies: the rest of the matrix finishes and every failure is reported with its reason."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    opt = _opt(tmp_path, make_fr_dataset(tmp_path / "d", demo_root, 50, corrupt=(5, 17, 33)))
    clean = _run(tmp_path, opt, ["t_meandiff"], tmp_path / "clean", batch_size=5)
    result = _run(tmp_path, opt, ["psnr", "t_broken_init", "t_dies_once"], tmp_path / "out", batch_size=5)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("metric")
    # Corrupt images: counted per cell, named in the per-image table.
    assert summary.loc["psnr", "n"] == 47 and summary.loc["psnr", "n_failed"] == 3
    assert "3× decode: distorted image: cannot decode" in summary.loc["psnr", "failure_reasons"]
    failed = _scores(tmp_path / "out", "psnr").dropna(subset=["error"])
    assert failed["id"].tolist() == [5, 17, 33]
    # The actor killed once was restarted by Ray and the cell equals the fault-free run.
    assert summary.loc["t_dies_once", "n"] == 47
    pd.testing.assert_series_equal(
        _scores(tmp_path / "out", "t_dies_once")["score"], _scores(tmp_path / "clean", "t_meandiff")["score"]
    )
    # The constructor failure is given up with its reason and not committed.
    assert summary.loc["t_broken_init", "n"] == 0 and summary.loc["t_broken_init", "n_failed"] == 50
    assert "weights missing on purpose" in summary.loc["t_broken_init", "failure_reasons"]
    assert set(result.given_up) == {summary.loc["t_broken_init", "cell_key"]}
    results_csv = (tmp_path / "out" / "benchmark_results.csv").read_text()
    assert "t_broken_init,--/--/--" in results_csv
    # A rerun retries only the cell that was given up.
    again = _run(tmp_path, opt, ["psnr", "t_broken_init", "t_dies_once"], tmp_path / "out", batch_size=5)
    assert (again.cached, again.computed) == (2, 1)


@pytest.mark.timeout(600)
def test_a_metric_whose_actor_keeps_dying_is_given_up(ray_cluster, demo_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    opt = _opt(tmp_path, make_fr_dataset(tmp_path / "d", demo_root, 4))
    result = _run(tmp_path, opt, ["psnr", "t_always_dies"], tmp_path / "out", batch_size=2)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("metric")
    assert summary.loc["psnr", "n"] == 4 and summary.loc["psnr", "n_failed"] == 0
    assert summary.loc["t_always_dies", "n"] == 0 and summary.loc["t_always_dies", "n_failed"] == 4
    assert "gave up" in summary.loc["t_always_dies", "failure_reasons"]
    assert set(result.given_up) == {summary.loc["t_always_dies", "cell_key"]}


@pytest.mark.timeout(600)
def test_workers_and_batch_size_do_not_change_scores(ray_cluster, demo_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    opt = _opt(tmp_path, make_fr_dataset(tmp_path / "d", demo_root, 20))
    runs = {}
    for workers, batch in ((1, 1), (2, 4)):
        out = tmp_path / f"w{workers}b{batch}"
        _run(tmp_path, opt, ["psnr", "ssim"], out, batch_size=batch, num_workers=workers)
        runs[(workers, batch)] = out
    a, b = runs.values()
    for metric in ("psnr", "ssim"):
        assert _scores(a, metric)["score"].tolist() == _scores(b, metric)["score"].tolist()  # bit for bit
    assert (a / "benchmark_results.csv").read_bytes() == (b / "benchmark_results.csv").read_bytes()
    sa = pd.read_csv(a / "summary.csv").drop(columns=TIMING)
    sb = pd.read_csv(b / "summary.csv").drop(columns=TIMING)
    pd.testing.assert_frame_equal(sa, sb)


@pytest.mark.timeout(600)
def test_actors_that_hold_every_cpu_decode_their_own_blocks_to_the_same_scores(ray_cluster, demo_root, tmp_path,
                                                                               monkeypatch):
    """2 CPU actors on this 2-CPU cluster read and decode their blocks themselves (no decode task to share the
    cores with); 1 actor leaves a CPU to the decode tasks. The scores are the same, bit for bit."""
    import json

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    opt = _opt(tmp_path, make_fr_dataset(tmp_path / "d", demo_root, 20))
    decoded_by_actors = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        _run(tmp_path, opt, ["ssim"], out, batch_size=4, num_workers=workers)
        decoded_by_actors[workers] = json.loads((out / "scoring.json").read_text())["blocks_decoded_by_actors"]
    assert decoded_by_actors[1] == 0 and decoded_by_actors[2] > 0
    assert _scores(tmp_path / "w1", "ssim")["score"].tolist() == _scores(tmp_path / "w2", "ssim")["score"].tolist()


@pytest.mark.timeout(900)
def test_killed_driver_resumes_to_the_same_outputs(demo_root, markers, tmp_path):
    """SIGKILL the driver process mid-run; the rerun completes only what is missing; outputs equal a clean run."""
    opt = _opt(tmp_path, make_fr_dataset(tmp_path / "d", demo_root, 40))
    env = {**os.environ, **plugin_env(markers), "IQABENCH_HOME": str(tmp_path / "home")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)

    def command(out):
        return [
            sys.executable, "-m", "jobs.benchmark", "-m", "psnr", "t_slow", "-d", "tiny", "--data_opt", str(opt),
            "--out", str(out), "--batch_size", "2", "--checkpoint_every", "4",
        ]

    out = tmp_path / "killed"
    proc = subprocess.Popen(command(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    parts = out / "cells"
    while time.monotonic() < deadline and len(list(parts.glob("*/parts/part-*.parquet"))) < 4:
        assert proc.poll() is None, "the driver finished before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray cluster it started
    proc.wait(timeout=60)
    assert not (out / "summary.csv").exists()
    committed_before = len(list(parts.glob("*/parts/part-*.parquet")))
    assert committed_before >= 4

    resumed = subprocess.run(command(out), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "Resuming tiny:" in resumed.stdout
    clean = subprocess.run(command(tmp_path / "clean"), env=env, capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert (out / "benchmark_results.csv").read_bytes() == (tmp_path / "clean" / "benchmark_results.csv").read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "summary.csv").drop(columns=TIMING),
        pd.read_csv(tmp_path / "clean" / "summary.csv").drop(columns=TIMING),
    )
    for metric in ("psnr", "t_slow"):
        a = pd.read_parquet(out / "scores" / "tiny" / f"{metric}.parquet")
        b = pd.read_parquet(tmp_path / "clean" / "scores" / "tiny" / f"{metric}.parquet")
        assert a["score"].tolist() == b["score"].tolist()
