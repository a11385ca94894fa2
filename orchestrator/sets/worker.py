"""What extracts the features of a shard of a set: decode, resize, run the metric's network. The same class runs
as a Ray actor (one per shard worker, its network loaded once) and in-process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from datasets_io.decode import ImageDecodeError, read_image


@dataclass
class ShardFeatures:
    """Features of a shard's images that decoded, in order, and the images that did not (path, reason)."""

    features: np.ndarray
    failures: list[tuple[str, str]] = field(default_factory=list)


class SetFeatureWorker:
    """Holds one :class:`metrics.distribution.extractor.FeatureExtractor`; also accumulates feature moments."""

    def __init__(self, metric: str, mode: str | None = None, device: str = "cpu", batch_size: int = 8,
                 num_threads: int | None = None) -> None:
        import torch

        from metrics.distribution.extractor import FeatureExtractor

        if num_threads:
            torch.set_num_threads(num_threads)
        self.extractor = FeatureExtractor(metric, mode=mode, device=device, batch_size=batch_size)
        self._moments = None

    def weight_sha256(self) -> dict[str, str]:
        return dict(self.extractor.weight_sha256)

    def features(self, paths: Sequence[str]) -> ShardFeatures:
        images, failures = [], []
        for path in paths:
            try:
                images.append(read_image(path))
            except ImageDecodeError as exc:
                failures.append((str(path), f"decode: {exc.reason}"))
        return ShardFeatures(self.extractor.extract(images), failures)

    def accumulate(self, paths: Sequence[str]) -> list[tuple[str, str]]:
        """Add the features of ``paths`` to this worker's moments; returns the images that failed."""
        from metrics.distribution.reduce import FeatureMoments

        shard = self.features(paths)
        moments = FeatureMoments.of(shard.features)
        self._moments = moments if self._moments is None else self._moments.merge(moments)
        return shard.failures

    def take_moments(self):
        """The moments accumulated since the last call (None when nothing was added), and start afresh."""
        moments, self._moments = self._moments, None
        return moments
