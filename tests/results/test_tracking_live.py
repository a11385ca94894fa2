"""MLflow conventions and live tracking (no Ray): cells visible as they commit, reuse tags, outages never raise."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from orchestrator.results.tracking import (DIGEST_CHARS, PENDING_FILE, LiveTracking, experiment_name, reused_tag,
                                           source_tags)
from orchestrator.run.request import BenchmarkRequest

from tests.run.mlflow_server import free_port

DIGEST = "ab" * 32  # a manifest digest: 64 hex characters


def _plan(cells: list[tuple[str, str]]) -> dict:
    return {"datasets": [{"dataset": "tiny", "type": "GeneralFRDataset", "images": 4, "split": None,
                          "manifest_digest": DIGEST,
                          "metrics": [{"metric": m, "options": {}, "cell_key": k} for m, k in cells]}],
            "batch_size": 8, "use_gpu": False, "limit": None}


def _row(metric: str, key: str, **extra) -> dict:
    return {"metric": metric, "dataset": "tiny", "split": None, "n": 4, "n_failed": 0, "plcc": 0.9, "srcc": 0.8,
            "krcc": 0.7, "sign_ok": True, "seconds_per_image": 0.01, "images_per_second": 100.0,
            "failure_reasons": "", "mode": "FR", "options": "{}", "cell_key": key, **extra}


def _result(out: Path, rows: list[dict], given_up: dict | None = None) -> SimpleNamespace:
    summary = pd.DataFrame(rows)
    summary.to_csv(out / "summary.csv", index=False)  # what the report is built from
    return SimpleNamespace(plan=SimpleNamespace(passes=[]), summary=summary, given_up=given_up or {}, out=out,
                           tracking_uri=None, parent_run_id=None, tracking_error=None)


def _parquet(out: Path, metric: str) -> Path:
    path = out / "scores" / "tiny" / f"{metric}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"dist_name": ["a.png"], "score": [1.0]}).to_parquet(path)
    return path


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri: str, experiment: str, role: str) -> list:
    # Never create the store from the test's thread while the tracker's thread may be making it: MLflow's schema
    # migrations (alembic) keep process-wide state and must not run twice at once in one process.
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        return []
    client = _client(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return [r for r in client.search_runs([found.experiment_id]) if r.data.tags.get("iqabench.role") == role]


def _wait_for(condition, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail("timed out waiting for MLflow")


@pytest.fixture()
def store(tmp_path) -> tuple[Path, str]:
    out = tmp_path / "out"
    out.mkdir()
    return out, f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_cells_are_logged_as_they_commit_with_mlflow_conventions(store):
    out, uri = store
    request = BenchmarkRequest(out=out, tracking_uri=uri, experiment="live-exp", datasets=("tiny",))
    live = LiveTracking(min_interval_s=3600)
    live.start(request, _plan([("psnr", "k-psnr"), ("ssim", "k-ssim")]), "inv-1", {"team": "iqa"})
    assert json.loads((out / PENDING_FILE).read_text())["cells"] == ["k-psnr", "k-ssim"]
    live.cell_committed(_row("psnr", "k-psnr"), _parquet(out, "psnr"))

    # Visible through MlflowClient before finish().
    (child,) = _wait_for(lambda: [r for r in _runs(uri, "live-exp", "cell") if r.info.status == "FINISHED"])
    (parent,) = _runs(uri, "live-exp", "parent")
    client = _client(uri)
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.data.metrics["srcc"] == pytest.approx(0.8) and "plcc_4pl" not in child.data.metrics
    assert [a.path for a in client.list_artifacts(child.info.run_id, "scores")] == ["scores/psnr.parquet"]
    for run in (parent, child):
        tags = run.data.tags
        assert re.fullmatch(r"[0-9a-f]{40}", tags["mlflow.source.git.commit"])
        assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.user"] and tags["mlflow.source.name"]
        (dataset_input,) = run.inputs.dataset_inputs
        assert dataset_input.dataset.name == "tiny" and dataset_input.dataset.digest == DIGEST[:DIGEST_CHARS]
        assert {t.key: t.value for t in dataset_input.tags}["iqabench.manifest_digest"] == DIGEST
        assert dataset_input.dataset.source  # where the dataset comes from
    assert parent.data.tags["team"] == "iqa"

    # Progress: rate-limited (one log per interval), the last one always logged.
    live.progress(2, 8, 1, 2)
    live.progress(3, 8, 1, 2)  # within the interval: dropped
    live.progress(8, 8, 2, 2)
    history = _wait_for(lambda: [m.value for m in client.get_metric_history(parent.info.run_id, "progress/images_done")]
                        if len(client.get_metric_history(parent.info.run_id, "progress/images_done")) == 2 else None)
    assert history == [2.0, 8.0]
    assert client.get_metric_history(parent.info.run_id, "progress/fraction")[-1].value == 1.0
    assert client.get_metric_history(parent.info.run_id, "progress/cells_done")[-1].value == 2.0

    # finish(): statistics added after the commit reach the child; the unlogged cell is logged; report logged.
    result = _result(out, [_row("psnr", "k-psnr", plcc_4pl=0.95, srcc_rank=1), _row("ssim", "k-ssim", plcc_4pl=0.9)])
    live.finish(result)
    assert result.tracking_error is None and result.parent_run_id == parent.info.run_id
    assert result.tracking_uri == uri and not (out / PENDING_FILE).exists()
    assert client.get_run(child.info.run_id).data.metrics["plcc_4pl"] == pytest.approx(0.95)
    children = {r.data.params["metric"]: r for r in _runs(uri, "live-exp", "cell")}
    assert set(children) == {"psnr", "ssim"} and children["ssim"].data.metrics["plcc_4pl"] == pytest.approx(0.9)
    assert "report.html" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"


def test_a_cached_cell_is_tagged_as_reused_not_logged_again(store):
    out, uri = store
    request = BenchmarkRequest(out=out, tracking_uri=uri, datasets=("tiny",))
    plan = _plan([("psnr", "k-psnr")])
    first = LiveTracking()
    first.start(request, plan, "inv-1", {})
    first.cell_committed(_row("psnr", "k-psnr"), None)
    first.finish(_result(out, [_row("psnr", "k-psnr")]))
    (computed,) = _runs(uri, "iqabench", "cell")

    second = LiveTracking()
    second.start(request, plan, "inv-2", {})
    second.cell_committed(_row("psnr", "k-psnr"), None, reused_from="cache")  # looked up by its cell-key tag
    second.finish(_result(out, [_row("psnr", "k-psnr")]))
    assert len(_runs(uri, "iqabench", "cell")) == 1  # no new child run
    parent = next(r for r in _runs(uri, "iqabench", "parent") if r.data.tags["iqabench.invocation"] == "inv-2")
    assert parent.data.tags[reused_tag(_row("psnr", "k-psnr"))] == computed.info.run_id
    assert second.logged == {"k-psnr": computed.info.run_id}

    third = LiveTracking()
    third.start(request, plan, "inv-3", {})
    third.cell_committed(_row("psnr", "k-psnr"), None, reused_from=computed.info.run_id)  # a known run id
    third.finish(_result(out, [_row("psnr", "k-psnr")]))
    assert len(_runs(uri, "iqabench", "cell")) == 1


def test_a_tracker_that_is_down_never_raises_and_leaves_everything_pending(tmp_path, caplog):
    out = tmp_path / "out"
    request = BenchmarkRequest(out=out, tracking_uri=f"http://127.0.0.1:{free_port()}", datasets=("tiny",))
    live = LiveTracking(min_interval_s=0)
    live.start(request, _plan([("psnr", "k-psnr"), ("ssim", "k-ssim")]), "inv-1", {})
    live.cell_committed(_row("psnr", "k-psnr"), None)
    live.progress(1, 2, 1, 2)
    result = _result(out, [_row("psnr", "k-psnr"), _row("ssim", "k-ssim")], given_up={"k-ssim": "gave up: boom"})
    live.finish(result)
    live.finish(result)  # a second finish is a no-op
    live.cell_committed(_row("psnr", "k-psnr"), None)  # after finish: recorded, not raised
    assert result.tracking_error and "unreachable" in result.tracking_error
    pending = json.loads((out / PENDING_FILE).read_text())
    assert pending["cells"] == ["k-psnr", "k-ssim"] and pending["given_up"] == ["k-ssim"]
    assert sum("MLflow logging failed" in r.message for r in caplog.records) == 1  # warned once


def test_cells_committed_from_several_threads_are_all_logged(store):
    out, uri = store
    keys = [(f"m{i}", f"k{i}") for i in range(8)]
    live = LiveTracking()
    live.start(BenchmarkRequest(out=out, tracking_uri=uri, datasets=("tiny",)), _plan(keys), "inv-1", {})
    threads = [threading.Thread(target=live.cell_committed, args=(_row(m, k), None)) for m, k in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    live.finish(_result(out, [_row(m, k) for m, k in keys]))
    assert sorted(live.logged) == sorted(k for _, k in keys)
    assert len(_runs(uri, "iqabench", "cell")) == 8


def test_experiment_name_and_source_tags(monkeypatch):
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    assert experiment_name() == "iqabench"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    assert experiment_name() == "from-env" and experiment_name("flag") == "flag"
    tags = source_tags()
    assert {"mlflow.source.name", "mlflow.source.type", "mlflow.user", "mlflow.source.git.commit"} <= set(tags)


def test_the_experiment_flag_reaches_the_request():
    from jobs.cli import build_parser

    args = build_parser().parse_args(["bench", "--experiment", "sweep-7", "--dry-run"])
    assert args.experiment == "sweep-7"


def test_the_runs_go_to_the_experiment_the_request_names(store):
    out, uri = store
    plan = _plan([("psnr", "k-psnr")])
    result = _result(out, [_row("psnr", "k-psnr")])
    result.plan = SimpleNamespace(passes=[], as_dict=lambda: plan)
    live = LiveTracking()
    live.start(BenchmarkRequest(out=out, tracking_uri=uri, datasets=("tiny",), experiment="chosen"), plan, "inv-4", {})
    live.cell_committed(_row("psnr", "k-psnr"), _parquet(out, "psnr"))
    live.finish(result)
    assert result.tracking_error is None
    assert len(_runs(uri, "chosen", "parent")) == 1 and len(_runs(uri, "chosen", "cell")) == 1
    assert _runs(uri, "iqabench", "parent") == []
