"""The scheduler on a Ray cluster with 4 fake GPUs (in a subprocess: the session cluster has none).

Four test-only metrics declare 0.25, 0.5, 1 and 1 GPU and score three FR datasets through the real
:func:`orchestrator.run.benchmark.run_benchmark`. Each construction of a metric records where Ray placed it, so
the test sees that every actor got its declared share on one device, that no GPU was oversubscribed by actors
alive at the same time, that datasets share actors (each actor builds its model once per run, not once per
dataset), and that the actor of the quick whole-GPU metric, once done, is handed over to the slow one (it builds
the slow metric's model in its process instead of a new actor starting).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from orchestrator.run.placement import MIB

from ..run.conftest import demo_root, make_fr_dataset  # noqa: F401 (a fixture)
from .cluster import REPO, kill_group, pids_using
from .gpu_stand_ins import ENV, MEMORY_MB, SECONDS_PER_IMAGE, SHARES

pytestmark = [pytest.mark.ray, pytest.mark.timeout(400)]

DATASETS = {"fa": 24, "fb": 16, "fc": 8}
DRIVER = """
import json, sys, ray
from pathlib import Path
from orchestrator.run.benchmark import run_benchmark
from orchestrator.run.request import BenchmarkRequest
config = json.loads(sys.argv[1])
ray.init(num_cpus=8, num_gpus=4, include_dashboard=False, _temp_dir=config["temp_dir"], log_to_driver=False)
try:
    result = run_benchmark(BenchmarkRequest(metrics=tuple(config["metrics"]), datasets=tuple(config["datasets"]),
                           data_opt=Path(config["data_opt"]), metric_opt=Path(config["metric_opt"]),
                           out=Path(config["out"]), use_gpu=True, batch_size=4, bootstrap_resamples=10))
    print("DRIVER-RESULT " + json.dumps({"given_up": result.given_up, "computed": result.computed}), flush=True)
finally:
    ray.shutdown()
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory, demo_root) -> dict:
    import yaml

    root = tmp_path_factory.mktemp("fake-gpus")
    entries = {}
    for name, count in DATASETS.items():
        data = make_fr_dataset(root / name, demo_root, count)
        entries[name] = {"name": name, "type": "GeneralFRDataset", "dataroot_target": str(data / "dist"),
                         "dataroot_ref": str(data / "ref"), "meta_info_file": str(data / "meta.csv")}
    (root / "opt.yml").write_text(yaml.safe_dump(entries))
    # One actor for the cheapest metric (the others sized by the planner): it must serve all three datasets.
    (root / "metric_opt.yml").write_text(yaml.safe_dump({"gpu_small": {"resources": {"workers": 1}}}))
    constructions = root / "constructions"
    constructions.mkdir()
    # What `iqabench efficiency` would have measured: the stand-ins' true costs, at the demo's image size.
    from PIL import Image

    with Image.open(next((root / "fa" / "dist").iterdir())) as image:
        pixels = image.size[0] * image.size[1]
    measured = {name: {"seconds_per_image": {"cuda": seconds}, "load_seconds": 0.2, "at_pixels": pixels}
                for name, seconds in SECONDS_PER_IMAGE.items()}
    (root / "resources.json").write_text(json.dumps({"version": 1, "metrics": measured}))
    temp_dir = tempfile.mkdtemp(prefix="iqs-gpu-", dir="/tmp")
    config = {"temp_dir": temp_dir, "metrics": list(SHARES), "datasets": list(DATASETS),
              "data_opt": str(root / "opt.yml"), "metric_opt": str(root / "metric_opt.yml"), "out": str(root / "out")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(REPO),
               IQABENCH_METRIC_PLUGINS="tests.scaleout.gpu_stand_ins", MLFLOW_TRACKING_URI="",
               IQABENCH_RESOURCES=str(root / "resources.json"),
               **{ENV: str(constructions)})
    env.pop("MLFLOW_TRACKING_URI")
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(config)], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=360)
    finally:
        kill_group(proc.pid, grace=5)
        for pid in pids_using(temp_dir):  # anything of this cluster that outlived ray.shutdown()
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp_dir, ignore_errors=True)
    lines = [line for line in output.splitlines() if line.startswith("DRIVER-RESULT ")]
    assert proc.returncode == 0 and lines, output[-5000:]
    records = [json.loads(p.read_text()) for p in constructions.glob("*.json")]
    return {"driver": json.loads(lines[-1][len("DRIVER-RESULT "):]), "records": records, "out": root / "out",
            "output": output}


def test_every_cell_is_scored(run):
    assert run["driver"] == {"given_up": {}, "computed": 12}, run["output"][-3000:]
    summary = pd.read_csv(run["out"] / "summary.csv")
    assert len(summary) == 12 and (summary["n_failed"] == 0).all()
    assert dict(zip(summary["dataset"], summary["n"])) == DATASETS


def test_datasets_share_actors_each_model_is_built_once_per_actor(run):
    by_actor = defaultdict(list)
    for record in sorted(run["records"], key=lambda r: r["time"]):
        by_actor[record["actor_id"]].append(record["metric"])
    assert by_actor, run["output"][-3000:]
    # Each model once per actor (a reload per dataset would give three); an actor handed over builds its next
    # pool's model once too.
    assert all(len(metrics) == len(set(metrics)) for metrics in by_actor.values()), by_actor
    per_metric = defaultdict(int)
    for metrics in by_actor.values():
        for metric in metrics:
            per_metric[metric] += 1
    assert set(per_metric) == set(SHARES)
    # The cheapest metric has one actor: it scored all three datasets with one model, loaded once.
    assert per_metric["gpu_small"] == 1, per_metric


def test_a_finished_pools_actor_is_handed_over_to_a_pool_of_its_shape(run):
    by_actor = defaultdict(list)
    for record in sorted(run["records"], key=lambda r: r["time"]):
        by_actor[record["actor_id"]].append(record["metric"])
    handed = [metrics for metrics in by_actor.values() if len(metrics) > 1]
    # The quick whole-GPU metric finished first; its actor then built the slow whole-GPU metric's model.
    assert handed == [["gpu_whole_quick", "gpu_whole"]], by_actor
    scoring = json.loads((run["out"] / "scoring.json").read_text())
    assert scoring["actors_handed_over"] == 1
    pools = {p["pool"]: p for p in scoring["pools"]}
    assert pools["gpu_whole"]["actors_handed_over"] == 1
    assert scoring["actor_start_seconds"]["measured"] > 0


def test_each_actor_got_its_declared_share_on_one_device(run):
    for record in run["records"]:
        share = SHARES[record["metric"]]
        assert record["assigned"]["GPU"] == pytest.approx(share)
        assert record["assigned"]["memory"] == MEMORY_MB * MIB
        assert len(record["gpu_ids"]) == 1 and record["gpu_ids"][0] in {"0", "1", "2", "3"}
    whole = [r for r in run["records"] if r["metric"] == "gpu_whole"]
    assert len(whole) >= 2  # the costliest metric got several actors (work-proportional sizing)
