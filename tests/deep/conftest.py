"""Fixtures for the deep-metric tests: caches seeded with random weights, nothing downloaded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import random_weights  # noqa: E402


class SeededCaches:
    """A torch hub home and a weights cache for the session; files are written on first request."""

    def __init__(self, root: Path) -> None:
        self.torch_home = root / "torch"
        self.hf_cache = root / "hf"
        self.written: dict[str, bytes] = {}

    def ensure(self, *names: str) -> None:
        todo = [n for n in names if n not in self.written]
        self.written.update(random_weights.seed(todo, self.torch_home, self.hf_cache))


@pytest.fixture(scope="session")
def seeded_caches(tmp_path_factory: pytest.TempPathFactory) -> SeededCaches:
    return SeededCaches(tmp_path_factory.mktemp("deep-weights"))


@pytest.fixture(autouse=True)
def deep_env(seeded_caches: SeededCaches, monkeypatch: pytest.MonkeyPatch) -> SeededCaches:
    """Offline, caches pointing at the seeded session folders, random (unverifiable) weights accepted."""
    monkeypatch.setenv("TORCH_HOME", str(seeded_caches.torch_home))
    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(seeded_caches.hf_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("IQABENCH_WEIGHTS_UNVERIFIED", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a closed port: nothing leaves the machine
    for name in ("IQABENCH_WEIGHTS_REPO", "IQABENCH_WEIGHTS_REVISION", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return seeded_caches
