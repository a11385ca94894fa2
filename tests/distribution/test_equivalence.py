"""The distribution metrics equal pyiqa 0.1.16 on two folders of made-up images under identical random weights.

Compared, per metric: the per-image features (our extractor on our decoded images vs pyiqa's
``get_folder_features`` on the folder: resize mode, input scaling, network and output block), and the final number
(our ``score_sets`` vs pyiqa's metric called on the folders). pyiqa reads the same random weight file as ours.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datasets_io.decode import read_image
from metrics.distribution.extractor import FeatureExtractor
from orchestrator.sets.images import list_images
from orchestrator.sets.score import score_sets

RTOL = 1e-4


@pytest.fixture()
def pyiqa(distribution_env):
    """pyiqa, imported only once the caches are set (it fixes its download folder at import)."""
    return pytest.importorskip("pyiqa")


def relative_difference(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / abs(theirs)


def assert_same_features(ours: np.ndarray, theirs: np.ndarray, label: str) -> None:
    assert ours.shape == theirs.shape, label
    assert np.isfinite(ours).all(), label
    assert (ours.std(axis=0) > 0).any(), f"{label}: every image has the same features"
    worst = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    assert worst <= RTOL, f"{label}: features differ by {worst:.2e} of their largest value"


@pytest.mark.parametrize(("metric", "modes"), [
    ("fid", ("clean", "legacy_pytorch", "legacy_tensorflow")),
    ("sfid", ("clean",)),
    ("inception_score", ("legacy_tensorflow",)),
])
def test_inception_features_equal_pyiqa(metric, modes, image_sets, pyiqa):
    from pyiqa.archs import fid_arch

    folder = image_sets[0]
    reference = pyiqa.create_metric(metric, device="cpu").net.model
    images = [read_image(path) for path in list_images(folder)]
    for mode in modes:
        theirs = fid_arch.get_folder_features(str(folder), reference, num_workers=0, batch_size=8,
                                              device=torch.device("cpu"), mode=mode, verbose=False)
        ours = FeatureExtractor(metric, mode=mode).extract(images)
        assert_same_features(ours, theirs, f"{metric} {mode}")


@pytest.mark.parametrize(("metric", "options"), [
    ("fid", {}),
    ("sfid", {}),
    ("fid", {"distance": "mmd", "kernel": "polynomial", "mode": "legacy_pytorch"}),
    ("fid", {"distance": "mmd", "kernel": "rbf", "mode": "legacy_tensorflow"}),
])
def test_set_distances_equal_pyiqa(metric, options, image_sets, pyiqa):
    folder_a, folder_b = image_sets
    pyiqa_options = {("distance_type" if key == "distance" else "kernel_type" if key == "kernel" else key): value
                     for key, value in options.items()}
    np.random.seed(5)  # KID's subsets: pyiqa draws from the global generator, ours from RandomState(seed)
    theirs = float(pyiqa.create_metric(metric, device="cpu")(str(folder_a), str(folder_b), num_workers=0,
                                                             verbose=False, **pyiqa_options))
    ours = score_sets(metric, folder_a, folder_b, seed=5, **options)
    assert ours.images == 4 and ours.reference_images == 3 and not ours.failures
    assert np.isfinite(ours.value) and abs(theirs) > 1e-3
    assert relative_difference(ours.value, theirs) <= RTOL, (metric, options, ours.value, theirs)


def test_inception_score_equals_pyiqa(image_sets, pyiqa):
    folder = image_sets[0]
    theirs = pyiqa.create_metric("inception_score", device="cpu")(str(folder), splits=2, num_workers=0,
                                                                  batch_size=8, verbose=False)
    ours = score_sets("inception_score", folder, splits=2)
    assert ours.mode == "legacy_tensorflow" and ours.images == 4
    assert ours.value > 1.0 and ours.extra["inception_score_std"] > 0  # two groups (2 + 2 images) that differ
    assert relative_difference(ours.value, theirs["inception_score_mean"]) <= RTOL
    assert relative_difference(ours.extra["inception_score_std"], theirs["inception_score_std"]) <= 1e-3
