"""The cluster simulator (``benchmarks/cluster_sim.py``) and its simulated metrics (``benchmarks/sim_metrics.py``).

Fast tests need no Ray: the lower-bound arithmetic, profile parsing and validation, the generated datasets read
back through ``datasets_io``, the simulated model's two interfaces, and the report/plot writer on synthetic
intervals. One slow test runs the simulator end to end on a micro profile (its own Ray node with fake GPUs).
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


def test_split_runs_and_actor_bound():
    costs = [MetricCost("a", "FR", 0.5, 2.0, 0.25), MetricCost("b", "NR", 0.1, 4.0, 1.0)]
    datasets = [DatasetSize("fr", "FR", 10), DatasetSize("nr", "NR", 30)]
    runs = sim.split_runs(costs, datasets)
    assert [([c.metric for c in m], [d.dataset for d in d_]) for m, d_ in runs] == [(["a", "b"], ["fr"]), (["b"], ["nr"])]
    assert sim.max_actors_per_pass(costs, datasets, cpus=1) == 2
    assert sim.max_actors_per_pass(costs, datasets, cpus=8) == 8
    # The default --max-actors follows what this tree's scoring actor holds (torch or not).
    source = (REPO / "orchestrator" / "run" / "actors.py").read_text()
    assert sim.actor_kind() == ("numpy" if "numpy_scoring" in source else "torch")


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
    batch = np.zeros((2, 3, 8, 8), dtype=np.float32)
    out = model(batch, batch)
    # What today's actor does with a model's output.
    assert out.detach().to("cpu", "float64").numpy().shape == (2,)


def test_simulated_metrics_module_imports_nothing_heavy_beyond_metrics_spec(top_level_modules_loaded_by):
    """Building the sim specs and a model loads no heavy module that ``import metrics.spec`` does not (today that
    one loads torch through ``metrics/__init__.py``; once it does not, neither does the plugin)."""
    heavy = ("torch", "torchvision", "ray", "pandas", "scipy", "matplotlib", "pyarrow")
    costs = PROFILES / "three_metric_costs.csv"
    plugin = top_level_modules_loaded_by(
        f"import os; os.environ['IQABENCH_SIM_COSTS'] = {str(costs)!r}\n"
        "import benchmarks.sim_metrics as s\nassert len(s.SPECS) == 3\n"
        "m = s.SPECS[0].factory(seconds_per_image=0.0, load_seconds=0.0)\n"
        "import numpy as np\nm.score_numpy([np.zeros((8, 8, 3), np.uint8)])", heavy)
    assert set(plugin) <= set(top_level_modules_loaded_by("import metrics.spec", heavy))
    assert "import torch" not in (REPO / "benchmarks" / "sim_metrics.py").read_text()


# ---------------------------------------------------------------------------------------- report + plot


def synthetic_intervals() -> pd.DataFrame:
    rows = [  # run, dataset, metric, started, finished, share, images, errors
        (0, "d", "sim_a", 100.0, 104.0, 0.5, 8, 0),
        (0, "d", "sim_b", 101.0, 103.0, 1.0, 8, 0),
        (1, "e", "sim_a", 200.0, 202.0, 0.5, 4, 1),
    ]
    return pd.DataFrame(rows, columns=sim.INTERVAL_COLUMNS)


def test_busy_steps_and_makespan_leave_out_the_gap_between_runs():
    intervals = synthetic_intervals()
    times, levels = sim.busy_steps(intervals)
    assert times == [0.0, 1.0, 3.0, 4.0, 6.0]
    assert levels == [0.5, 1.5, 0.5, 0.5, 0.0]  # run 1 starts where run 0 ended (t = 4)
    assert sim.makespan_of(intervals) == pytest.approx(6.0)


def test_report_and_plot_writer(tmp_path):
    costs = [MetricCost("a", "NR", 0.1, 1.0, 0.5), MetricCost("b", "NR", 0.1, 2.0, 1.0)]
    bound = sim.lower_bound(costs, [DatasetSize("d", "NR", 8), DatasetSize("e", "NR", 4)], gpus=2, time_scale=1.0)
    config = {"profile": "synthetic", "gpus": 2, "cpus": 4, "time_scale": 1.0, "dataset_scale": 1.0,
              "datasets": {"sim_d": {}, "sim_e": {}}, "bench_runs": [{}, {}]}
    report = sim.summarise(synthetic_intervals(), bound, bench_wall=30.0, bench_code=0, config=config)
    # 12 images × 0.1 s × (0.5 + 1) = 1.8 GPU-s; / 2 + 2 s load = 2.9 s
    assert report["lower_bound_s"] == pytest.approx(2.9)
    assert report["makespan_s"] == pytest.approx(6.0) and report["span_s"] == pytest.approx(102.0)
    assert report["efficiency"] == pytest.approx(2.9 / 6.0)
    assert report["images_scored"] == 19 and report["errors"] == 1
    assert report["busy_gpu_seconds"] == pytest.approx(4 * 0.5 + 2 * 1.0 + 2 * 0.5)
    report_path, plot_path = sim.write_report(report, synthetic_intervals(), tmp_path / "out")
    assert json.loads(report_path.read_text())["efficiency"] == pytest.approx(2.9 / 6.0)
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    block = sim.summary_block(report)
    assert "efficiency   48.3%" in block and "lower bound  2.9 s" in block and "2 bench run(s)" in block


def test_read_intervals_groups_rows_into_actor_calls(tmp_path):
    folder = tmp_path / "scores" / "sim_d"
    folder.mkdir(parents=True)
    pd.DataFrame({"dist_name": list("abcd"), "started": [1.0, 1.0, 5.0, 5.0], "finished": [2.0, 2.0, 6.0, 6.0],
                  "error": [None, None, "score: boom", None], "node_id": ["n"] * 4}).to_parquet(folder / "sim_a.parquet")
    pd.DataFrame({"started": [1.0], "finished": [9.0], "error": [None]}).to_parquet(folder / "psnr.parquet")
    calls = sim.read_intervals(tmp_path, {"sim_a": 0.25}, run=3)
    assert calls[["run", "metric", "started", "images", "errors", "share"]].values.tolist() == [
        [3, "sim_a", 1.0, 2, 0, 0.25], [3, "sim_a", 5.0, 2, 1, 0.25]]


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
                  "images_scored", "per_metric"):
        assert report[field] is not None, field
    assert report["images_scored"] == report["images_expected"] == 60 and report["errors"] == 0
    assert 0 < report["efficiency"] <= 1.05
    assert (out / "gpu_use.png").stat().st_size > 0
