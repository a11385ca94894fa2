"""MLflow server down during the run, started afterwards: the run completes; mlflow-sync logs it once."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from jobs.cli import main
from orchestrator.run.benchmark import run_benchmark
from orchestrator.run.request import BenchmarkRequest
from orchestrator.results.tracking import PENDING_FILE

from .conftest import make_fr_dataset, write_data_opt
from .mlflow_server import MlflowServer, free_port

pytestmark = [pytest.mark.ray]


def _tiny_dataset(tmp_path, demo_root, pairs: int):
    """``pairs`` demo pairs as dataset ``tiny``; returns its option YAML."""
    root = make_fr_dataset(tmp_path / "d", demo_root, pairs)
    return write_data_opt(tmp_path / "o.yml", {"tiny": {
        "name": "tiny", "type": "GeneralFRDataset", "dataroot_target": str(root / "dist"),
        "dataroot_ref": str(root / "ref"), "meta_info_file": str(root / "meta.csv")}})


@pytest.mark.timeout(600)
def test_tracker_outage_then_sync_without_duplicates(ray_cluster, demo_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    opt = _tiny_dataset(tmp_path, demo_root, 6)
    server = MlflowServer(tmp_path / "server", free_port())  # not started: the tracker is down
    out = tmp_path / "out"
    result = run_benchmark(BenchmarkRequest(metrics=("psnr", "ssim"), datasets=("tiny",), data_opt=opt, out=out,
                                            tracking_uri=server.uri), echo=lambda s: None)
    assert result.tracking_error and "unreachable" in result.tracking_error
    assert (out / "summary.csv").is_file() and (out / "benchmark_results.csv").is_file()
    pending = json.loads((out / PENDING_FILE).read_text())
    assert pending["uri"] == server.uri and len(pending["cells"]) == 2

    server.start()
    try:
        assert main(["mlflow-sync", "--out", str(out)]) == 0
        assert not (out / PENDING_FILE).exists()
        # A second sync of the same pending list (e.g. after a crash before the file was removed) adds nothing.
        (out / PENDING_FILE).write_text(json.dumps(pending))
        assert main(["mlflow-sync", "--out", str(out)]) == 0
        assert main(["mlflow-sync", "--out", str(out)]) == 0  # nothing pending any more

        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=server.uri)
        experiment = client.get_experiment_by_name("iqabench")
        runs = client.search_runs([experiment.experiment_id])
        parents = [r for r in runs if r.data.tags.get("iqabench.role") == "parent"]
        children = [r for r in runs if r.data.tags.get("iqabench.role") == "cell"]
        assert len(parents) == 1 and len(children) == 2
        summary = pd.read_csv(out / "summary.csv").set_index("metric")
        for child in children:
            assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
            metric = child.data.params["metric"]
            assert child.data.metrics["srcc"] == pytest.approx(summary.loc[metric, "srcc"], rel=1e-12)
            assert [a.path for a in client.list_artifacts(child.info.run_id, "scores")] == [f"scores/{metric}.parquet"]
    finally:
        server.stop()


@pytest.mark.timeout(600)
def test_tracker_down_at_start_and_up_by_the_end_logs_the_run(ray_cluster, demo_root, tmp_path, monkeypatch):
    """The store is opened in the background while scoring; a failed early opening is tried again at the end."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    opt = _tiny_dataset(tmp_path, demo_root, 4)
    server = MlflowServer(tmp_path / "server", free_port())

    def start_server_after_scoring(line: str) -> None:
        if line.startswith("Statistics:"):
            server.start()

    out = tmp_path / "out"
    try:
        result = run_benchmark(BenchmarkRequest(metrics=("psnr",), datasets=("tiny",), data_opt=opt, out=out,
                                                tracking_uri=server.uri), echo=start_server_after_scoring)
        assert result.tracking_error is None and result.parent_run_id
        assert not (out / PENDING_FILE).exists()
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=server.uri)
        runs = client.search_runs([client.get_experiment_by_name("iqabench").experiment_id])
        assert sorted(r.data.tags.get("iqabench.role") for r in runs) == ["cell", "parent"]
    finally:
        server.stop()
