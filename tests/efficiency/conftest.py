"""Fixtures of the efficiency tests: tiny generated images and one Ray cluster for this package's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.efficiency.images import efficiency_pairs

#: Small enough to keep the tests cheap; the job's default is 1080×800.
TINY = (64, 48)


@pytest.fixture(scope="session")
def tiny_pairs(tmp_path_factory) -> list[tuple[Path, Path]]:
    return efficiency_pairs(tmp_path_factory.mktemp("efficiency-images"), TINY)


@pytest.fixture(scope="module")
def efficiency_ray():
    """A 2-CPU local Ray cluster for this module (reused when one is already up), shut down after it."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
