"""Random weight files in the published layouts of TReS and ST-LPIPS (issue 19, third zoo tranche).

* ``tres_koniq-f0502926.pth`` / ``tres_flive-09b0de5b.pth``: the whole model's state dict — a ResNet-50 under
  ``model.`` (with its ImageNet classifier ``model.fc``), the four L2 poolings' Hann windows
  ``L2pooling_l{1..4}.filter`` (C×1×3×3, constants in the published files too), the two-layer encoder under
  ``transformer.encoder.`` (torch's packed ``self_attn.in_proj_weight``, ``linear1``/``linear2``, ``norm1``/``norm2``,
  and the final ``norm``), ``fc2`` (2048×3840) and ``fc`` (1×4096).

Disk-frugal: the large square matrices of the 3840-wide encoder (``in_proj_weight``, ``out_proj.weight``,
``fc2.weight``: 60 M values per layer) are saved as strided views of one short random vector (row i starts
``ROW_SHIFT`` values after row i−1), so a file is about the ResNet-50's 100 MB instead of 600 MB; both
implementations read them as ordinary full matrices.

* ``alex_shift_tolerant.pth`` / ``vgg_shift_tolerant.pth``: the whole ST-LPIPS model's state dict — the trunk's
  convolutions under ``net.slice<s>.<index>`` (indices of the shift-tolerant layer lists, where blur-pools sit
  between the convolutions), each blur-pool's binomial filter ``….filt`` (C×1×3×3, constants), the scaling layer's
  ``scaling_layer.shift``/``scale``, and the linear layers under ``lin{k}.model.1`` and again under ``lins.{k}``
  (one module list holds them too; the same tensors, stored once).
* ``vgg19-dcbb9e9d.pth``: torchvision's ImageNet VGG-19 (DeepDC), whose classifier's first layer
  (4096×25088) is a strided view as above (its values are never used by the metric, but torchvision loads it
  strictly).

Merged into ``random_weights.FILES``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torchvision import models

from tests._helpers.random_weights_b import _random_state
from tests._helpers.random_weights_topiq import _backbone

TRES_DIM, TRES_FEED_FORWARD = 3840, 64
TRES_STAGES = (256, 512, 1024, 2048)
ROW_SHIFT = 7
#: Keys saved as strided views of a short vector (the rest are ordinary random tensors).
_STRIDED = ("in_proj_weight", "out_proj.weight", "fc2.weight")


def _strided_matrix(rows: int, cols: int, scale: float, gen: torch.Generator) -> torch.Tensor:
    """rows×cols, entry (i, j) = v[ROW_SHIFT·i + j] · scale for one random vector v (saved as v alone)."""
    vector = torch.randn((rows - 1) * ROW_SHIFT + cols, generator=gen) * scale
    return vector.as_strided((rows, cols), (ROW_SHIFT, 1))


def _separable_filter(taps: tuple[float, ...], channels: int) -> torch.Tensor:
    window = torch.tensor(taps)
    window = torch.outer(window, window)
    return (window / window.sum()).expand(channels, 1, len(taps), len(taps)).clone()


def _tres(seed: int) -> dict[str, torch.Tensor]:
    state = _backbone(seed, prefix="model.", classifier=True)
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(2):
        layer = f"transformer.encoder.layers.{i}."
        shapes[layer + "self_attn.in_proj_bias"] = (3 * TRES_DIM,)
        shapes[layer + "self_attn.out_proj.bias"] = (TRES_DIM,)
        shapes[layer + "linear1.weight"] = (TRES_FEED_FORWARD, TRES_DIM)
        shapes[layer + "linear1.bias"] = (TRES_FEED_FORWARD,)
        shapes[layer + "linear2.weight"], shapes[layer + "linear2.bias"] = (TRES_DIM, TRES_FEED_FORWARD), (TRES_DIM,)
        for norm in ("norm1", "norm2"):
            shapes[f"{layer}{norm}.weight"], shapes[f"{layer}{norm}.bias"] = (TRES_DIM,), (TRES_DIM,)
    shapes["transformer.encoder.norm.weight"], shapes["transformer.encoder.norm.bias"] = (TRES_DIM,), (TRES_DIM,)
    shapes["fc2.bias"] = (2048,)
    shapes["fc.weight"], shapes["fc.bias"] = (1, 2 * 2048), (1,)
    state.update(_random_state(shapes, seed + 1))
    gen = torch.Generator().manual_seed(seed + 2)
    for i in range(2):
        layer = f"transformer.encoder.layers.{i}.self_attn."
        state[layer + "in_proj_weight"] = _strided_matrix(3 * TRES_DIM, TRES_DIM, TRES_DIM ** -0.5, gen)
        state[layer + "out_proj.weight"] = _strided_matrix(TRES_DIM, TRES_DIM, TRES_DIM ** -0.5, gen)
    state["fc2.weight"] = _strided_matrix(2048, TRES_DIM, TRES_DIM ** -0.5, gen)
    for k, channels in enumerate(TRES_STAGES, start=1):
        state[f"L2pooling_l{k}.filter"] = _separable_filter((0.5, 1.0, 0.5), channels)  # Hann
    state["fc.bias"] = torch.full((1,), 3.0)  # scores away from 0: relative differences stay meaningful
    return state


#: ST-LPIPS trunks: (slice, index, in channels, out channels, kernel) per convolution; (slice, index, channels) per
#: blur-pool.
_STLPIPS_CONVS = {
    "alex": [(1, 0, 3, 64, 11), (2, 5, 64, 192, 5), (3, 9, 192, 384, 3), (4, 11, 384, 256, 3), (5, 13, 256, 256, 3)],
    "vgg": [(1, 0, 3, 64, 3), (1, 2, 64, 64, 3), (2, 6, 64, 128, 3), (2, 8, 128, 128, 3), (3, 12, 128, 256, 3),
            (3, 14, 256, 256, 3), (3, 16, 256, 256, 3), (4, 20, 256, 512, 3), (4, 22, 512, 512, 3),
            (4, 24, 512, 512, 3), (5, 28, 512, 512, 3), (5, 30, 512, 512, 3), (5, 32, 512, 512, 3)],
}
_STLPIPS_BLURS = {"alex": [(1, 1, 64), (2, 4, 64), (3, 8, 192)],
                  "vgg": [(2, 5, 64), (3, 11, 128), (4, 19, 256), (5, 27, 512)]}
_LPIPS_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}


def _stlpips(net: str, seed: int) -> dict[str, torch.Tensor]:
    shapes: dict[str, tuple[int, ...]] = {}
    for part, index, cin, cout, k in _STLPIPS_CONVS[net]:
        shapes[f"net.slice{part}.{index}.weight"], shapes[f"net.slice{part}.{index}.bias"] = (cout, cin, k, k), (cout,)
    state = _random_state(shapes, seed)
    for part, index, channels in _STLPIPS_BLURS[net]:
        state[f"net.slice{part}.{index}.filt"] = _separable_filter((1.0, 2.0, 1.0), channels)
    state["scaling_layer.shift"] = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    state["scaling_layer.scale"] = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    gen = torch.Generator().manual_seed(seed + 1)
    for k, channels in enumerate(_LPIPS_CHANNELS[net]):
        linear = torch.rand(1, channels, 1, 1, generator=gen)
        state[f"lin{k}.model.1.weight"] = state[f"lins.{k}.model.1.weight"] = linear
    return state


def _vgg19(seed: int) -> dict[str, torch.Tensor]:
    with torch.device("meta"):  # only the layout: the values are drawn below
        layout = models.vgg19(weights=None).state_dict()
    big = "classifier.0.weight"
    state = _random_state({k: tuple(v.shape) for k, v in layout.items() if k != big}, seed)
    rows, cols = layout[big].shape
    state[big] = _strided_matrix(rows, cols, cols ** -0.5, torch.Generator().manual_seed(seed + 1))
    return state


FILES_ZOO3: dict[str, tuple[str, Callable[[], object]]] = {
    "tres_koniq-f0502926.pth": ("hf", lambda: _tres(501)),
    "tres_flive-09b0de5b.pth": ("hf", lambda: _tres(503)),
    "alex_shift_tolerant.pth": ("hf", lambda: _stlpips("alex", 505)),
    "vgg_shift_tolerant.pth": ("hf", lambda: _stlpips("vgg", 507)),
    "vgg19-dcbb9e9d.pth": ("torchvision", lambda: _vgg19(509)),
}
