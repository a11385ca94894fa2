"""Precomputed dataset statistics (mean ``mu`` and covariance ``sigma`` of the features of a reference dataset).

Named as clean-fid names them, ``{name}_{mode}_{split}_{res}.npz`` in lower case (``res`` is ``na`` for the
``custom`` split), e.g. ``ffhq_clean_trainval70k_512.npz``. Found, in order:

1. a path to an ``.npz`` file given instead of a name;
2. pyiqa's download folder ``$TORCH_HOME/hub/pyiqa`` (a pyiqa user's copies);
3. the weight store: pyiqa's Hugging Face repo holds ``ffhq_clean_trainval70k_512.npz``; every other file is
   clean-fid's (https://www.cs.cmu.edu/~clean-fid/stats/), downloaded into ``$TORCH_HOME/hub/checkpoints``.

Files are read with ``numpy.load(allow_pickle=False)``; their sha256 is recorded at first use by the weight store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from metrics.deep import weights
from metrics.deep.weights import WeightFile
from metrics.distribution.reduce import FeatureMoments

CLEAN_FID_STATS_URL = "https://www.cs.cmu.edu/~clean-fid/stats"
#: Statistics files that pyiqa serves from its own Hugging Face weight repo instead of clean-fid's site.
PYIQA_HOSTED = ("ffhq_clean_trainval70k_512.npz", "ffhq_clean_trainval70k_512_kid.npz")


@dataclass(frozen=True)
class DatasetStatistics:
    mu: np.ndarray
    sigma: np.ndarray
    source: str  # the file they were read from


def statistics_filename(name: str, mode: str, split: str, res: int | str) -> str:
    """clean-fid's name of a statistics file."""
    return f"{name}_{mode}_{split}_{'na' if split == 'custom' else res}.npz".lower()


def statistics_file(filename: str) -> WeightFile:
    """Where the weight store fetches a statistics file from."""
    if filename in PYIQA_HOSTED:
        return WeightFile(filename)
    return WeightFile(filename, source="torchvision", url=f"{CLEAN_FID_STATS_URL}/{filename}")


def locate_statistics(name_or_path: str, mode: str = "clean", split: str = "train", res: int | str = 1024) -> Path:
    """The local path of a statistics file (a path given as such, pyiqa's copy, or the weight store's)."""
    given = Path(name_or_path)
    if given.suffix == ".npz":
        if not given.is_file():
            raise FileNotFoundError(f"dataset statistics file {given} does not exist")
        return given
    filename = statistics_filename(name_or_path, mode, split, res)
    pyiqa_copy = Path(torch.hub.get_dir()) / "pyiqa" / filename
    if pyiqa_copy.is_file():
        return pyiqa_copy
    wf = statistics_file(filename)
    path = weights.fetch(wf)
    weights.verify(wf, path)
    return path


def load_statistics(name_or_path: str, mode: str = "clean", split: str = "train",
                    res: int | str = 1024) -> DatasetStatistics:
    """``mu`` and ``sigma`` of a dataset statistics file, checked for their shapes."""
    path = locate_statistics(name_or_path, mode, split, res)
    with np.load(path, allow_pickle=False) as data:
        if "mu" not in data or "sigma" not in data:
            raise ValueError(f"dataset statistics file {path} holds {sorted(data.files)}, not 'mu' and 'sigma'")
        mu, sigma = np.asarray(data["mu"], dtype=np.float64), np.asarray(data["sigma"], dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"dataset statistics file {path}: mu {mu.shape} and sigma {sigma.shape} do not fit")
    return DatasetStatistics(mu=mu, sigma=sigma, source=str(path))


def save_statistics(path: str | Path, moments: FeatureMoments) -> Path:
    """Write the mean and covariance of a feature set as a statistics file (``mu``, ``sigma``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as handle:
        np.savez(handle, mu=moments.mean(), sigma=moments.covariance())
    return target
