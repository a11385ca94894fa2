"""Shared fixtures: calibration pairs and official values, a tiny image generator, the seeded weight cache."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from datasets_io.decode import read_image
from metrics.calibration import CALIBRATION_IMAGES

DATA = Path(__file__).parent / "data"
PAIRS = DATA / "tid2013_pairs"


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255.0


@pytest.fixture(scope="session")
def tid_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """(distorted, reference) float32 5×3×384×512 tensors of the five TID2013 calibration pairs."""
    dist = torch.cat([to_tensor(read_image(PAIRS / "dist" / name)) for name in CALIBRATION_IMAGES])
    ref = torch.cat([to_tensor(read_image(PAIRS / "ref" / name)) for name in CALIBRATION_IMAGES])
    return dist, ref


@pytest.fixture(scope="session")
def official_scores() -> pd.DataFrame:
    """The official implementations' scores: one row per metric, one column per calibration image."""
    return pd.read_csv(DATA / "official_scores.csv", index_col=0)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def seeded_weight_caches(tmp_path_factory: pytest.TempPathFactory):
    """The session's one cache of random weight files (tests/_helpers/random_weights.py), written on first request.

    Shared by every test that loads deep-metric weights, and removed when the session ends: the full set is
    about 2 GB, so it must not be written more than once nor be left behind on a CI disk.
    """
    from tests._helpers.random_weights import SeededCaches

    caches = SeededCaches(tmp_path_factory.mktemp("seeded-weights"))
    yield caches
    shutil.rmtree(caches.root, ignore_errors=True)


@pytest.fixture(scope="session")
def top_level_modules_loaded_by():
    """A function: which of ``roots`` (top-level package names) a fresh Python has loaded after running ``code``."""

    def probe(code: str, roots: tuple[str, ...]) -> list[str]:
        script = (f"import json, sys\n{code}\n"
                  f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(roots)!r})))")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    return probe
