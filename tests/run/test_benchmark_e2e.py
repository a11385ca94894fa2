"""End to end on a real local Ray cluster and a real MLflow SQLite store: psnr + ssim on the demo dataset."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from orchestrator.run.benchmark import run_benchmark
from orchestrator.run.request import BenchmarkRequest

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def demo_run(ray_cluster, demo_root, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("IQABENCH_HOME", str(demo_root.parent.parent))
    monkeypatch_module.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path_factory.mktemp("demo-run")
    result = run_benchmark(BenchmarkRequest(metrics=("psnr", "ssim"), datasets=("demo",), out=out, batch_size=4))
    return result


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_outputs_exist(demo_run):
    out = demo_run.out
    for name in ("summary.csv", "benchmark_results.csv", "mlflow.db", "scores/demo/psnr.parquet", "scores/demo/ssim.parquet"):
        assert (out / name).is_file(), name
    assert demo_run.tracking_error is None


def test_per_image_parquet_has_every_image(demo_run):
    for metric in ("psnr", "ssim"):
        frame = pd.read_parquet(demo_run.out / "scores" / "demo" / f"{metric}.parquet")
        assert {"dist_name", "ref_name", "mos", "score", "error"} <= set(frame.columns)
        assert len(frame) == 80 and frame["id"].tolist() == list(range(80))
        assert frame["error"].isna().all()
        assert np.isfinite(frame["score"]).all()


def test_summary_correlations_equal_scipy_on_parquet(demo_run):
    summary = pd.read_csv(demo_run.out / "summary.csv")
    assert sorted(summary["metric"]) == ["psnr", "ssim"]
    for row in summary.itertuples():
        frame = pd.read_parquet(demo_run.out / "scores" / row.dataset / f"{row.metric}.parquet")
        s, m = frame["score"].to_numpy(), frame["mos"].to_numpy()
        assert row.n == 80 and row.n_failed == 0
        assert row.plcc == pytest.approx(abs(stats.pearsonr(s, m)[0]), abs=1e-9)
        assert row.srcc == pytest.approx(abs(stats.spearmanr(s, m)[0]), abs=1e-9)
        assert row.krcc == pytest.approx(abs(stats.kendalltau(s, m)[0]), abs=1e-9)
        assert row.sign_ok
        assert row.seconds_per_image > 0 and row.images_per_second > 0
    # On a designed distortion ladder both metrics agree clearly with the "MOS".
    assert (summary["srcc"] > 0.5).all()


def test_results_csv_is_pyiqa_format(demo_run):
    with open(demo_run.out / "benchmark_results.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Metric name", "demo(PLCC/SRCC/KRCC)"]
    summary = pd.read_csv(demo_run.out / "summary.csv").set_index("metric")
    assert {r[0] for r in rows[1:]} == {"psnr", "ssim"}
    for name, cell in rows[1:]:
        plcc, srcc, krcc = (float(v) for v in cell.split("/"))
        for got, col in zip((plcc, srcc, krcc), ("plcc", "srcc", "krcc")):
            assert got == round(summary.loc[name, col], 4)


def test_results_csv_merges_with_published_table(demo_run, tmp_path):
    """A run written onto pyiqa's published table keeps its rows and adds our column."""
    import shutil
    from pathlib import Path

    from orchestrator.results.export import read_results_csv, write_results_csv

    published = Path(__file__).parents[1] / "data" / "FR_benchmark_results.csv"
    target = tmp_path / "FR.csv"
    shutil.copy(published, target)
    header_before, table_before = read_results_csv(target)
    write_results_csv(pd.read_csv(demo_run.out / "summary.csv"), target)
    header, table = read_results_csv(target)
    assert header == header_before + ["demo(PLCC/SRCC/KRCC)"]
    for metric, cells in table_before.items():
        for column, value in cells.items():
            assert table[metric][column] == value
    assert table["ssim"]["demo(PLCC/SRCC/KRCC)"].count("/") == 2


