"""``start_ray``: a private local cluster that a killed driver does not leave behind; quiet settings; resources."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.run import ray_watchdog
from orchestrator.run.ray_session import free_ports, ray_settings

REPO = Path(__file__).resolve().parents[2]

#: A driver that starts its own cluster, runs one task (so that a worker exists too) and reports its processes.
DRIVER = r"""
import json, os, sys, time
import ray
from orchestrator.run.ray_session import cluster_resources, start_ray
from orchestrator.run import ray_watchdog

with start_ray(None, num_cpus=1) as started:
    assert ray.get(ray.remote(lambda: os.getpid()).remote()) > 0
    watchdog = [p for p in ray_watchdog.descendants(os.getpid()) if "ray_watchdog" in open(f"/proc/{p}/cmdline").read()]
    print(json.dumps({"started": started, "watchdog": watchdog, "resources": cluster_resources().__dict__}), flush=True)
    if sys.argv[1] == "hang":
        time.sleep(600)
"""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _alive(pid: int) -> bool:
    """Running (a zombie is dead: it only waits to be reaped)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


def _mentioning(text: str) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and text in _cmdline(int(p)) and _alive(int(p))]


def _driver(mode: str) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, mode], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"the driver ended before its cluster was up: {proc.stderr.read()[-3000:]}")
    return proc, json.loads(line)


def _wait_gone(pids: set[int], temp_dir: str, timeout_s: float) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = {p for p in pids if _alive(p)} | set(_mentioning(temp_dir))
        if not left:
            return set()
        time.sleep(0.2)
    return {p for p in pids if _alive(p)} | set(_mentioning(temp_dir))


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_driver_leaves_no_ray_process_of_its_cluster():
    proc, report = _driver("hang")
    try:
        assert report["started"] is True and report["resources"]["cpus"] == 1.0
        (watchdog,) = report["watchdog"]
        temp_dir = _cmdline(watchdog).split("ray_watchdog.py", 1)[1].split()[0]
        assert Path(temp_dir).is_dir() and Path(temp_dir).name.startswith("iqabench-ray-")
        cluster = {watchdog, *ray_watchdog.descendants(watchdog), *_mentioning(temp_dir)}
        names = " ".join(_cmdline(p) for p in cluster)
        # The processes that outlived a killed driver before: the agents, and the raylet, GCS and a worker.
        for kind in ("raylet", "gcs_server", "RuntimeEnvAgent", "dashboard/agent.py"):
            assert kind in names, f"{kind} not among the cluster's processes: {names[:2000]}"
        assert len(cluster) >= 6
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    left = _wait_gone(cluster, temp_dir, timeout_s=60)
    assert not left, {p: _cmdline(p)[:200] for p in left}
    assert not Path(temp_dir).exists()


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_clean_exit_stops_the_cluster_before_returning():
    proc, report = _driver("exit")
    (watchdog,) = report["watchdog"]
    temp_dir = _cmdline(watchdog).split("ray_watchdog.py", 1)[1].split()[0]
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    # The driver waited for its watchdog: nothing of the cluster is left the moment it has exited.
    assert not _alive(watchdog) and not _mentioning(temp_dir) and not Path(temp_dir).exists()
    assert "INFO" not in err  # quiet by default: no Ray INFO lines on the console


def test_quiet_settings_and_verbose_settings():
    quiet, verbose = ray_settings(False), ray_settings(True)
    assert quiet.logging_level == logging.WARNING and not quiet.log_to_driver and not quiet.data_progress_bars
    assert quiet.env["RAY_DATA_DISABLE_PROGRESS_BARS"] == "1"
    assert verbose.logging_level == logging.INFO and verbose.log_to_driver and verbose.data_progress_bars
    assert "RAY_DATA_DISABLE_PROGRESS_BARS" not in verbose.env


def test_free_ports_are_distinct_and_bindable():
    import socket

    ports = free_ports(8)
    assert len(set(ports)) == 8
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_the_watchdog_rejects_a_bad_command_line(capsys):
    assert ray_watchdog.main(["/tmp/x"]) == 2
    assert "usage: ray_watchdog.py TEMP_DIR -- COMMAND" in capsys.readouterr().err
