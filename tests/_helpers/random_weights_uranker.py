"""A random weight file in the published layout of URanker (issue 19): ``URanker_ckpt-450eb36d.pth``.

The whole model's state dict, as the official code saves it (key names and shapes are facts of the published file):
per scale s = 1…4 of widths 152, 320, 320, 320 — ``historgram_embed{s}`` (width×192), ``patch_embed{s}.proj``
(kernel 4, then 2) and ``.norm``, ``cls_token{s}`` (1×1×width), ``cpe{s}.proj`` (depthwise 3×3),
``crpe{s}.conv_list.{0,1,2}`` (depthwise 3×3, 5×5, 7×7 over 2, 3 and 3 heads of width/8 channels), two
``serial_blocks{s}.{i}`` (``cpe`` and ``factoratt_crpe.crpe`` being the scale's shared modules, again under these
names, ``norm1``, ``factoratt_crpe.qkv`` / ``.proj``, ``norm2``, ``mlp.fc1`` / ``.fc2``) and ``norm{s}``; six
``parallel_blocks.{j}`` (``alpha1…6`` of shape 1, ``norm1{2,3,4}``, ``factoratt_crpe{2,3,4}`` with the shared
``crpe`` of their scale, ``norm2{2,3,4}``, and one MLP under ``mlp2``, ``mlp3`` and ``mlp4``); ``head{2,3,4}``
(1×320). A shared module's tensors are the same tensor objects under each of its names, as in a saved model: the
file stores them once.

Disk-frugal: the projection and MLP matrices (``qkv``, ``proj``, ``fc1``, ``fc2``: 20 M of the 22 M values) are
strided views of short random vectors (:func:`random_weights_zoo3._strided_matrix`), so the file is a few MB.

Scales chosen so that the scores are informative: the histogram embeddings are small (the histogram holds raw pixel
counts, in the hundreds or thousands), the cross-scale weights ``alpha`` are of order 0.1 (0.05 at the official
initialisation), and the read-outs' biases put the scores near 2, so that relative differences stay meaningful.

Merged into ``random_weights.FILES``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tests._helpers.random_weights import _random
from tests._helpers.random_weights_zoo3 import _strided_matrix

URANKER_FILE = "URanker_ckpt-450eb36d.pth"
_WIDTHS = (152, 320, 320, 320)
_PATCHES = (4, 2, 2, 2)
_HEADS = 8
_WINDOWS = ((3, 2), (5, 3), (7, 3))  # (depthwise kernel, heads)
_HISTOGRAM = 192


class _Draw:
    """Seeded random tensors by the rules of :func:`random_weights._random`, matrices as strided views."""

    def __init__(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, key: str, *shape: int) -> torch.Tensor:
        return _random(key, tuple(shape), self.gen)

    def linear(self, state: dict[str, torch.Tensor], prefix: str, fan_in: int, fan_out: int) -> None:
        state[prefix + "weight"] = _strided_matrix(fan_out, fan_in, fan_in ** -0.5, self.gen)
        state[prefix + "bias"] = self(prefix + "bias", fan_out)

    def norm(self, state: dict[str, torch.Tensor], prefix: str, width: int) -> None:
        state[prefix + "weight"], state[prefix + "bias"] = self(prefix + "weight", width), self(prefix + "bias", width)


def _under(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + key: value for key, value in tensors.items()}


def _attention(draw: _Draw, width: int, relative: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    draw.linear(state, "qkv.", width, 3 * width)
    draw.linear(state, "proj.", width, width)
    state.update(_under("crpe.", relative))
    return state


def _mlp(draw: _Draw, width: int) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    draw.linear(state, "fc1.", width, 4 * width)
    draw.linear(state, "fc2.", 4 * width, width)
    return state


def _uranker(seed: int) -> dict[str, torch.Tensor]:
    draw = _Draw(seed)
    state: dict[str, torch.Tensor] = {}
    positions, relatives = {}, {}
    for s, (width, patch) in enumerate(zip(_WIDTHS, _PATCHES), start=1):
        cin = 3 if s == 1 else _WIDTHS[s - 2]
        state[f"historgram_embed{s}.weight"] = draw("w", width, _HISTOGRAM) * 1e-3
        state[f"historgram_embed{s}.bias"] = draw("bias", width)
        state[f"patch_embed{s}.proj.weight"] = draw("w", width, cin, patch, patch)
        state[f"patch_embed{s}.proj.bias"] = draw("bias", width)
        draw.norm(state, f"patch_embed{s}.norm.", width)
        state[f"cls_token{s}"] = draw("w", 1, 1, width)
        positions[s] = {"proj.weight": draw("w", width, 1, 3, 3), "proj.bias": draw("bias", width)}
        relatives[s] = {}
        for k, (kernel, heads) in enumerate(_WINDOWS):
            channels = heads * width // _HEADS
            relatives[s][f"conv_list.{k}.weight"] = draw("w", channels, 1, kernel, kernel)
            relatives[s][f"conv_list.{k}.bias"] = draw("bias", channels)
        state.update(_under(f"cpe{s}.", positions[s]))
        state.update(_under(f"crpe{s}.", relatives[s]))
        for i in range(2):
            block = f"serial_blocks{s}.{i}."
            state.update(_under(block + "cpe.", positions[s]))
            draw.norm(state, block + "norm1.", width)
            state.update(_under(block + "factoratt_crpe.", _attention(draw, width, relatives[s])))
            draw.norm(state, block + "norm2.", width)
            state.update(_under(block + "mlp.", _mlp(draw, width)))
    width = _WIDTHS[-1]
    for j in range(6):
        block = f"parallel_blocks.{j}."
        for k in range(1, 7):
            state[f"{block}alpha{k}"] = 0.05 + 0.1 * torch.rand(1, generator=draw.gen)
        for s in (2, 3, 4):
            draw.norm(state, f"{block}norm1{s}.", width)
            state.update(_under(f"{block}factoratt_crpe{s}.", _attention(draw, width, relatives[s])))
            draw.norm(state, f"{block}norm2{s}.", width)
        mlp = _mlp(draw, width)
        for s in (2, 3, 4):
            state.update(_under(f"{block}mlp{s}.", mlp))
    for s, width in enumerate(_WIDTHS, start=1):
        draw.norm(state, f"norm{s}.", width)
    for s in (2, 3, 4):
        state[f"head{s}.weight"] = draw("w", 1, _WIDTHS[s - 1])
        state[f"head{s}.bias"] = torch.full((1,), 2.0)
    return state


FILES_URANKER: dict[str, tuple[str, Callable[[], object]]] = {
    URANKER_FILE: ("hf", lambda: _uranker(601)),
}
