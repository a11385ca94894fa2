"""Fixtures of the distribution-metric tests: caches seeded with random weights (nothing downloaded) and two small
folders of made-up images of assorted sizes (up- and down-sampled to the networks' inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metrics.distribution.specs import DINOV2_FILE, INCEPTION_FILE
from tests._helpers.random_weights import SeededCaches

SIZES_A = [(64, 80), (301, 227), (90, 160), (400, 330)]
SIZES_B = [(70, 70), (200, 150), (333, 301)]


@pytest.fixture(autouse=True)
def distribution_env(seeded_weight_caches: SeededCaches, monkeypatch: pytest.MonkeyPatch) -> SeededCaches:
    """Offline, caches pointing at the seeded session folders, random (unverifiable) weights accepted."""
    seeded_weight_caches.ensure(INCEPTION_FILE, DINOV2_FILE)
    seeded_weight_caches.use_in(monkeypatch)
    return seeded_weight_caches


def _write_folder(folder: Path, sizes: list[tuple[int, int]], rng: np.random.Generator, contrast: float) -> Path:
    folder.mkdir(parents=True)
    for i, (h, w) in enumerate(sizes):
        tint = rng.integers(0, 256, (1, 1, 3)) * 0.5
        texture = rng.integers(0, 128, (h, w, 3)) * contrast
        Image.fromarray((tint + texture).clip(0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture(scope="session")
def image_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Folders ``a`` (4 images) and ``b`` (3 images, lower contrast) of made-up PNGs."""
    root = tmp_path_factory.mktemp("image-sets")
    rng = np.random.default_rng(0)
    return _write_folder(root / "a", SIZES_A, rng, 1.0), _write_folder(root / "b", SIZES_B, rng, 0.6)
