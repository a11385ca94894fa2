"""Scoring sets: a sharded computation (2 Ray actors) equals the single-process one; set vs a dataset-statistics
file equals set vs set and pyiqa's statistics path; bad requests are refused in one line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from metrics.distribution.statistics import (
    load_statistics,
    save_statistics,
    statistics_filename,
)
from orchestrator.sets.images import list_images
from orchestrator.sets.score import score_sets
from orchestrator.sets.worker import SetFeatureWorker

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_two_cpus():
    import ray

    if ray.is_initialized():
        yield ray
        return
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), previous]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


def test_two_actors_give_the_single_process_scores(image_sets, ray_two_cpus):
    folder_a, folder_b = image_sets
    # the same batches and one thread, as each actor: then the features are the actors' to the last bit, and the
    # scores differ only by the order in which float64 sums were added
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = score_sets("fid", folder_a, folder_b, block_size=2)
        single_is = score_sets("inception_score", folder_a, splits=2, block_size=2)
    finally:
        torch.set_num_threads(threads)
    seen = []
    sharded = score_sets("fid", folder_a, folder_b, num_actors=2, block_size=2,
                         progress=lambda done, total: seen.append((done, total)))
    assert single.value > 0 and sharded.images == single.images == 4 and sharded.reference_images == 3
    assert abs(sharded.value - single.value) <= 1e-10 * single.value, (sharded.value, single.value)
    assert seen[-1] == (7, 7) and len(seen) == 4  # blocks of 2: 2 of set a, 2 of set b
    assert sharded.weight_sha256 == single.weight_sha256 and len(single.weight_sha256) == 1

    sharded_is = score_sets("inception_score", folder_a, splits=2, num_actors=2, block_size=2)
    assert single_is.value > 1.0
    assert abs(sharded_is.value - single_is.value) <= 1e-9 * single_is.value
    assert abs(sharded_is.extra["inception_score_std"] - single_is.extra["inception_score_std"]) <= 1e-9


def test_statistics_file_equals_the_set_and_pyiqa(image_sets, distribution_env):
    folder_a, folder_b = image_sets
    worker = SetFeatureWorker("fid")
    worker.accumulate(list_images(folder_b))
    # where pyiqa (and we) look for a user's statistics: $TORCH_HOME/hub/pyiqa/{name}_{mode}_{split}_{res}.npz
    filename = statistics_filename("madeup", "clean", "train", 64)
    stats_path = save_statistics(Path(torch.hub.get_dir()) / "pyiqa" / filename, worker.take_moments())
    try:
        by_set = score_sets("fid", folder_a, folder_b)
        by_name = score_sets("fid", folder_a, dataset_stats="madeup", dataset_res=64)
        assert by_name.reference_statistics == load_statistics(str(stats_path)).source == str(stats_path)
        assert abs(by_name.value - by_set.value) <= 1e-9 * by_set.value

        pyiqa = pytest.importorskip("pyiqa")
        theirs = float(pyiqa.create_metric("fid", device="cpu")(str(folder_a), dataset_name="madeup", dataset_res=64,
                                                                dataset_split="train", num_workers=0, verbose=False))
        assert abs(by_name.value - theirs) <= 1e-4 * theirs, (by_name.value, theirs)
    finally:
        stats_path.unlink()


def test_bad_statistics_and_requests_are_refused(image_sets, tmp_path):
    folder_a, folder_b = image_sets
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, mean=np.zeros(3))
    with pytest.raises(ValueError, match=r"wrong.npz holds \['mean'\], not 'mu' and 'sigma'"):
        load_statistics(str(wrong))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_statistics(str(tmp_path / "absent.npz"))
    with pytest.raises(ValueError, match="either a reference set or dataset statistics"):
        score_sets("fid", folder_a)
    with pytest.raises(ValueError, match="scores one set alone"):
        score_sets("inception_score", folder_a, folder_b)
    with pytest.raises(ValueError, match="only distance='frechet'"):
        score_sets("fid", folder_a, dataset_stats=str(wrong), distance="mmd")
    with pytest.raises(ValueError, match="resize mode must be one of"):
        score_sets("fid", folder_a, folder_b, mode="bicubic")
    with pytest.raises(KeyError, match="unknown distribution metric 'psnr'"):
        score_sets("psnr", folder_a, folder_b)
    with pytest.raises(FileNotFoundError, match="holds no image files"):
        score_sets("fid", tmp_path, folder_b)
