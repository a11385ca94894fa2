"""Bad input: a failing image is recorded and counted; an invalid matrix fails before Ray starts."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from orchestrator.run.benchmark import run_benchmark
from orchestrator.run.plan import PlanError, build_plan
from orchestrator.run.request import BenchmarkRequest

from .conftest import make_fr_dataset, write_data_opt


def _entry(root, kind="GeneralFRDataset"):
    entry = {"name": "tiny", "type": kind, "dataroot_target": str(root / "dist"), "meta_info_file": str(root / "meta.csv")}
    if kind == "GeneralFRDataset":
        entry["dataroot_ref"] = str(root / "ref")
    return entry


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_corrupt_image_is_reported_and_counted(ray_cluster, demo_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = make_fr_dataset(tmp_path / "tiny", demo_root, count=12, corrupt=(3,))
    opt = write_data_opt(tmp_path / "opt.yml", {"tiny": _entry(root)})
    result = run_benchmark(
        BenchmarkRequest(metrics=("psnr", "ssim"), datasets=("tiny",), data_opt=opt, out=tmp_path / "out", batch_size=4)
    )
    summary = pd.read_csv(result.out / "summary.csv").set_index("metric")
    for metric in ("psnr", "ssim"):
        assert summary.loc[metric, "n"] == 11
        assert summary.loc[metric, "n_failed"] == 1
        assert "cannot decode" in summary.loc[metric, "failure_reasons"]
        frame = pd.read_parquet(result.out / "scores" / "tiny" / f"{metric}.parquet")
        failed = frame[frame["error"].notna()]
        assert failed["id"].tolist() == [3]
        assert failed["error"].iloc[0] == "decode: distorted image: cannot decode (not a recognised image format)"
        assert failed["dist_name"].iloc[0] in summary.loc[metric, "failure_reasons"]
        assert int(np.isfinite(frame["score"].to_numpy(dtype=float)).sum()) == 11


def test_unknown_metric_and_dataset_fail_before_ray(tmp_path, monkeypatch):
    import orchestrator.run.benchmark as benchmark

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started for an invalid matrix")

    monkeypatch.setattr(benchmark, "start_ray", no_ray)
    with pytest.raises(PlanError) as err:
        run_benchmark(BenchmarkRequest(metrics=("psnr", "not_a_metric"), datasets=("demo", "nope"), out=tmp_path))
    message = str(err.value)
    assert "not_a_metric" in message and "'nope'" in message
    assert not (tmp_path / "summary.csv").exists()


def test_fr_metric_on_nr_dataset_is_refused_up_front(demo_root, tmp_path):
    root = tmp_path / "nr"
    (root / "dist").mkdir(parents=True)
    (root / "meta.csv").write_text("dist_name,mos\na.png,1.0\n")
    opt = write_data_opt(tmp_path / "opt.yml", {"tiny_nr": _entry(root, "GeneralNRDataset")})
    with pytest.raises(PlanError, match="'ssim' is full-reference but dataset 'tiny_nr'"):
        build_plan(BenchmarkRequest(metrics=("ssim",), datasets=("tiny_nr",), data_opt=opt, out=tmp_path))


def test_named_metrics_score_the_datasets_they_apply_to_and_the_rest_is_announced(demo_root, tmp_path):
    nr = tmp_path / "nr"
    (nr / "dist").mkdir(parents=True)
    fr = make_fr_dataset(tmp_path / "fr", demo_root, 4)
    for name in ("a.png", "b.png"):
        shutil.copy(next((fr / "dist").iterdir()), nr / "dist" / name)
    (nr / "meta.csv").write_text("dist_name,mos\na.png,1.0\nb.png,2.0\n")
    opt = write_data_opt(tmp_path / "opt.yml", {"tiny_nr": _entry(nr, "GeneralNRDataset"), "tiny_fr": _entry(fr)})
    said: list[str] = []
    plan = build_plan(BenchmarkRequest(metrics=("ssim", "entropy"), datasets=("tiny_fr", "tiny_nr"), data_opt=opt,
                                       out=tmp_path), said.append)
    assert sorted((c.dataset, c.metric) for c in plan.cells) == [
        ("tiny_fr", "entropy"), ("tiny_fr", "ssim"), ("tiny_nr", "entropy")]
    assert any("ssim × tiny_nr" in line for line in said), said


def test_bad_metric_options_are_named(tmp_path):
    opt = tmp_path / "m.yml"
    opt.write_text("psnr:\n  not_an_option: 3\nssim: [1, 2]\n")
    with pytest.raises(PlanError) as err:
        build_plan(BenchmarkRequest(metrics=("psnr",), metric_opt=opt, out=tmp_path))
    assert "ssim" in str(err.value)
    opt.write_text("psnr:\n  not_an_option: 3\n")
    with pytest.raises(PlanError, match="not_an_option"):
        build_plan(BenchmarkRequest(metrics=("psnr",), metric_opt=opt, out=tmp_path))


def test_missing_images_are_listed(demo_root, tmp_path):
    root = make_fr_dataset(tmp_path / "tiny", demo_root, count=3)
    (root / "dist" / "astronaut_gblur_2.png").unlink()
    opt = write_data_opt(tmp_path / "opt.yml", {"tiny": _entry(root)})
    with pytest.raises(PlanError, match="astronaut_gblur_2.png"):
        build_plan(BenchmarkRequest(metrics=("psnr",), datasets=("tiny",), data_opt=opt, out=tmp_path))


def test_measured_resources_feed_the_plan(tmp_path, monkeypatch):
    """`iqabench efficiency` writes resources.json; the planner takes its memory figures over the registry's."""
    from orchestrator.efficiency.measured_resources import merge_measured_resources

    path = tmp_path / "resources.json"
    merge_measured_resources(path, {"ssim": {"host_peak_mb": 800.0}})
    monkeypatch.setenv("IQABENCH_RESOURCES", str(path))
    plan = build_plan(BenchmarkRequest(metrics=("psnr", "ssim"), out=tmp_path))
    memory = {c.metric: plan.resources(c).memory_mb for c in plan.cells}
    assert memory == {"psnr": 200, "ssim": 1000}  # 800 MB measured × 1.25 headroom; psnr keeps its estimate


