"""BAPPS-style 2AFC judgements: both candidates are scored and the 2AFC accuracy replaces the correlations."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from orchestrator.run.benchmark import run_benchmark
from orchestrator.run.plan import PlanError, build_plan
from orchestrator.run.request import BenchmarkRequest
from orchestrator.stats.correlation import two_afc_accuracy

from .conftest import write_data_opt


def test_two_afc_accuracy_definition():
    frame = pd.DataFrame({"score": [1.0, 3.0, 2.0, 5.0], "score_b": [2.0, 1.0, 2.0, float("nan")],
                          "judge": [0.25, 0.5, 1.0, 0.0], "error": [None, None, None, "decode: x"]})
    # lower-better distances: row0 d0<d1 → 1-0.25; row1 d0>d1 → 0.5; row2 tie → 0.5; row3 failed, left out
    assert two_afc_accuracy(frame, lower_better=True) == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    # a higher-better similarity is negated: row0 → 0.25, row1 → 0.5, row2 → 0.5
    assert two_afc_accuracy(frame, lower_better=False) == pytest.approx((0.25 + 0.5 + 0.5) / 3)


def _bapps(tmp_path, demo_root):
    root = tmp_path / "bapps"
    lines = ["ref,p0,p1,judge,split"]
    for i, photo in enumerate(("astronaut", "chelsea", "coffee", "rocket")):
        for kind in ("gblur", "wnoise", "jpeg"):
            for folder in ("ref", "p0", "p1"):
                (root / "val" / kind / folder).mkdir(parents=True, exist_ok=True)
            mild, strong = f"{photo}_{kind}_1.png", f"{photo}_{kind}_5.png"
            shutil.copy(demo_root / "ref" / f"{photo}.png", root / "val" / kind / "ref" / f"{i}.png")
            # Every observer prefers the mild distortion; put it first or second alternately.
            first, second, judge = (mild, strong, 0.0) if i % 2 == 0 else (strong, mild, 1.0)
            shutil.copy(demo_root / "dist" / first, root / "val" / kind / "p0" / f"{i}.png")
            shutil.copy(demo_root / "dist" / second, root / "val" / kind / "p1" / f"{i}.png")
            lines.append(f"val/{kind}/ref/{i}.png,val/{kind}/p0/{i}.png,val/{kind}/p1/{i}.png,{judge},test")
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    return write_data_opt(tmp_path / "o.yml", {"bapps": {
        "name": "BAPPS", "type": "BAPPSDataset", "dataroot_target": str(root), "meta_info_file": str(root / "meta.csv")}})


def test_nr_metric_on_2afc_dataset_is_refused(demo_root, tmp_path):
    with pytest.raises(PlanError, match="'entropy' is no-reference"):
        build_plan(BenchmarkRequest(metrics=("entropy",), datasets=("bapps",), data_opt=_bapps(tmp_path, demo_root),
                                    out=tmp_path))


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_bench_reports_2afc_accuracy(ray_cluster, demo_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    opt = _bapps(tmp_path, demo_root)
    result = run_benchmark(BenchmarkRequest(metrics=("psnr", "gmsd"), datasets=("bapps",), data_opt=opt,
                                            out=tmp_path / "out", bootstrap_resamples=20), echo=lambda s: None)
    summary = result.summary.set_index("metric")
    for metric in ("psnr", "gmsd"):  # one higher-better, one lower-better: both pick the mild distortion
        assert summary.loc[metric, "n"] == 12 and summary.loc[metric, "n_failed"] == 0
        assert summary.loc[metric, "accuracy_2afc"] == pytest.approx(1.0)
        assert pd.isna(summary.loc[metric, "srcc"])
        frame = pd.read_parquet(tmp_path / "out" / "scores" / "bapps" / f"{metric}.parquet")
        assert frame["score"].notna().all() and frame["score_b"].notna().all()
        assert list(frame["judge"]) == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0] * 2
    lines = (tmp_path / "out" / "benchmark_results.csv").read_text().splitlines()
    assert lines[0] == "Metric name,bapps(2AFC)" and "psnr,1.0" in lines
