"""Fixtures for the deep-metric tests: caches seeded with random weights, nothing downloaded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from random_weights import SeededCaches  # noqa: E402


@pytest.fixture(autouse=True)
def deep_env(seeded_weight_caches: SeededCaches, monkeypatch: pytest.MonkeyPatch) -> SeededCaches:
    """Offline, caches pointing at the seeded session folders, random (unverifiable) weights accepted."""
    monkeypatch.setenv("TORCH_HOME", str(seeded_weight_caches.torch_home))
    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(seeded_weight_caches.hf_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("IQABENCH_WEIGHTS_UNVERIFIED", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a closed port: nothing leaves the machine
    for name in ("IQABENCH_WEIGHTS_REPO", "IQABENCH_WEIGHTS_REVISION", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return seeded_weight_caches
