"""Every command works from a built wheel installed outside the checkout (package data, entry point, version).

The wheel goes into a fresh virtual environment that borrows this environment's installed packages through a
``.pth`` path line (torch, Ray, MLflow are not reinstalled). A path line does not run the ``.pth`` files of the
folder it names, so the checkout's editable finder stays off; the commands run from an empty folder, without
``PYTHONPATH``, and the test first checks that they import iqabench from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What the wheel is built from (copied, so that the build leaves nothing in the checkout).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "iqabench", "jobs", "orchestrator", "metrics", "datasets_io")

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wheel")
    # Without PYTHONPATH: pip must not take a checkout on the path for the package already installed.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("MLFLOW_TRACKING_URI", None)  # each run's own SQLite store
    source = root / "src"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(root / "dist"), str(source)], check=True, timeout=600, env=env, cwd=root)
    (wheel,) = (root / "dist").glob("iqabench-*.whl")
    venv = root / "venv"
    subprocess.run([Path(sys.base_prefix) / "bin" / "python3", "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=300, env=env)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "borrowed-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                    str(wheel)], check=True, timeout=300, env=env, cwd=root)
    assert (venv / "bin" / "iqabench").is_file(), "pip did not install the wheel's entry point"
    cwd = root / "cwd"
    cwd.mkdir()
    return {"bin": venv / "bin", "cwd": cwd, "env": env, "root": root, "purelib": purelib}


def _run(wheel_env: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([str(wheel_env["bin"] / args[0]), *args[1:]], cwd=wheel_env["cwd"], env=wheel_env["env"],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_wheel_is_what_runs(wheel_env):
    code = ("import iqabench, jobs, orchestrator, metrics, datasets_io; "
            "print(orchestrator.__file__, metrics.__file__, iqabench.__file__, iqabench.list_models(filter='psnr'))")
    out = _run(wheel_env, "python", "-c", code).stdout
    assert out.count(wheel_env["purelib"]) == 3 and str(REPO) not in out and "['psnr']" in out
    from importlib import metadata

    assert _run(wheel_env, "iqabench", "--version").stdout.strip() == f"iqabench {metadata.version('iqabench')}"


def test_light_commands_from_the_wheel(wheel_env):
    assert "metric(s)" in _run(wheel_env, "iqabench", "metrics").stdout
    assert "tid2013" in _run(wheel_env, "iqabench", "datasets", "list").stdout
    _run(wheel_env, "iqabench", "weights", "list")
    report = wheel_env["root"] / "calibration.md"
    out = _run(wheel_env, "iqabench", "calibrate", "-m", "psnr", "ssim", "--out", str(report)).stdout
    assert "2 pass, 0 fail" in out and "| psnr | pass |" in report.read_text()
    # The default report of an installed package goes to the working folder, not into site-packages.
    _run(wheel_env, "iqabench", "-q", "calibrate", "-m", "psnr")
    assert (wheel_env["cwd"] / "calibration.md").is_file()


def test_bench_report_sync_and_efficiency_from_the_wheel(wheel_env):
    out = wheel_env["root"] / "results"
    bench = _run(wheel_env, "iqabench", "bench", "--limit", "4", "--out", str(out))
    for name in ("summary.csv", "benchmark_results.csv", "report.html", "mlflow.db"):
        assert (out / name).is_file(), name
    # A quiet console: none of Ray's INFO lines, and no core-worker error line (large constructor arguments).
    said = bench.stdout + bench.stderr
    assert not [line for line in said.splitlines() if " INFO " in line or "E core_worker" in line
                or "core_worker.cc" in line], said[-3000:]
    _run(wheel_env, "iqabench", "report", "--out", str(out))
    assert "Nothing to sync" in _run(wheel_env, "iqabench", "mlflow-sync", "--out", str(out)).stdout
    efficiency = wheel_env["root"] / "efficiency"
    _run(wheel_env, "iqabench", "efficiency", "-m", "psnr", "--size", "64x48", "--warmup", "0", "--repeats", "1",
         "--batch_sizes", "--out", str(efficiency))
    assert (efficiency / "Efficiency_benchmark.csv").is_file()
