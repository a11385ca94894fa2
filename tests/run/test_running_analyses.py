"""Statistics made while scoring (cells' fits and plots as they commit, each dataset's comparisons as its last cell
ends, on Ray tasks) give the outputs the driver makes after the last image, byte for byte, and are logged to the
cells' MLflow runs once."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

import orchestrator.run.benchmark as benchmark
from orchestrator.run.benchmark import run_benchmark
from orchestrator.run.request import BenchmarkRequest
from orchestrator.stats.analysis import ANALYSIS_COLUMNS

from .conftest import make_fr_dataset, write_data_opt

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

METRICS = ("psnr", "ssim")


def _datasets(tmp_path, demo_root):
    """Two FR datasets of demo pairs: ``tiny_a`` (12 pairs) and ``tiny_b`` (8)."""
    entries = {}
    for name, pairs in (("tiny_a", 12), ("tiny_b", 8)):
        root = make_fr_dataset(tmp_path / name, demo_root, pairs)
        entries[name] = {"name": name, "type": "GeneralFRDataset", "dataroot_target": str(root / "dist"),
                         "dataroot_ref": str(root / "ref"), "meta_info_file": str(root / "meta.csv")}
    return write_data_opt(tmp_path / "datasets.yml", entries)


def _request(opt, out, datasets=("tiny_a", "tiny_b")):
    return BenchmarkRequest(metrics=METRICS, datasets=datasets, data_opt=opt, out=out, batch_size=4,
                            bootstrap_resamples=200)


def test_statistics_made_while_scoring_equal_the_drivers_and_are_logged_once(ray_cluster, demo_root, tmp_path,
                                                                             monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    opt = _datasets(tmp_path, demo_root)
    # Reference: this 2-CPU cluster is under ANALYSIS_ON_RAY_MIN_CPUS, so the driver makes everything at the end.
    driver = run_benchmark(_request(opt, tmp_path / "driver"), echo=lambda s: None)
    assert driver.tracking_error is None

    # The same matrix with the statistics on Ray tasks; tiny_b's cells come from the cache (compared at the start),
    # tiny_a's are scored (each cell analysed as it commits, the dataset compared once both have ended).
    out = tmp_path / "ray"
    for row in pd.read_csv(tmp_path / "driver" / "summary.csv").itertuples():
        if row.dataset == "tiny_b":
            shutil.copytree(tmp_path / "driver" / "cells" / row.cell_key, out / "cells" / row.cell_key)
    monkeypatch.setattr(benchmark, "ANALYSIS_ON_RAY_MIN_CPUS", 1)
    lines: list[str] = []
    ray = run_benchmark(_request(opt, out), echo=lines.append)
    assert ray.tracking_error is None and ray.computed == 2 and ray.cached == 2
    assert any("logistic fits (2 made as cells committed)" in line and "(2 dataset(s) compared as they ended)" in line
               for line in lines), lines

    # The same statistics, tables, notes and plots as the driver's.
    key = ["dataset", "metric"]
    mine = pd.read_csv(out / "summary.csv").set_index(key)
    theirs = pd.read_csv(tmp_path / "driver" / "summary.csv").set_index(key)
    compared = ["srcc", "plcc", *ANALYSIS_COLUMNS]
    pd.testing.assert_frame_equal(mine[compared], theirs[compared])
    assert (out / "significance.csv").read_text() == (tmp_path / "driver" / "significance.csv").read_text()
    assert json.loads((out / "analysis.json").read_text()) == json.loads(
        (tmp_path / "driver" / "analysis.json").read_text())
    plots = sorted(p.relative_to(out) for p in (out / "plots").rglob("*.png"))
    assert plots == sorted(p.relative_to(tmp_path / "driver") for p in (tmp_path / "driver" / "plots").rglob("*.png"))
    assert len(plots) == 4 + 2 + 1  # a scatter plot per cell, a ranking per dataset, the heat map
    for plot in plots:
        assert (out / plot).read_bytes() == (tmp_path / "driver" / plot).read_bytes(), plot

    # Every cell's child run has every statistic and one plot, each logged once (none again at the end). (The cached
    # cells were computed under another MLflow store, so this run logs them too.)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=ray.tracking_uri)
    experiment = client.get_experiment_by_name("iqabench")
    children = [r for r in client.search_runs([experiment.experiment_id], f"tags.`iqabench.invocation` = "
                                              f"'{ray.invocation_id}' and tags.`iqabench.role` = 'cell'")]
    assert sorted((c.data.params["dataset"], c.data.params["metric"]) for c in children) == sorted(mine.index)
    for child in children:
        row = mine.loc[(child.data.params["dataset"], child.data.params["metric"])]
        for name in ("srcc", "plcc_4pl", "rmse_5pl", "srcc_ci_low", "plcc_ci_high", "srcc_rank"):
            assert child.data.metrics[name] == pytest.approx(float(row[name]), rel=1e-9), name
            assert len(client.get_metric_history(child.info.run_id, name)) == 1, name
        assert [a.path for a in client.list_artifacts(child.info.run_id, "plots")] == [
            f"plots/{child.data.params['metric']}.png"]
