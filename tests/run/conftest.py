"""A small local Ray cluster shared by the orchestrator tests, and tiny datasets built in temp dirs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from datasets_io.demo import ensure_demo


REPO = Path(__file__).resolve().parents[2]
PLUGIN = "tests.run.faulty_metrics"


def plugin_env(markers: Path) -> dict[str, str]:
    """Environment that makes the test-only metrics visible to the driver and every Ray worker."""
    path = os.environ.get("PYTHONPATH", "")
    return {
        "IQABENCH_METRIC_PLUGINS": PLUGIN,
        "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO),
        "IQABENCH_TEST_MARKERS": str(markers),
    }


@pytest.fixture(scope="session")
def markers(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="session")
def ray_cluster(markers):
    import ray

    from metrics.registry import forget

    os.environ.update(plugin_env(markers))
    forget()  # rediscover with the plugin
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    return ensure_demo(tmp_path_factory.mktemp("iqabench-home") / "demo")


def make_fr_dataset(root: Path, demo_root: Path, count: int, corrupt: tuple[int, ...] = ()) -> Path:
    """A pyiqa-layout FR dataset of ``count`` demo pairs under ``root``; rows in ``corrupt`` get garbage bytes."""
    (root / "dist").mkdir(parents=True)
    (root / "ref").mkdir()
    lines = ["ref_name,dist_name,mos"]
    meta = (demo_root / "meta_info_demo.csv").read_text().splitlines()[1 : count + 1]
    for i, line in enumerate(meta):
        ref_name, dist_name, mos = line.split(",")
        shutil.copy(demo_root / "ref" / ref_name, root / "ref" / ref_name)
        if i in corrupt:
            (root / "dist" / dist_name).write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
        else:
            shutil.copy(demo_root / "dist" / dist_name, root / "dist" / dist_name)
        lines.append(f"{ref_name},{dist_name},{mos}")
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    return root


def write_data_opt(path: Path, entries: dict[str, dict]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(entries))
    return path
