"""What the deep metrics share: weight loading with sha256 bookkeeping, precision and batching options."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from metrics import custom_weights
from metrics.base import IQAMetric
from metrics.deep import weights
from metrics.deep.weights import LoadedWeights, WeightFile, load_module

PRECISIONS = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class DeepMetric(IQAMetric):
    """An :class:`IQAMetric` built from checkpoint files.

    ``weight_sha256`` maps each loaded file's :attr:`WeightFile.name` to its sha256 (part of the metric's cell key);
    ``precision`` ('float32', 'float16', 'bfloat16') runs the network under autocast, scores stay float32.
    """

    def __init__(self, precision: str = "float32") -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        self.weight_sha256: dict[str, str] = {}

    def load_weights(self, wf: WeightFile) -> LoadedWeights:
        """Load ``wf`` (verified), or the user's checkpoint in its place while :mod:`metrics.custom_weights` names
        one (the trained file only: torchvision backbones stay as published)."""
        custom = custom_weights.active()
        if custom is not None and wf.replaceable:
            loaded = custom_weights.load(wf, custom)
        else:
            loaded = weights.load(wf)
        self.weight_sha256[wf.name] = loaded.sha256
        return loaded

    def weight_path(self, wf: WeightFile) -> Path:
        """The verified local path of a published file that is not a state dict (a model repo's config or
        tokenizer), its sha256 recorded like a loaded checkpoint's."""
        path = weights.fetch(wf)
        self.weight_sha256[wf.name], _ = weights.verify(wf, path)
        return path

    def load_backbone(self, build: Callable[..., torch.nn.Module], weights_enum: Any) -> torch.nn.Module:
        """A torchvision model built without random initialisation and filled from its ImageNet weight file."""
        with torch.device("meta"):
            model = build(weights=None)
        load_module(model, self.load_weights(WeightFile.torchvision(weights_enum)), assign=True)
        return model.float()

    @contextlib.contextmanager
    def autocast(self, x: torch.Tensor) -> Iterator[None]:
        if self.precision == "float32":
            yield
            return
        with torch.autocast(device_type=x.device.type, dtype=PRECISIONS[self.precision]):
            yield