def test_mlflow_has_parent_and_children_matching_summary(demo_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=demo_run.tracking_uri)
    experiment = client.get_experiment_by_name("iqabench")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("iqabench.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("iqabench.role") == "cell"]
    assert len(parents) == 1 and len(children) == 2
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    assert parents[0].data.tags["version.torch"]
    summary = pd.read_csv(demo_run.out / "summary.csv").set_index("metric")
    for child in children:
        metric = child.data.params["metric"]
        assert child.data.params["dataset"] == "demo"
        for key in ("plcc", "srcc", "krcc", "n", "n_failed", "seconds_per_image", "images_per_second"):
            assert child.data.metrics[key] == pytest.approx(float(summary.loc[metric, key]), rel=1e-9)
        artifacts = [a.path for a in client.list_artifacts(child.info.run_id, "scores")]
        assert artifacts == [f"scores/{metric}.parquet"]
        # The fitted correlations and intervals of the analysis, and the cell's scatter plot.
        for key in ("plcc_4pl", "rmse_4pl", "srcc_ci_low", "srcc_ci_high"):
            assert child.data.metrics[key] == pytest.approx(float(summary.loc[metric, key]), rel=1e-9)
        assert [a.path for a in client.list_artifacts(child.info.run_id, "plots")] == [f"plots/{metric}.png"]
    parent_files = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {"plan.json", "summary.csv", "analysis", "plots"} <= parent_files
    analysis = {a.path for a in client.list_artifacts(parents[0].info.run_id, "analysis")}
    assert "analysis/significance.csv" in analysis
    plots = {a.path for a in client.list_artifacts(parents[0].info.run_id, "plots")}
    assert "plots/srcc_heatmap.png" in plots


def test_summary_has_fits_and_intervals(demo_run):
    summary = pd.read_csv(demo_run.out / "summary.csv")
    assert summary["plcc_4pl"].notna().all() and summary["rmse_4pl"].notna().all()
    assert ((summary["srcc_ci_low"] <= summary["srcc"]) & (summary["srcc"] <= summary["srcc_ci_high"])).all()
    assert (demo_run.out / "significance.csv").is_file()


def test_report_renders_from_stored_results(demo_run, tmp_path):
    from jobs.cli import main

    html = tmp_path / "report.html"
    assert main(["report", "--out", str(demo_run.out), "--html", str(html)]) == 0
    text = html.read_text()
    assert "<table" in text and "ssim" in text and "data:image/png;base64," in text


def test_every_classical_fr_metric_fills_its_cells_on_the_demo(ray_cluster, demo_root, tmp_path, monkeypatch):
    """Issue #3's must-show: ``bench -m <every classical FR metric> -d demo`` completes with every cell filled.

    12 metrics on a 2-CPU cluster: the pass runs on shared actors holding every metric.
    """
    import metrics
    from metrics.registry import module_of

    monkeypatch.setenv("IQABENCH_HOME", str(demo_root.parent.parent))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    names = tuple(n for n in metrics.available("FR") if module_of(n).startswith("metrics.fr."))
    assert {"psnr", "psnry", "ssim", "ssimc", "ms_ssim", "cw_ssim", "fsim", "vif", "gmsd", "nlpd", "vsi", "mad"} <= set(names)
    said: list[str] = []
    result = run_benchmark(
        BenchmarkRequest(metrics=names, datasets=("demo",), out=tmp_path, batch_size=3, limit=6, bootstrap_resamples=20),
        said.append,
    )
    pools = [line for line in said if line.startswith("Pools: ")]
    assert pools and pools[0].startswith(f"Pools: 1 for {len(names)} metric(s)"), said  # one shared pool
    summary = pd.read_csv(result.out / "summary.csv").set_index("metric")
    assert sorted(summary.index) == sorted(names)
    assert (summary["n"] == 6).all() and (summary["n_failed"] == 0).all(), summary[["n", "n_failed"]]
    for name in names:
        frame = pd.read_parquet(result.out / "scores" / "demo" / f"{name}.parquet")
        assert np.isfinite(frame["score"]).all() and len(frame) == 6, name