def test_default_set_leaves_out_uncalibrated_metrics_and_says_so(tmp_path, monkeypatch):
    import dataclasses

    from metrics.registry import get_spec, registry

    monkeypatch.setitem(registry(), "psnry", dataclasses.replace(get_spec("psnry"), in_default_set=False))
    said: list[str] = []
    plan = build_plan(BenchmarkRequest(out=tmp_path, dry_run=True), said.append)
    planned = {cell.metric for cell in plan.cells}
    assert "psnry" not in planned and {"ssim", "fsim", "niqe", "mad"} <= planned
    assert any(line.startswith("Not in the default set (not calibrated") and "psnry" in line for line in said)
    explicit = build_plan(BenchmarkRequest(metrics=("psnry",), out=tmp_path, dry_run=True))
    assert [cell.metric for cell in explicit.cells] == ["psnry"]


def test_an_option_equal_to_the_factory_default_keys_the_same_cell(tmp_path, monkeypatch):
    monkeypatch.setenv("IQABENCH_HOME", str(tmp_path / "home"))  # the demo is built there
    names = ("psnr", "ssim", "vif")

    def keys(yaml_text: str | None) -> dict[str, str]:
        opt = None
        if yaml_text is not None:
            opt = tmp_path / "m.yml"
            opt.write_text(yaml_text)
        plan = build_plan(BenchmarkRequest(metrics=names, datasets=("demo",), metric_opt=opt, out=tmp_path))
        return {cell.metric: cell.key for cell in plan.cells}

    plain = keys(None)
    # the factories' own defaults, spelled out (an int for a float default included): the same cells
    assert keys("psnr:\n  data_range: 1\nssim:\n  window_size: 11\nvif:\n  sigma_nsq: 0.4\n") == plain
    changed = keys("psnr:\n  data_range: 255\nssim:\n  window_size: 7\n")
    assert changed["vif"] == plain["vif"]
    assert changed["psnr"] != plain["psnr"] and changed["ssim"] != plain["ssim"]


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_a_full_disk_at_the_end_loses_no_committed_cell(ray_cluster, demo_root, tmp_path, monkeypatch, capsys):
    import errno

    from jobs.cli import main
    from orchestrator.run import benchmark

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    root = make_fr_dataset(tmp_path / "d", demo_root, 6)
    opt = write_data_opt(tmp_path / "opt.yml", {"tiny": _entry(root)})
    out = tmp_path / "out"
    args = ["bench", "-m", "psnr", "ssim", "-d", "tiny", "--data_opt", str(opt), "--out", str(out),
            "--bootstrap_resamples", "20"]
    write_summary_csv = benchmark.write_summary_csv

    def disk_full(summary, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(benchmark, "write_summary_csv", disk_full)
    assert main(args) == 1
    assert f"No space left on device ({out / 'summary.csv'})" in capsys.readouterr().err
    assert not (out / "summary.csv").exists()

    monkeypatch.setattr(benchmark, "write_summary_csv", write_summary_csv)  # room again
    assert main(args) == 0
    assert "2 cell(s) cached, 0 to run" in capsys.readouterr().out
    summary = pd.read_csv(out / "summary.csv").set_index("metric")
    assert summary.loc[["psnr", "ssim"], "n"].tolist() == [6, 6]
