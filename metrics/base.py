"""The common face of every metric: a ``torch.nn.Module`` that maps images to one score per image."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from metrics.spec import MetricSpec


def images_to_tensor(images: Sequence[np.ndarray] | np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """Decoded uint8 H×W×3 images (all of one size) → the float32 N×3×H×W tensor in [0, 1] a metric scores.

    The one conversion from decoded pixels to a metric's input: the benchmark's actors and the Python API both
    use it, so that a path scores the same wherever it is scored. The uint8 pixels travel to ``device`` before
    they are widened (a quarter of the bytes).
    """
    stacked = images if isinstance(images, np.ndarray) else np.stack(list(images))
    return torch.from_numpy(stacked).to(device).permute(0, 3, 1, 2).float().div_(255.0)


class MetricInputError(ValueError):
    """The images handed to a metric are not usable (shape, dtype, range, NaN, too small)."""


class IQAMetric(nn.Module):
    """Base class. Subclasses implement :meth:`score` on validated float32 N×3×H×W tensors in [0, 1].

    ``forward(dist)`` for no-reference metrics, ``forward(dist, ref)`` for full-reference ones; both return a
    float tensor of N scores on the input's device.
    """

    #: Set by :func:`metrics.create`.
    spec: MetricSpec
    options: dict[str, Any]

    #: Smallest height/width the metric accepts (multi-scale metrics raise it).
    min_size: int = 1

    def forward(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        mode = getattr(getattr(self, "spec", None), "mode", None)
        self._check(dist, "dist")
        if mode == "FR" or (mode is None and ref is not None):
            if ref is None:
                raise MetricInputError(f"{self._name()} is full-reference: a reference image is required")
            self._check(ref, "ref")
            if ref.shape != dist.shape:
                raise MetricInputError(
                    f"{self._name()}: reference shape {tuple(ref.shape)} differs from distorted {tuple(dist.shape)}"
                )
            return self.score(dist, ref)
        return self.score(dist)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _name(self) -> str:
        return getattr(getattr(self, "spec", None), "name", type(self).__name__)

    def _check(self, x: torch.Tensor, what: str) -> None:
        if not isinstance(x, torch.Tensor):
            raise MetricInputError(f"{self._name()}: {what} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise MetricInputError(f"{self._name()}: {what} must be N×3×H×W, got shape {tuple(x.shape)}")
        if x.dtype != torch.float32:
            raise MetricInputError(f"{self._name()}: {what} must be float32, got {x.dtype}")
        if x.shape[0] == 0:
            raise MetricInputError(f"{self._name()}: {what} is an empty batch")
        # One pass (min and max propagate NaN), on a view that is contiguous for channels-last input too.
        flat = x.permute(0, 2, 3, 1) if x.is_contiguous(memory_format=torch.channels_last) else x
        lo_t, hi_t = torch.aminmax(flat.detach())
        if torch.isnan(lo_t) or torch.isnan(hi_t):
            raise MetricInputError(f"{self._name()}: {what} contains NaN")
        lo, hi = float(lo_t), float(hi_t)
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise MetricInputError(f"{self._name()}: {what} values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
        if min(x.shape[-2:]) < self.min_size:
            raise MetricInputError(
                f"{self._name()}: {what} is {x.shape[-2]}×{x.shape[-1]}, smaller than the metric's minimum "
                f"{self.min_size}×{self.min_size}"
            )
