"""Random weight files in the published layouts of UNIQUE and MS-SWD (issue 19, small zoo tranche).

* ``UNIQUE.pt``: a state dict of the whole model, a ResNet-34 under ``backbone.`` (with its ImageNet classifier
  ``backbone.fc``, unused) and the two-output read-out ``fc`` (2 × 512²).
* ``resnet34-b627a593.pth``: torchvision's ImageNet ResNet-34, built by the reference only before ``UNIQUE.pt``
  overwrites it.
* ``msswd_weights.pth``: the two projection convolutions under ``net_dict``.

Merged into ``random_weights.FILES``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torchvision import models

from tests._helpers.random_weights_b import _module_state


def _unique(seed: int) -> dict[str, torch.Tensor]:
    state = {}
    for key, value in _module_state(models.resnet34(weights=None), seed).items():
        if key.endswith(("bn2.weight", "downsample.1.weight")):
            value = value * 0.3  # bounded activations through the 16 residual blocks
        state["backbone." + key] = value
    gen = torch.Generator().manual_seed(seed + 1)
    # pooled features are unit vectors of 512² values: weights of order 1 give scores of order 1 that differ
    state["fc.weight"] = torch.randn(2, 512 * 512, generator=gen)
    state["fc.bias"] = 0.1 * torch.randn(2, generator=gen)
    return state


def _msswd(seed: int) -> dict[str, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return {"net_dict": {
        # Lab values are of order 10…100: small filters keep the projections of order 1
        "conv11x11.weight": torch.randn(128, 3, 11, 11, generator=gen) * 0.01,
        "conv_m1.weight": torch.randn(64, 128, 1, 1, generator=gen) * (2 / 128) ** 0.5,
    }}


FILES_ZOO: dict[str, tuple[str, Callable[[], object]]] = {
    "UNIQUE.pt": ("hf", lambda: _unique(401)),
    "resnet34-b627a593.pth": ("torchvision", lambda: _module_state(models.resnet34(weights=None), 403)),
    "msswd_weights.pth": ("hf", lambda: _msswd(404)),
}
