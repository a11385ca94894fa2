"""``score_sets``: a distribution metric on a set of images, against another set or dataset statistics.

The features are extracted per image — in-process (``num_actors=0``) or by a pool of Ray actors, each loading
the network once and taking blocks of images as they become free — and reduced on the driver:

* the Fréchet distances (``fid``, ``sfid``, ``fid_dinov2``): each actor accumulates float64 moment sums of the
  blocks it took; the driver adds them (:class:`metrics.distribution.reduce.FeatureMoments`), so any sharding
  gives the single-process mean and covariance (to float64 rounding);
* the MMDs (KID, RBF) and the Inception Score: the features themselves, put back in the set's order (the
  Inception Score's splits are consecutive images).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metrics.distribution.reduce import (
    FeatureMoments,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    rbf_mmd,
)
from metrics.distribution.specs import DISTANCES, KERNELS, get_distribution_spec
from metrics.distribution.statistics import load_statistics
from orchestrator.sets.images import list_images
from orchestrator.sets.worker import SetFeatureWorker, ShardFeatures

#: Images per block handed to an actor.
BLOCK_SIZE = 64
#: Environment variables that tell a worker where the weights are (and whether it may download): the driver's
#: values are given to the actors.
WEIGHT_ENV = ("TORCH_HOME", "IQABENCH_WEIGHTS_CACHE", "IQABENCH_WEIGHTS_REPO", "IQABENCH_WEIGHTS_REVISION",
              "IQABENCH_WEIGHTS_UNVERIFIED", "HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE",
              "XDG_CACHE_HOME")

SetSource = str | os.PathLike | Sequence[str | os.PathLike]


@dataclass
class SetScore:
    """The score of a set (``value``), what it was computed from, and the images that could not be read."""

    metric: str
    value: float
    mode: str
    distance: str
    images: int
    reference_images: int | None = None
    reference_statistics: str | None = None
    #: e.g. ``inception_score_std``
    extra: dict[str, float] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    weight_sha256: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtractOptions:
    metric: str
    mode: str
    device: str = "cpu"
    batch_size: int = 8
    num_actors: int = 0
    num_cpus_per_actor: float = 1.0
    num_gpus_per_actor: float = 0.0


class _InProcess:
    """Blocks extracted one after the other by one worker in this process."""

    def __init__(self, options: ExtractOptions) -> None:
        self.worker = SetFeatureWorker(options.metric, options.mode, options.device, options.batch_size)

    def weight_sha256(self) -> dict[str, str]:
        return self.worker.weight_sha256()

    def features(self, blocks: list[list[str]], progress: Callable[[int], None]) -> list[ShardFeatures]:
        done = []
        for block in blocks:
            done.append(self.worker.features(block))
            progress(len(block))
        return done

    def moments(self, blocks: list[list[str]], progress: Callable[[int], None]) -> tuple[list, list]:
        failures = []
        for block in blocks:
            failures += self.worker.accumulate(block)
            progress(len(block))
        return [self.worker.take_moments()], failures


class _ActorPool:
    """Blocks handed to Ray actors as they become free."""

    def __init__(self, options: ExtractOptions) -> None:
        import ray

        env = {key: os.environ[key] for key in WEIGHT_ENV if key in os.environ}
        remote = ray.remote(SetFeatureWorker).options(
            num_cpus=options.num_cpus_per_actor, num_gpus=options.num_gpus_per_actor,
            runtime_env={"env_vars": env} if env else None)
        threads = max(1, int(options.num_cpus_per_actor))
        self.actors = [remote.remote(options.metric, options.mode, options.device, options.batch_size, threads)
                       for _ in range(options.num_actors)]

    def weight_sha256(self) -> dict[str, str]:
        import ray

        return ray.get(self.actors[0].weight_sha256.remote())

    def _run(self, blocks: list[list[str]], method: str, progress: Callable[[int], None]) -> list[Any]:
        import ray

        results: list[Any] = [None] * len(blocks)
        pending: dict[Any, tuple[int, Any]] = {}
        todo = list(enumerate(blocks))
        idle = list(self.actors)
        while todo or pending:
            while todo and idle:
                index, block = todo.pop(0)
                actor = idle.pop(0)
                pending[getattr(actor, method).remote(block)] = (index, actor)
            ready, _ = ray.wait(list(pending), num_returns=1)
            index, actor = pending.pop(ready[0])
            results[index] = ray.get(ready[0])
            idle.append(actor)
            progress(len(blocks[index]))
        return results

    def features(self, blocks: list[list[str]], progress: Callable[[int], None]) -> list[ShardFeatures]:
        return self._run(blocks, "features", progress)

    def moments(self, blocks: list[list[str]], progress: Callable[[int], None]) -> tuple[list, list]:
        import ray

        failures = [f for block_failures in self._run(blocks, "accumulate", progress) for f in block_failures]
        return ray.get([actor.take_moments.remote() for actor in self.actors]), failures


def _blocks(paths: list[str], size: int) -> list[list[str]]:
    return [paths[start:start + size] for start in range(0, len(paths), size)]


def _merge(parts: list[FeatureMoments | None]) -> FeatureMoments:
    present = [part for part in parts if part is not None]
    if not present:
        raise ValueError("no image of the set could be read")
    merged = present[0]
    for part in present[1:]:
        merged = merged.merge(part)
    return merged


def _features(parts: list[ShardFeatures]) -> tuple[np.ndarray, list[tuple[str, str]]]:
    failures = [f for part in parts for f in part.failures]
    arrays = [part.features for part in parts if len(part.features)]
    if not arrays:
        raise ValueError("no image of the set could be read")
    return np.concatenate(arrays), failures


def score_sets(
    metric: str,
    set_a: SetSource,
    set_b: SetSource | None = None,
    *,
    dataset_stats: str | None = None,
    dataset_split: str = "train",
    dataset_res: int | str = 1024,
    mode: str | None = None,
    distance: str = "frechet",
    kernel: str = "polynomial",
    splits: int = 10,
    kid_subsets: int = 100,
    kid_max_subset_size: int = 1000,
    seed: int | None = None,
    num_actors: int = 0,
    ray_address: str | None = None,
    num_cpus_per_actor: float = 1.0,
    num_gpus_per_actor: float = 0.0,
    device: str = "cpu",
    batch_size: int = 8,
    block_size: int = BLOCK_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> SetScore:
    """Score ``set_a`` (a folder or a list of image files) with distribution metric ``metric``.

    ``fid`` / ``sfid`` / ``fid_dinov2``: against ``set_b`` (another set) or ``dataset_stats`` (a statistics file's
    path or clean-fid dataset name, with ``dataset_split`` and ``dataset_res``; Fréchet distance only);
    ``distance='mmd'`` with ``kernel='polynomial'`` is KID (``kid_subsets`` subsets of at most
    ``kid_max_subset_size``, drawn from ``numpy.random.RandomState(seed)``, or the global NumPy generator when
    ``seed`` is None, as pyiqa does) and with ``kernel='rbf'`` the RBF MMD. ``inception_score``: ``set_a`` alone,
    ``splits`` consecutive groups; ``extra['inception_score_std']`` is the spread.

    ``mode`` is the resize mode (pyiqa's default per metric when None). ``num_actors=0`` extracts in this
    process; ``num_actors >= 1`` on that many Ray actors (connecting to ``ray_address``/``RAY_ADDRESS``, or
    starting a private local cluster, unless this process is already connected). ``progress(done, total)`` is
    called after each block.
    """
    spec = get_distribution_spec(metric)
    mode = mode or spec.default_mode
    if distance not in DISTANCES:
        raise ValueError(f"{metric}: distance must be one of {', '.join(DISTANCES)}, got {distance!r}")
    if kernel not in KERNELS:
        raise ValueError(f"{metric}: kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    if spec.reduction == "inception_score":
        if set_b is not None or dataset_stats is not None:
            raise ValueError(f"{metric} scores one set alone: give no reference set nor dataset statistics")
    elif (set_b is None) == (dataset_stats is None):
        raise ValueError(f"{metric} compares two sets: give either a reference set or dataset statistics (one)")
    elif dataset_stats is not None and distance != "frechet":
        raise ValueError(f"{metric}: dataset statistics hold a mean and a covariance, so only distance='frechet'")
    if num_actors < 0:
        raise ValueError(f"num_actors must be >= 0, got {num_actors}")
    paths_a = list_images(set_a)
    paths_b = list_images(set_b) if set_b is not None else []
    total, done = len(paths_a) + len(paths_b), [0]

    def advance(count: int) -> None:
        done[0] += count
        if progress is not None:
            progress(done[0], total)

    options = ExtractOptions(metric, mode, device, batch_size, num_actors, num_cpus_per_actor, num_gpus_per_actor)
    reduction = Reduction(spec.reduction, distance, kernel, splits, kid_subsets, kid_max_subset_size, seed,
                          dataset_stats, dataset_split, dataset_res)
    result = SetScore(metric=metric, value=float("nan"), mode=mode, distance=distance, images=len(paths_a))
    if num_actors == 0:
        _reduce(_InProcess(options), reduction, result, _blocks(paths_a, block_size), _blocks(paths_b, block_size),
                advance)
        return result
    from orchestrator.run.ray_session import start_ray

    with start_ray(ray_address):
        _reduce(_ActorPool(options), reduction, result, _blocks(paths_a, block_size), _blocks(paths_b, block_size),
                advance)
    return result


@dataclass(frozen=True)
class Reduction:
    """How the features become the score (see :func:`score_sets` for each field)."""

    kind: str  # "distance" or "inception_score"
    distance: str
    kernel: str
    splits: int
    kid_subsets: int
    kid_max_subset_size: int
    seed: int | None
    dataset_stats: str | None
    dataset_split: str
    dataset_res: int | str


def _reduce(extract: _InProcess | _ActorPool, how: Reduction, result: SetScore, blocks_a: list[list[str]],
            blocks_b: list[list[str]], advance: Callable[[int], None]) -> None:
    """Extract what the reduction needs and fill ``result`` (value, counts, failures, weights)."""
    result.weight_sha256 = extract.weight_sha256()
    if how.kind == "inception_score":
        logits, result.failures = _features(extract.features(blocks_a, advance))
        result.images = len(logits)
        result.value, std = inception_score(logits, how.splits)
        result.extra["inception_score_std"] = std
        return
    if how.distance == "frechet":
        parts, failures_a = extract.moments(blocks_a, advance)
        moments_a = _merge(parts)
        result.images = moments_a.count
        if how.dataset_stats is not None:
            stats = load_statistics(how.dataset_stats, result.mode, how.dataset_split, how.dataset_res)
            mu_b, sigma_b, result.reference_statistics = stats.mu, stats.sigma, stats.source
            result.failures = failures_a
        else:
            parts, failures_b = extract.moments(blocks_b, advance)
            moments_b = _merge(parts)
            mu_b, sigma_b, result.reference_images = moments_b.mean(), moments_b.covariance(), moments_b.count
            result.failures = failures_a + failures_b
        result.value = frechet_distance(moments_a.mean(), moments_a.covariance(), mu_b, sigma_b)
        return
    features_a, failures_a = _features(extract.features(blocks_a, advance))
    features_b, failures_b = _features(extract.features(blocks_b, advance))
    result.images, result.reference_images = len(features_a), len(features_b)
    result.failures = failures_a + failures_b
    if how.kernel == "polynomial":
        rng = np.random.RandomState(how.seed) if how.seed is not None else None
        result.value = kernel_inception_distance(features_a, features_b, how.kid_subsets, how.kid_max_subset_size,
                                                 rng)
    else:
        result.value = rbf_mmd(features_a, features_b)
