"""Tiny made-up training datasets (noise textures whose MOS falls with the noise) and one small Ray cluster."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _noisy_flat_images(folder: Path, count: int, size: tuple[int, int], seed: int) -> list[tuple[str, float]]:
    """``count`` flat colours plus Gaussian noise that falls with the index, as PNG files; (name, quality in 0..1)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        quality = i / (count - 1)
        noise = rng.normal(0, 80 * (1 - quality), (*size, 3))
        image = np.clip(rng.random((1, 1, 3)) * 255 + noise, 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"{i:02d}.png")
        images.append((f"{i:02d}.png", quality))
    return images


def make_nr_dataset(root: Path, count: int = 16, size: tuple[int, int] = (40, 48), seed: int = 0) -> Path:
    """``count`` flat colours plus Gaussian noise; the MOS (1..5) is highest for the least noise."""
    lines = ["dist_name,mos"] + [f"{name},{1 + 4 * quality:.3f}"
                                 for name, quality in _noisy_flat_images(root / "img", count, size, seed)]
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_nr(tmp_path_factory) -> Path:
    """A dataset option file naming one tiny NR dataset, ``tiny``."""
    root = make_nr_dataset(tmp_path_factory.mktemp("tiny-nr"))
    return _data_opt(root, "tiny", {"type": "GeneralNRDataset", "dataroot_target": str(root / "img")})


def make_ava_dataset(root: Path, count: int = 16, size: tuple[int, int] = (40, 48), seed: int = 0) -> Path:
    """AVA's layout: the images of :func:`make_nr_dataset`, each with ten vote counts (ratings 1..10) peaked at
    a rating that rises as the noise falls; the meta-info's MOS column is their mean, as AVA's."""
    ratings = np.arange(1, 11)
    lines = ["img_name,mos," + ",".join(f"count_{k}" for k in ratings)]
    for name, quality in _noisy_flat_images(root / "img", count, size, seed):
        votes = np.round(40 * np.exp(-0.5 * (ratings - (4 + 2 * quality)) ** 2)).astype(int)
        lines.append(f"{name},{votes @ ratings / votes.sum():.4f}," + ",".join(map(str, votes)))
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_ava(tmp_path_factory) -> Path:
    """A dataset option file naming one tiny AVA-like dataset (vote counts), ``tiny_ava``."""
    root = make_ava_dataset(tmp_path_factory.mktemp("tiny-ava"))
    return _data_opt(root, "tiny_ava", {"type": "AVADataset", "dataroot_target": str(root / "img")})


def _data_opt(root: Path, key: str, entry: dict[str, str]) -> Path:
    """``root/data_opt.yml`` naming the dataset ``key`` (``entry`` plus its ``root/meta.csv``)."""
    data_opt = root / "data_opt.yml"
    data_opt.write_text(yaml.safe_dump({key: {**entry, "meta_info_file": str(root / "meta.csv")}}))
    return data_opt


def make_fr_dataset(root: Path, references: int = 4, levels: int = 4, size: tuple[int, int] = (40, 48),
                    seed: int = 0) -> Path:
    """``references`` smooth colour ramps, each distorted by Gaussian noise at ``levels`` strengths; the MOS
    (1..5) falls with the noise."""
    (root / "ref").mkdir(parents=True)
    (root / "dist").mkdir()
    rng = np.random.default_rng(seed)
    lines = ["ref_name,dist_name,mos"]
    ramp = np.linspace(0, 1, size[1])[None, :, None]
    for r in range(references):
        reference = np.clip(rng.random((1, 1, 3)) * 155 + 100 * ramp * rng.random((1, 1, 3)), 0, 255)
        Image.fromarray(np.broadcast_to(reference, (*size, 3)).astype(np.uint8)).save(root / "ref" / f"r{r}.png")
        for level in range(levels):
            noise = rng.normal(0, 25 * level, (*size, 3))
            distorted = np.clip(reference + noise, 0, 255).astype(np.uint8)
            Image.fromarray(distorted).save(root / "dist" / f"r{r}_{level}.png")
            lines.append(f"r{r}.png,r{r}_{level}.png,{5 - 4 * level / (levels - 1):.3f}")
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_fr(tmp_path_factory) -> Path:
    """A dataset option file naming one tiny FR dataset, ``tiny_fr``."""
    root = make_fr_dataset(tmp_path_factory.mktemp("tiny-fr"))
    return _data_opt(root, "tiny_fr", {"type": "GeneralFRDataset", "dataroot_target": str(root / "dist"),
                                       "dataroot_ref": str(root / "ref")})


def write_options(path: Path, **entries) -> Path:
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def train_cluster():
    """A 4-CPU local Ray cluster (2 training workers and their data reads) shared by a module's trainings."""
    import ray

    from orchestrator.run.ray_session import start_ray

    path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = f"{REPO}{os.pathsep}{path}" if path else str(REPO)
    # A smaller in-process session left by other test folders (2 CPUs, session-scoped) would leave Ray Data no CPU
    # beside the two training workers: trainings here get their own 4-CPU cluster, and the session comes back after.
    previous_cpus = ray.cluster_resources().get("CPU") if ray.is_initialized() else None
    if previous_cpus is not None:
        ray.shutdown()
    try:
        with start_ray(None, num_cpus=4):
            yield
    finally:
        if previous_cpus is not None:
            ray.init(num_cpus=int(previous_cpus), include_dashboard=False, log_to_driver=False)
