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
    seeded_weight_caches.use_in(monkeypatch)
    return seeded_weight_caches
