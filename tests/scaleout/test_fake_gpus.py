"""GPU packing on a real Ray cluster with 4 fake GPUs (in a subprocess: the session cluster has none).

Test-only metrics declare 0.25, 0.5 and 1 GPU; :func:`orchestrator.placement.place` chooses the actors and the
probe starts them with ``Placement.ray_options()``; each actor reports the GPU ids and shares Ray gave it.
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

import pytest

from orchestrator.run.placement import MIB

from .cluster import REPO, kill_group, pids_using

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

PROBE = Path(__file__).with_name("fake_gpu_probe.py")
SHARES = {"small": 0.25, "half": 0.5, "whole": 1.0}
MEMORY_MB = 100


@pytest.fixture(scope="module")
def probe() -> dict:
    temp_dir = tempfile.mkdtemp(prefix="iqs-gpu-", dir="/tmp")
    config = {"gpus": 4, "cpus": 8, "temp_dir": temp_dir, "data": "half",
              "metrics": {m: [share, MEMORY_MB] for m, share in SHARES.items()}}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(PROBE), json.dumps(config)], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=240)
    finally:
        kill_group(proc.pid, grace=5)
        for pid in pids_using(temp_dir):  # anything of this cluster that outlived ray.shutdown()
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp_dir, ignore_errors=True)
    lines = [line for line in output.splitlines() if line.startswith("PROBE-RESULT ")]
    assert proc.returncode == 0 and lines, output[-5000:]
    return json.loads(lines[-1][len("PROBE-RESULT "):])


def test_placement_asks_for_the_declared_shares(probe):
    placements = {p["metric"]: p for p in probe["placements"]}
    assert probe["cluster"]["GPU"] == 4.0
    # 8 CPUs over 3 metrics: at most 2 actors each; 2×(0.25 + 0.5 + 1) = 3.5 GPUs fit on 4.
    assert {m: p["workers"] for m, p in placements.items()} == {"small": 2, "half": 2, "whole": 2}
    for metric, share in SHARES.items():
        assert placements[metric]["ray_options"]["num_gpus"] == share
        assert placements[metric]["ray_options"]["memory"] == MEMORY_MB * MIB


def test_each_actor_got_its_share_and_no_gpu_is_oversubscribed(probe):
    actors = probe["actors"]
    assert sorted(a["metric"] for a in actors) == sorted(m for m in SHARES for _ in range(2))
    load: dict[str, float] = defaultdict(float)
    holders: dict[str, set[str]] = defaultdict(set)
    for actor in actors:
        share = SHARES[actor["metric"]]
        assert actor["assigned"]["GPU"] == pytest.approx(share)
        assert actor["assigned"]["memory"] == MEMORY_MB * MIB
        # A fractional or single-GPU share is one device, and both Ray APIs agree on which.
        assert len(actor["gpu_ids"]) == 1 and actor["gpu_ids"] == actor["accelerator_ids"]
        gpu = actor["gpu_ids"][0]
        assert gpu in {"0", "1", "2", "3"}
        load[gpu] += share
        holders[gpu].add(actor["actor_id"])
    assert all(total <= 1.0 + 1e-9 for total in load.values()), dict(load)
    assert sum(load.values()) == pytest.approx(3.5) and sum(load.values()) <= 4
    whole_gpus = [a["gpu_ids"][0] for a in actors if a["metric"] == "whole"]
    assert len(set(whole_gpus)) == 2  # each whole-GPU actor has a device of its own ...
    assert all(holders[g] == {a["actor_id"] for a in actors if a["gpu_ids"] == [g]} and len(holders[g]) == 1
               for g in whole_gpus)  # ... shared with no one
    # The four fractional actors (2×0.25 + 2×0.5 = 1.5 GPUs) share the two remaining devices.
    fractional = {a["gpu_ids"][0] for a in actors if a["metric"] != "whole"}
    assert fractional.isdisjoint(whole_gpus) and len(fractional) == 2


def test_ray_data_actor_pool_takes_the_same_options(probe):
    stage = probe["data_stage"]
    assert stage["rows"] == 16
    assert len(stage["actors"]) >= 1
    assert all(len(ids.split(",")) == 1 and ids in {"0", "1", "2", "3"} for ids in stage["gpu_ids"])
