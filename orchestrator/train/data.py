"""What each worker trains on: a deterministic order of manifest rows, read, decoded and augmented through Ray Data.

The order depends only on the seed: epoch ``e`` is the permutation ``default_rng([seed, e])`` of the rows (or
the rows in order without shuffling), and the epochs are concatenated; iteration ``i`` takes the next
``workers × batch`` positions, worker ``r`` the ``r``-th slice of ``batch`` of them. Each item's augmentation
draws from ``default_rng([seed, i, position])``. So a training resumed at iteration ``i`` sees exactly the images
and crops an uninterrupted one sees, whichever worker process reads them and in whatever order Ray runs the reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from datasets_io.decode import read_image, resize_shorter_side
from orchestrator.train.options import DISTRIBUTION_COLUMN, Augment, DataOptions


@dataclass(frozen=True)
class Slice:
    """The rows one worker reads for iterations ``start``..``stop - 1`` (``batch`` per iteration, in order)."""

    rows: np.ndarray  # (iterations × batch) row indices of the manifest
    seeds: np.ndarray  # (iterations × batch, 3) augmentation seeds


def worker_slice(num_rows: int, seed: int, shuffle: bool, batch: int, workers: int, rank: int, start: int,
                 stop: int) -> Slice:
    per_iteration = batch * workers
    first, last = start * per_iteration, stop * per_iteration  # global positions [first, last)
    epochs = range(first // num_rows, (last - 1) // num_rows + 1) if last > first else range(0)
    order = np.concatenate([np.random.default_rng([seed, e]).permutation(num_rows) if shuffle
                            else np.arange(num_rows) for e in epochs]) if epochs else np.zeros(0, np.int64)
    offset = epochs.start * num_rows if epochs else 0
    rows, seeds = [], []
    for iteration in range(start, stop):
        base = iteration * per_iteration + rank * batch
        for position in range(base, base + batch):
            rows.append(order[position - offset])
            seeds.append((seed, iteration, position))
    return Slice(np.asarray(rows, dtype=np.int64), np.asarray(seeds, dtype=np.int64).reshape(-1, 3))


def resize(image: np.ndarray, size: tuple[int, ...] | None) -> np.ndarray:
    """Shorter side to ``size[0]`` (one value) or exactly ``size`` = (height, width), bicubic."""
    if size is None:
        return image
    if len(size) == 1:
        return resize_shorter_side(image, size[0])
    if image.shape[:2] == tuple(size):
        return image
    resized = Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.uint8)


def augment(images: list[np.ndarray], augmentation: Augment, seed: tuple[int, ...]) -> list[np.ndarray]:
    """Resize, random crop and flip (the same crop and flip for an image and its reference)."""
    rng = np.random.default_rng(list(seed))
    images = [resize(image, augmentation.resize) for image in images]
    if augmentation.random_crop is not None:
        crop_h, crop_w = augmentation.random_crop
        h, w = images[0].shape[:2]
        top, left = int(rng.integers(0, h - crop_h + 1)), int(rng.integers(0, w - crop_w + 1))
        images = [image[top:top + crop_h, left:left + crop_w] for image in images]
    if augmentation.hflip and rng.random() < 0.5:
        images = [image[:, ::-1] for image in images]
    return [np.ascontiguousarray(image) for image in images]


def load_batch(batch: dict[str, np.ndarray], augmentation: Augment) -> dict[str, np.ndarray]:
    """Ray Data ``map_batches`` function: paths, MOS (and vote counts) and seeds → augmented uint8 images
    (N×H×W×3), MOS (and the vote distributions, normalised to sum 1)."""
    dist, ref = [], []
    for path, ref_path, seed in zip(batch["dist_path"], batch["ref_path"], batch["seed"]):
        paths = [path] + ([ref_path] if ref_path else [])
        images = augment([read_image(p) for p in paths], augmentation, tuple(int(s) for s in seed))
        dist.append(images[0])
        if len(images) > 1:
            ref.append(images[1])
    out = {"dist": np.stack(dist), "mos": np.asarray(batch["mos"], dtype=np.float32)}
    if DISTRIBUTION_COLUMN in batch:
        votes = np.stack([np.asarray(v, dtype=np.float64) for v in batch[DISTRIBUTION_COLUMN]])
        out[DISTRIBUTION_COLUMN] = (votes / votes.sum(axis=1, keepdims=True)).astype(np.float32)
    if ref:
        out["ref"] = np.stack(ref)
    return out


def train_batches(data: DataOptions, seed: int, workers: int, rank: int, start: int, stop: int
                  ) -> Iterator[dict[str, np.ndarray]]:
    """The batches of iterations ``start``..``stop - 1`` for worker ``rank``, through a Ray Data pipeline that reads
    and augments ahead of the training step, in order."""
    import ray.data

    assert data.manifest is not None
    part = worker_slice(data.manifest.num_rows, seed, data.shuffle, data.batch_size, workers, rank, start, stop)
    if part.rows.size == 0:
        return iter(())
    table = data.manifest.table
    dist, ref, mos = table["dist_path"].to_pylist(), table["ref_path"].to_pylist(), table["mos"].to_pylist()
    votes = table[DISTRIBUTION_COLUMN].to_pylist() if DISTRIBUTION_COLUMN in table.column_names else None
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    items = ray.data.from_items(
        [{"dist_path": dist[r], "ref_path": ref[r] or "", "mos": mos[r], "seed": s.tolist()}
         | ({DISTRIBUTION_COLUMN: votes[r]} if votes is not None else {})
         for r, s in zip(part.rows.tolist(), part.seeds)],
        override_num_blocks=max(1, min(stop - start, 64)),
    )
    loaded = items.map_batches(load_batch, fn_kwargs={"augmentation": data.augment}, batch_size=data.batch_size,
                               batch_format="numpy")
    return loaded.iter_batches(batch_size=data.batch_size, batch_format="numpy", prefetch_batches=2,
                               drop_last=False)


def validation_images(data: DataOptions) -> Iterator[tuple[int, np.ndarray, np.ndarray | None, float]]:
    """(row, image, reference or None, MOS) of every validation row, resized as the options say (no crop)."""
    assert data.manifest is not None
    table = data.manifest.table
    for row, (dist, ref, mos) in enumerate(zip(table["dist_path"].to_pylist(), table["ref_path"].to_pylist(),
                                               table["mos"].to_pylist())):
        image = resize(read_image(dist), data.augment.resize)
        reference = resize(read_image(ref), data.augment.resize) if ref is not None else None
        yield row, image, reference, float(mos)


def to_tensor(images: np.ndarray, device: Any) -> Any:
    """uint8 N×H×W×3 → float32 N×3×H×W in [0, 1] on ``device``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 255.0
