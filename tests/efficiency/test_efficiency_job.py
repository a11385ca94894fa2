"""The efficiency job end to end on tiny images (no timed assertions), and the in-process protocol."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import metrics
from jobs.cli import build_parser
from orchestrator.efficiency.job import EfficiencyRequest, run_efficiency
from orchestrator.efficiency.timing import measure

from .conftest import TINY


def test_protocol_times_warmup_and_repeats_separately(tiny_pairs):
    calls = []

    def score(model, dist, ref):
        calls.append(dist.shape[0])
        return model(dist, ref)

    found = measure("psnr", lambda: metrics.create("psnr"), score, tiny_pairs, warmup=2, repeats=3,
                    batch_sizes=(2,), image_size=TINY)
    assert found.error is None
    assert len(found.seconds) == 3 and all(s > 0 for s in found.seconds)
    assert calls == [1, 1, 1, 1, 1, 2, 2]  # 2 warm-up + 3 timed at batch 1, then warm-up + timed at batch 2
    assert found.best_batch[0] == 2 and found.host_peak_bytes > 0
    assert found.gpu_peak_bytes_batch1 is None


def test_protocol_records_a_failing_metric(tiny_pairs):
    def broken():
        raise RuntimeError("no such model")

    found = measure("broken", broken, lambda m, d, r: m(d, r), tiny_pairs)
    assert found.error == "RuntimeError: no such model" and found.seconds == []


def test_default_set_is_the_registry_default_set(monkeypatch):
    """Without -m the efficiency job times the same default set as ``bench`` (less metrics whose files are absent)."""
    import dataclasses

    from metrics.registry import default_metric_names, registry
    from orchestrator.efficiency.job import default_metrics

    monkeypatch.setitem(registry(), "psnry", dataclasses.replace(metrics.get_spec("psnry"), in_default_set=False))
    assert "psnry" not in default_metric_names() and "psnr" in default_metric_names()
    chosen, skipped = default_metrics(lambda _line: None)
    assert "psnry" not in chosen and "psnr" in chosen
    assert set(chosen) | {entry.split(" ")[0] for entry in skipped} == set(default_metric_names())


def test_cli_registers_the_subcommand():
    args = build_parser().parse_args(["efficiency", "-m", "psnr", "--device", "cpu", "--size", "64x48"])
    assert args.metric_names == ["psnr"] and args.size == (64, 48) and args.device == ["cpu"]


@pytest.mark.ray
@pytest.mark.timeout(120)
def test_cuda_without_gpu_is_refused_before_timing(tmp_path, efficiency_ray):
    with pytest.raises(ValueError, match="no whole GPU"):
        run_efficiency(EfficiencyRequest(metrics=("psnr",), devices=("cuda",), out=tmp_path, image_size=TINY),
                       echo=lambda s: None)


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_job_writes_csv_measurements_resources_and_mlflow(tmp_path, efficiency_ray):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "out"
    out.mkdir()
    (out / "Efficiency_benchmark.csv").write_text("Method,cpu_other,Peak GPU Mem (GB)\npsnr,9.0000,0.5000\nlpips,1.0,\n")
    request = EfficiencyRequest(metrics=("psnr", "entropy"), out=out, warmup=1, repeats=2, batch_sizes=(2,),
                                threads=1, image_size=TINY, tag="test", image_root=tmp_path / "images")
    result = run_efficiency(request, echo=lambda s: None)
    assert result.failed == {} and result.tracking_error is None

    table = pd.read_csv(out / "Efficiency_benchmark.csv", dtype=str, keep_default_na=False).set_index("Method")
    assert list(table.columns) == ["cpu_other", "Peak GPU Mem (GB)", "cpu_test"]
    assert table.loc["psnr", "cpu_other"] == "9.0000" and table.loc["psnr", "Peak GPU Mem (GB)"] == "0.5000"
    assert table.loc["lpips", "cpu_test"] == ""
    document = json.loads((out / "measurements_cpu_test.json").read_text())
    rows = {r["metric"]: r for r in document["measurements"]}
    assert set(rows) == {"psnr", "entropy"} and document["conditions"]["image_size"] == list(TINY)
    for name in ("psnr", "entropy"):
        assert table.loc[name, "cpu_test"] == f"{rows[name]['median_seconds']:.4f}"
        assert len(rows[name]["seconds"]) == 2 and rows[name]["threads"] == 1
        assert rows[name]["batch_images_per_second"].keys() == {"2"}
    resources = json.loads((out / "resources.json").read_text())["metrics"]
    assert resources["psnr"]["host_peak_mb"] == round(rows["psnr"]["host_peak_bytes"] / 2**20, 1)
    # What the benchmark's cost model reads: seconds per image at the timed size, and the model's build time.
    assert resources["psnr"]["seconds_per_image"] == {"cpu": rows["psnr"]["median_seconds"]}
    assert resources["psnr"]["at_pixels"] == TINY[0] * TINY[1]
    from metrics import get_spec
    from orchestrator.run.cost import metric_cost

    cost = metric_cost(get_spec("psnr"), "cpu", resources["psnr"])
    assert cost.source == "measured" and cost.seconds_per_image == rows["psnr"]["median_seconds"]
    assert cost.load_seconds == pytest.approx(rows["psnr"]["construct_seconds"], abs=1e-3) or \
        rows["psnr"]["construct_seconds"] < 1e-3

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    run = client.get_run(result.run_id)
    assert run.data.tags["iqabench.role"] == "efficiency"
    assert run.data.metrics["psnr/cpu_test/seconds_per_image"] == pytest.approx(rows["psnr"]["median_seconds"])
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"Efficiency_benchmark.csv", "resources.json", "measurements_cpu_test.json"} <= artifacts
