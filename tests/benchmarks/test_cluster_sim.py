"""The cluster simulator (``benchmarks/cluster_sim.py``) and its simulated metrics (``benchmarks/sim_metrics.py``).

Fast tests need no Ray: the lower-bound arithmetic, profile parsing and validation, the generated datasets read
back through ``datasets_io``, the simulated model, the ``resources.json`` the planner is told, the planner's
prediction (``--predict-only``), the memory guard, and the report/plot writer on synthetic intervals and
``scoring.json``. One slow test runs the simulator end to end on a micro profile (its own Ray node with fake GPUs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import cluster_sim as sim
from benchmarks.sim_metrics import (
    DatasetSize, MetricCost, SimProfileError, SimulatedMetric, load_costs, load_datasets, sim_name, spec_for,
)
from datasets_io.manifest import build_manifest
from datasets_io.options import load_options_file

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "benchmarks" / "sim_profiles"
COST_HEADER = "metric,mode,seconds_per_image,load_seconds,gpu_share\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------- bound


def test_lower_bound_by_hand():
    costs = [MetricCost("a", "FR", 0.5, 2.0, 0.25), MetricCost("b", "NR", 0.1, 4.0, 1.0)]
    datasets = [DatasetSize("fr", "FR", 10), DatasetSize("nr", "NR", 30)]
    bound = sim.lower_bound(costs, datasets, gpus=2, time_scale=2.0)
    # a (FR) scores fr only: 10 images × 0.5 s × 2 (scale) × 0.25 GPU = 2.5 GPU-s
    # b (NR) scores both:    40 images × 0.1 s × 2 (scale) × 1 GPU   = 8.0 GPU-s
    # bound = 10.5 GPU-s / 2 GPUs + longest load (4 s × 2) = 5.25 + 8 = 13.25 s
    assert [w.images for w in bound.work] == [10, 40]
    assert bound.gpu_seconds == pytest.approx(10.5)
    assert bound.longest_load == pytest.approx(8.0)
    assert bound.seconds == pytest.approx(13.25)


def test_three_metric_profile_bound_and_auto_scale():
    costs = load_costs(PROFILES / "three_metric_costs.csv")
    datasets = load_datasets(PROFILES / "three_metric_datasets.csv")
    assert [(c.seconds_per_image, c.load_seconds, c.gpu_share) for c in costs] == [
        (0.002, 1.0, 0.25), (0.02, 3.0, 0.5), (0.1, 5.0, 1.0)]
    assert [d.images for d in datasets] == [400, 200, 100]
    # 700 × (0.002×0.25 + 0.02×0.5 + 0.1×1) = 77.35 GPU-s; / 4 GPUs + 5 s = 24.3375 s
    assert sim.lower_bound(costs, datasets, 4, 1.0).seconds == pytest.approx(24.3375)
    assert sim.auto_time_scale(costs, datasets, 4, 30.0) == 1.0
    # The shortest per-image sleep never drops under 1 ms: 0.001 / 0.002 = 0.5 at the least.
    assert sim.auto_time_scale(costs, datasets, 4, 1.0) == pytest.approx(0.5)


def test_auto_scale_never_compresses_the_longest_load_under_an_actor_start():
    from orchestrator.run.cost import ACTOR_START_SECONDS

    costs = load_costs(PROFILES / "ten_metric_costs.csv")
    datasets = load_datasets(PROFILES / "ten_metric_datasets.csv")
    longest = max(c.load_seconds for c in costs)
    scale = sim.auto_time_scale(costs, datasets, 4, 30.0)
    assert scale == pytest.approx(ACTOR_START_SECONDS / longest)
    # A target the start floor does not bind is rounded as before.
    assert sim.auto_time_scale(costs, datasets, 4, 3000.0) == pytest.approx(5.0)


def test_default_profiles_are_valid():
    costs = load_costs(PROFILES / "default_costs.csv")
    datasets = load_datasets(PROFILES / "default_datasets.csv")
    assert len(costs) == 80 and len(datasets) == 18
    assert {c.gpu_share for c in costs} <= {1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0}
    assert all(1.0 <= c.load_seconds <= 6.0 for c in costs)
    assert {c.metric for c in costs if c.mode == "FR"} >= {"psnr", "ssim", "lpips", "dists", "topiq_fr", "ahiq"}
    assert len({c.name for c in costs}) == 80


def test_dataset_scale_and_picking(tmp_path):
    datasets = [DatasetSize("big", "NR", 1000), DatasetSize("tiny", "FR", 3)]
    assert [d.images for d in sim.scale_datasets(datasets, 0.05)] == [50, 1]
    assert sim.pick(datasets, ["sim_tiny"], lambda d: (d.dataset, d.key), "dataset", tmp_path) == [datasets[1]]
    with pytest.raises(SimProfileError, match="no dataset named nope"):
        sim.pick(datasets, ["nope"], lambda d: (d.dataset, d.key), "dataset", tmp_path)


def test_ten_metric_profile_spreads_costs_shares_and_modes():
    costs = load_costs(PROFILES / "ten_metric_costs.csv")
    datasets = load_datasets(PROFILES / "ten_metric_datasets.csv")
    assert len(costs) == 10 and len(datasets) == 5
    seconds = sorted(c.seconds_per_image for c in costs)
    assert seconds[0] == pytest.approx(0.013) and seconds[-1] == pytest.approx(0.51)
    assert {c.gpu_share for c in costs} == {1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0}
    assert {c.mode for c in costs} == {"FR", "NR"} and {d.mode for d in datasets} == {"FR", "NR"}
    assert all(1.0 <= c.load_seconds <= 6.0 for c in costs)
    assert all(100 <= d.images <= 1000 for d in datasets)


def test_resources_json_tells_the_cost_model_the_scaled_truth(tmp_path):
    from metrics.spec import MetricSpec
    from orchestrator.efficiency.measured_resources import load_measured_resources, measured_resources
    from orchestrator.run.cost import metric_cost

    costs = [MetricCost("a", "FR", 0.5, 2.0, 0.25), MetricCost("b", "NR", 0.1, 4.0, 1.0)]
    bound = sim.lower_bound(costs, [DatasetSize("fr", "FR", 10)], gpus=2, time_scale=0.1)
    path = sim.write_resources(bound, tmp_path / "home" / "resources.json")
    measured = load_measured_resources(path)
    assert set(measured) == {"sim_a", "sim_b"}
    for cost in costs:
        spec: MetricSpec = spec_for(cost, 0.1)
        entry = measured[spec.name]
        assert "host_peak_mb" not in entry and "gpu" not in entry
        assert measured_resources(spec, entry) == spec.resources  # memory and GPU share stay the declared ones
        for device in ("cuda", "cpu"):
            planned = metric_cost(spec, device, entry)
            assert planned.source == "measured"
            assert planned.seconds_for(sim.IMAGE_SIZE**2) == pytest.approx(cost.seconds_per_image * 0.1)
            assert planned.load_seconds == pytest.approx(cost.load_seconds * 0.1)


def test_planner_prediction_and_memory_bound():
    costs = load_costs(PROFILES / "three_metric_costs.csv")
    bound = sim.lower_bound(costs, load_datasets(PROFILES / "three_metric_datasets.csv"), 4, 1.0)
    pools, prediction = sim.planner_prediction(bound, cpus=8)
    assert sorted(m for p in pools for m in p.metrics) == ["sim_fast", "sim_medium", "sim_slow"]
    # The planner's bound is the simulator's (one metric a pool here), and no schedule beats it.
    assert prediction.lower_bound == pytest.approx(bound.seconds)
    assert bound.seconds <= prediction.makespan < 2 * bound.seconds
    # 4 GPUs hold at most 16 actors of 1/4 GPU; CPUs reserved in proportion to the share allow as many.
    assert sim.most_actors(pools, gpus=4, cpus=8) == 16


def test_predict_only_starts_nothing_and_prints_the_projection(capsys, monkeypatch):
    monkeypatch.setattr(sim, "start_sim_cluster", lambda *a, **k: pytest.fail("--predict-only started Ray"))
    code = sim.main(["--predict-only", "--costs", str(PROFILES / "default_costs.csv"),
                     "--datasets", str(PROFILES / "default_datasets.csv"), "--gpus", "8", "--cpus", "64",
                     "--metrics", "psnr", "lpips", "musiq", "maniqa", "qalign"])
    out = capsys.readouterr().out
    assert code == 0 and "== planner prediction" in out and "time scale 1" in out
    assert "5 metrics" in out and "predicted" in out and " h)" in out  # hours at full scale


def test_memory_guard_refuses_a_cluster_too_big_for_the_machine(capsys):
    code = sim.main(["--costs", str(PROFILES / "three_metric_costs.csv"),
                     "--datasets", str(PROFILES / "three_metric_datasets.csv"), "--gpus", "64", "--cpus", "512",
                     "--memory-gb", "2"])
    assert code == 2 and "could hold 256 simulated actors" in capsys.readouterr().err  # 64 GPUs ÷ 1/4


# ------------------------------------------------------------------------------------------- parsing


def test_names_are_sanitised():
    assert sim_name("clipiqa+_rn50_512") == "sim_clipiqa_plus_rn50_512"
    assert sim_name("nima-vgg16-ava") == "sim_nima_vgg16_ava"
    assert sim_name("koniq10k++") == "sim_koniq10k_plus_plus"


@pytest.mark.parametrize("body, message", [
    ("a,XR,0.1,1,0.5\n", r"line 2: mode must be FR or NR, got 'XR'"),
    ("a,NR,fast,1,0.5\n", r"line 2: seconds_per_image 'fast' is not a number"),
    ("a,NR,0.1,1,0.5\nb,NR,0,1,0.5\n", r"line 3: seconds_per_image must be > 0"),
    ("a,NR,0.1,-1,0.5\n", r"line 2: load_seconds must be >= 0"),
    ("a,NR,0.1,1,1.5\n", r"line 2: gpu_share must be in \(0, 1\] or a whole number"),
    ("a,NR,0.1,1\n", r"line 2: no value for gpu_share"),
    ("a,NR,0.1,1,0.5,9\n", r"line 2: 6 values, expected 5"),
    ("a-b,NR,0.1,1,0.5\na_b,NR,0.1,1,0.5\n", r"line 3: metric 'a_b' has the same name 'sim_a_b' as 'a-b'"),
    ("", "no rows"),
])
def test_bad_cost_rows_give_one_line_naming_the_file(tmp_path, body, message):
    path = write(tmp_path / "costs.csv", COST_HEADER + body)
    with pytest.raises(SimProfileError, match=message) as info:
        load_costs(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_bad_headers_and_dataset_rows(tmp_path):
    with pytest.raises(SimProfileError, match=r"costs\.csv: header must be metric,mode,seconds_per_image"):
        load_costs(write(tmp_path / "costs.csv", "# comment\n" + COST_HEADER))
    with pytest.raises(SimProfileError, match=r"sizes\.csv: line 2: images must be a whole number >= 1, got 2\.5"):
        load_datasets(write(tmp_path / "sizes.csv", "dataset,mode,images\nx,NR,2.5\n"))
    with pytest.raises(SimProfileError, match=r"missing\.csv: cannot read"):
        load_datasets(tmp_path / "missing.csv")
    # Column order is free; blank lines are skipped.
    assert load_datasets(write(tmp_path / "ok.csv", "images,dataset,mode\n5,x,nr\n\n")) == [DatasetSize("x", "NR", 5)]


def test_cli_reports_a_bad_profile_in_one_line(tmp_path, capsys):
    costs = write(tmp_path / "costs.csv", COST_HEADER + "a,NR,0.1,1,2.5\n")
    code = sim.main(["--costs", str(costs), "--datasets", str(PROFILES / "three_metric_datasets.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"cluster_sim: error: {costs}: line 2: gpu_share must be in (0, 1] or a whole number, got 2.5"


# ------------------------------------------------------------------------------------ generated datasets


def test_generated_datasets_read_back_through_datasets_io(tmp_path):
    sizes = [DatasetSize("fr set", "FR", 30), DatasetSize("nr", "NR", 7)]
    data_opt = sim.generate_datasets(sizes, tmp_path / "data")
    specs = load_options_file(data_opt)
    assert set(specs) == {"sim_fr_set", "sim_nr"}
    assert specs["sim_fr_set"].mode == "FR" and specs["sim_nr"].mode == "NR"
    fr = build_manifest(specs["sim_fr_set"], hash_cache=False).table.to_pandas()
    assert len(fr) == 30 and fr["ref_name"].nunique() == 2  # 25 distorted images per reference
    assert fr["dist_path"].map(os.path.isfile).all() and fr["ref_path"].map(os.path.isfile).all()
    assert fr["mos"].between(1, 5).all()
    nr = build_manifest(specs["sim_nr"], hash_cache=False).table.to_pandas()
    assert len(nr) == 7 and nr["ref_path"].isna().all() and list(nr["id"]) == list(range(7))


# ------------------------------------------------------------------------------------- the simulated model


def test_simulated_model_interfaces():
    spec = spec_for(MetricCost("m", "FR", 0.5, 2.0, 0.5), time_scale=0.01)
    assert spec.name == "sim_m" and spec.resources.num_gpus == 0.5 and not spec.in_default_set
    assert spec.options["seconds_per_image"] == pytest.approx(0.005)
    assert "simulation" in spec.calibration_detail
    model = spec.factory(**spec.options).to("cuda").eval()
    images = [np.full((8, 8, 3), i, dtype=np.uint8) for i in range(3)]
    scores = model.score_numpy(images, images)
    assert scores.dtype == np.float64 and scores.shape == (3,) and len(set(scores)) == 3
    assert np.array_equal(scores, model.score_numpy(images, images))  # deterministic
    assert model.numpy_scoring and model.device == "cuda"  # the actor scores it through score_numpy, no torch


def test_simulated_metrics_module_imports_nothing_heavy_beyond_metrics_spec(top_level_modules_loaded_by):
    """Building the sim specs and a model loads no heavy module that ``import metrics.spec`` does not (and that
    one loads no torch)."""
    heavy = ("torch", "torchvision", "ray", "pandas", "scipy", "matplotlib", "pyarrow")
    costs = PROFILES / "three_metric_costs.csv"
    plugin = top_level_modules_loaded_by(
        f"import os; os.environ['IQABENCH_SIM_COSTS'] = {str(costs)!r}\n"
        "import benchmarks.sim_metrics as s\nassert len(s.SPECS) == 3\n"
        "m = s.SPECS[0].factory(seconds_per_image=0.0, load_seconds=0.0)\n"
        "import numpy as np\nm.score_numpy([np.zeros((8, 8, 3), np.uint8)])", heavy)
    assert set(plugin) <= set(top_level_modules_loaded_by("import metrics.spec", heavy))
    assert "torch" not in plugin
    assert "import torch" not in (REPO / "benchmarks" / "sim_metrics.py").read_text()


# ---------------------------------------------------------------------------------------- report + plot


def synthetic_intervals() -> pd.DataFrame:
    rows = [  # dataset, metric, started, finished, share, images, errors
        ("d", "sim_a", 100.0, 104.0, 0.5, 8, 0),
        ("d", "sim_b", 101.0, 103.0, 1.0, 8, 0),
        ("e", "sim_a", 104.0, 106.0, 0.5, 4, 1),
    ]
    return pd.DataFrame(rows, columns=sim.INTERVAL_COLUMNS)


def test_busy_steps_from_the_first_start_or_from_started_at():
    intervals = synthetic_intervals()
    times, levels = sim.busy_steps(intervals)
    assert times == [0.0, 1.0, 3.0, 4.0, 6.0]
    assert levels == [0.5, 1.5, 0.5, 0.5, 0.0]
    assert sim.busy_steps(intervals, origin=98.0)[0] == [2.0, 3.0, 5.0, 6.0, 8.0]
    assert sim.span_of(intervals) == pytest.approx(6.0)


SCORING = {"started_at": 98.0, "finished_at": 108.0, "seconds": 10.0, "predicted_seconds": 8.0,
           "lower_bound_seconds": 2.9, "pools": [{"pool": "sim_a", "actors_started": 1}]}


def test_report_and_plot_writer(tmp_path):
    costs = [MetricCost("a", "NR", 0.1, 1.0, 0.5), MetricCost("b", "NR", 0.1, 2.0, 1.0)]
    bound = sim.lower_bound(costs, [DatasetSize("d", "NR", 8), DatasetSize("e", "NR", 4)], gpus=2, time_scale=1.0)
    config = {"profile": "synthetic", "gpus": 2, "cpus": 4, "time_scale": 1.0, "dataset_scale": 1.0,
              "datasets": {"sim_d": {}, "sim_e": {}}}
    report = sim.summarise(synthetic_intervals(), bound, SCORING, {"predicted_s": 8.0}, bench_wall=30.0,
                           bench_code=0, config=config)
    # 12 images × 0.1 s × (0.5 + 1) = 1.8 GPU-s; / 2 + 2 s load = 2.9 s
    assert report["lower_bound_s"] == pytest.approx(2.9)
    # The makespan is scoring.json's finished_at − started_at (actor start-up included), not the images' span.
    assert report["makespan_s"] == pytest.approx(10.0) and report["span_s"] == pytest.approx(6.0)
    assert report["first_image_after_s"] == pytest.approx(2.0)
    assert report["efficiency"] == pytest.approx(0.29)
    assert report["predicted_s"] == 8.0 and report["prediction_error"] == pytest.approx(0.2)
    assert report["images_scored"] == 19 and report["errors"] == 1
    assert report["busy_gpu_seconds"] == pytest.approx(4 * 0.5 + 2 * 1.0 + 2 * 0.5)
    assert report["scoring_json"]["pools"][0]["pool"] == "sim_a"
    report["actor_requests_s"] = {"sim_a": [0.5, 3.0]}
    report_path, plot_path = sim.write_report(report, synthetic_intervals(), tmp_path / "out")
    assert json.loads(report_path.read_text())["efficiency"] == pytest.approx(0.29)
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    block = sim.summary_block(report)
    assert "efficiency   29.0%" in block and "lower bound  2.9 s" in block and "error 20.0%" in block


def test_without_scoring_json_the_makespan_falls_back_to_the_intervals(tmp_path):
    costs = [MetricCost("a", "NR", 0.1, 1.0, 0.5), MetricCost("b", "NR", 0.1, 2.0, 1.0)]
    bound = sim.lower_bound(costs, [DatasetSize("d", "NR", 8), DatasetSize("e", "NR", 4)], gpus=2, time_scale=1.0)
    config = {"profile": "synthetic", "gpus": 2, "cpus": 4, "time_scale": 1.0, "dataset_scale": 1.0, "datasets": {}}
    assert sim.read_scoring(tmp_path) is None
    report = sim.summarise(synthetic_intervals(), bound, None, None, bench_wall=None, bench_code=1, config=config)
    assert report["makespan_s"] == pytest.approx(6.0) and "Parquet" in report["makespan_source"]
    assert report["predicted_s"] is None and report["prediction_error"] is None
    (tmp_path / "scoring.json").write_text(json.dumps(SCORING))
    assert sim.read_scoring(tmp_path)["predicted_seconds"] == 8.0
    sim.write_report(report, synthetic_intervals(), tmp_path / "out")
    assert "error n/a" in sim.summary_block(report)


def test_read_intervals_groups_rows_into_actor_calls(tmp_path):
    folder = tmp_path / "scores" / "sim_d"
    folder.mkdir(parents=True)
    pd.DataFrame({"dist_name": list("abcd"), "started": [1.0, 1.0, 5.0, 5.0], "finished": [2.0, 2.0, 6.0, 6.0],
                  "error": [None, None, "score: boom", None], "node_id": ["n"] * 4}).to_parquet(folder / "sim_a.parquet")
    pd.DataFrame({"started": [1.0], "finished": [9.0], "error": [None]}).to_parquet(folder / "psnr.parquet")
    calls = sim.read_intervals(tmp_path, {"sim_a": 0.25})
    assert calls[["metric", "started", "images", "errors", "share"]].values.tolist() == [
        ["sim_a", 1.0, 2, 0, 0.25], ["sim_a", 5.0, 2, 1, 0.25]]


def test_the_bench_log_is_timestamped_and_gives_the_actor_requests(tmp_path):
    before = time.time()
    code, _ = sim.run_logged(["bash", "-c", "echo 'DEBUG orchestrator.run.schedule: started an actor of a+b (2 now)'; "
                              "echo other"], dict(os.environ), tmp_path, tmp_path / "log", timeout=30)
    text = (tmp_path / "log").read_text()
    assert code == 0 and len(text.splitlines()) == 2 and float(text.split()[0]) >= before
    requests = sim.actor_requests(text, origin=before)
    assert list(requests) == ["a+b"] and 0 <= requests["a+b"][0] < 30


def test_actor_traces_of_simulated_models(monkeypatch, capsys):
    monkeypatch.setenv("IQABENCH_SIM_TRACE", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    SimulatedMetric(0.0, 0.01, metric="m")
    line = capsys.readouterr().out
    traces = sim.actor_traces("(PoolActor pid=1) " + line, origin=float(line.split("built=")[1].split()[0]) - 1.0)
    assert len(traces) == 1 and traces[0]["metric"] == "m" and traces[0]["gpus"] == "2"
    assert traces[0]["built_s"] == pytest.approx(1.0) and traces[0]["loaded_s"] >= 1.0


def test_a_bench_past_its_timeout_is_stopped_with_its_process_group(tmp_path):
    started = time.monotonic()
    code, wall = sim.run_logged(["bash", "-c", "sleep 60 & sleep 60"], dict(os.environ), tmp_path,
                                tmp_path / "log", timeout=0.5)
    assert code == sim.TIMED_OUT and wall < 10 and time.monotonic() - started < 10


# ---------------------------------------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(600)
def test_end_to_end_on_a_micro_profile(tmp_path):
    costs = write(tmp_path / "costs.csv", COST_HEADER + "fr_one,FR,0.01,0.5,0.5\nnr_one,NR,0.02,0.5,0.25\n")
    sizes = write(tmp_path / "sizes.csv", "dataset,mode,images\nmicro_fr,FR,20\nmicro_nr,NR,20\n")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "cluster_sim.py"), "--costs", str(costs), "--datasets", str(sizes),
         "--gpus", "2", "--cpus", "4", "--time-scale", "0.2", "--out", str(out), "--timeout", "500"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=580,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "== cluster simulation ==" in done.stdout
    report = json.loads((out / "sim_report.json").read_text())
    for field in ("makespan_s", "lower_bound_s", "efficiency", "gpu_seconds", "longest_load_s", "bench_wall_s",
                  "images_scored", "per_metric", "predicted_s", "prediction_error", "started_at"):
        assert report[field] is not None, field
    assert report["images_scored"] == report["images_expected"] == 60 and report["errors"] == 0
    assert 0 < report["efficiency"] <= 1.05
    assert "scoring.json" in report["makespan_source"]
    # One bench on the mixed matrix, and the bench's planner predicted what the simulator replays.
    assert report["bench_command"].count(" bench ") == 1
    assert report["predicted_s"] == pytest.approx(report["planner_replay"]["predicted_s"], rel=1e-6)
    assert (out / "gpu_use.png").stat().st_size > 0
