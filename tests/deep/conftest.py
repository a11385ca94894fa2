"""Fixtures for the deep-metric tests: caches seeded with random weights, nothing downloaded."""

from __future__ import annotations

import pytest

from tests._helpers.random_weights import SeededCaches


@pytest.fixture(autouse=True)
def deep_env(seeded_weight_caches: SeededCaches, monkeypatch: pytest.MonkeyPatch) -> SeededCaches:
    """Offline, caches pointing at the seeded session folders, random (unverifiable) weights accepted."""
    seeded_weight_caches.use_in(monkeypatch)
    return seeded_weight_caches
