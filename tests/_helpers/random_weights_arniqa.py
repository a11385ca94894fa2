"""Random weight files in the published layout of ARNIQA: the encoder and the eight per-dataset regressors.

* ``ARNIQA.pth``: a state dict whose ``model.<i>.*`` keys are a ResNet-50's children up to its average pool
  (``model.0`` conv1, ``model.1`` bn1, ``model.4`` … ``model.7`` layer1…4). pyiqa reads it through torch hub
  (``$TORCH_HOME/hub/checkpoints``), iqabench from the weights repo: the file is linked into both.
* ``regressor_<dataset>.pth``: TorchScript archives of scikit-learn ridge regressors as sk2torch exports them
  (parameters ``weights`` 1×4096 and ``biases``, a scalar; ``x @ weights.t() + biases``, flattened when it has one
  column). pyiqa runs the archive's code (``torch.jit.load``); iqabench reads only its tensors.

Merged into ``random_weights.FILES``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torchvision import models

from tests._helpers.random_weights_b import _module_state

_SEQUENTIAL_INDEX = {"conv1.": "0.", "bn1.": "1.", "layer1.": "4.", "layer2.": "5.", "layer3.": "6.", "layer4.": "7."}


def _encoder(seed: int) -> dict[str, torch.Tensor]:
    state = _module_state(models.resnet50(weights=None), seed)
    encoder = {}
    for key, value in state.items():
        if key.endswith(("bn3.weight", "downsample.1.weight")):
            value = value * 0.3  # bounded activations through the 16 blocks
        for name, index in _SEQUENTIAL_INDEX.items():
            if key.startswith(name):
                encoder["model." + index + key[len(name):]] = value
    return encoder


class LinearRegression(torch.nn.Module):
    """sk2torch's exported ridge regressor: the layout and arithmetic of the published files."""

    def __init__(self, weights: torch.Tensor, biases: torch.Tensor) -> None:
        super().__init__()
        self.weights = torch.nn.Parameter(weights)
        self.biases = torch.nn.Parameter(biases)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = (x @ self.weights.t()) + self.biases
        if outputs.shape[1] == 1:
            return outputs.view(-1)
        return outputs


def _regressor(mos_range: tuple[float, float], seed: int) -> torch.jit.ScriptModule:
    """Predictions spread over the dataset's MOS range (embeddings are unit vectors of 4096 values)."""
    gen = torch.Generator().manual_seed(seed)
    low, high = mos_range
    weights = torch.randn(1, 4096, generator=gen) * (high - low) / 2
    return torch.jit.script(LinearRegression(weights, torch.tensor((low + high) / 2)))


_RANGES = {"koniq10k": (1.0, 100.0), "live": (1.0, 100.0), "csiq": (0.0, 1.0), "tid2013": (0.0, 9.0),
           "kadid10k": (1.0, 5.0), "clive": (1.0, 100.0), "flive": (0.0, 100.0), "spaq": (1.0, 100.0)}

#: file name → (source, generator of its content); "hf+hub": the weights repo, also linked where torch hub looks.
FILES_ARNIQA: dict[str, tuple[str, Callable[[], object]]] = {
    "ARNIQA.pth": ("hf+hub", lambda: _encoder(301)),
    # torchvision's ImageNet ResNet-50 (V1), read only by the reference before the encoder file overwrites it
    "resnet50-0676ba61.pth": ("torchvision", lambda: _module_state(models.resnet50(weights=None), 302)),
}
FILES_ARNIQA.update({
    f"regressor_{dataset}.pth": ("hf", lambda r=mos_range, s=303 + i: _regressor(r, s))
    for i, (dataset, mos_range) in enumerate(_RANGES.items())
})
