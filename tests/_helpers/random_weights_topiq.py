"""Random weight files in the published layout of TOPIQ / CFANet with a ResNet-50 (FR and NR checkpoints).

The key names and shapes are facts of the published files (``params``: ``semantic_model.*`` — the timm
features-only ResNet-50, i.e. torchvision names without ``fc`` — and the CFANet heads), written out here
independently of our module, so that a strict load proves that it fits the published layout. Merged into
``random_weights.FILES``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torchvision import models

from tests._helpers.random_weights_b import _module_state, _random_state

LEVELS = (64, 256, 512, 1024, 2048)
DIM, FFN = 256, 1024


def _attention(prefix: str) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.in_proj_weight": (3 * DIM, DIM), f"{prefix}.in_proj_bias": (3 * DIM,),
            f"{prefix}.out_proj.weight": (DIM, DIM), f"{prefix}.out_proj.bias": (DIM,)}


def _transformer_layer(prefix: str, decoder: bool) -> dict[str, tuple[int, ...]]:
    """torch-style (pre-norm) encoder layer; a decoder layer adds ``multihead_attn`` and ``norm3``."""
    shapes = _attention(f"{prefix}.self_attn")
    shapes.update({f"{prefix}.linear1.weight": (FFN, DIM), f"{prefix}.linear1.bias": (FFN,),
                   f"{prefix}.linear2.weight": (DIM, FFN), f"{prefix}.linear2.bias": (DIM,)})
    norms = ("norm1", "norm2", "norm3") if decoder else ("norm1", "norm2")
    for norm in norms:
        shapes[f"{prefix}.{norm}.weight"], shapes[f"{prefix}.{norm}.bias"] = (DIM,), (DIM,)
    if decoder:
        shapes.update(_attention(f"{prefix}.multihead_attn"))
    return shapes


def _conv(prefix: str, cin: int, cout: int, k: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (cout, cin, k, k), f"{prefix}.bias": (cout,)}


def _gate(prefix: str, cin: int) -> dict[str, tuple[int, ...]]:
    return {**_conv(f"{prefix}.0", cin, 64, 1), **_conv(f"{prefix}.2", 64, 64, 3), **_conv(f"{prefix}.4", 64, 1, 3)}


def _cfanet_layout(use_ref: bool) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {"h_emb": (1, DIM // 2, 32, 1), "w_emb": (1, DIM // 2, 1, 32)}
    for i, c in enumerate(LEVELS):
        if use_ref:
            shapes.update(_gate(f"weight_pool.{i}", c))
        else:
            shapes.update(_conv(f"weight_pool.{i}.splitconv", c, 2 * c, 1))
            shapes.update(_gate(f"weight_pool.{i}.weight_blk", c))
        shapes.update(_conv(f"dim_reduce.{i}.0", 3 * c if use_ref else c, DIM, 1))
        shapes.update(_transformer_layer(f"sa_attn_blks.{i}.layers.0", decoder=False))
    for i in range(len(LEVELS) - 1):
        shapes.update(_transformer_layer(f"attn_blks.{i}.layers.0", decoder=True))
    shapes.update(_transformer_layer("attn_pool", decoder=False))
    for index in (0, 3):
        shapes[f"score_linear.{index}.weight"], shapes[f"score_linear.{index}.bias"] = (DIM,), (DIM,)
    for index, out in ((1, DIM), (4, DIM), (6, 1)):
        shapes[f"score_linear.{index}.weight"], shapes[f"score_linear.{index}.bias"] = (out, DIM), (out,)
    return shapes


def _cfanet(use_ref: bool, seed: int) -> dict[str, dict[str, torch.Tensor]]:
    backbone = _module_state(models.resnet50(weights=None), seed)
    for key in backbone:
        if key.endswith(("bn3.weight", "downsample.1.weight")):
            backbone[key] = backbone[key] * 0.3  # bounded activations through the 16 blocks: unsaturated gates
    state = {f"semantic_model.{k}": v for k, v in backbone.items() if not k.startswith("fc.")}
    state.update(_random_state(_cfanet_layout(use_ref), seed + 1))
    state["score_linear.6.bias"] = torch.full((1,), 3.0)  # scores away from 0: relative differences stay meaningful
    return {"params": state}


#: file name → (source, generator of its content).
FILES_TOPIQ: dict[str, tuple[str, Callable[[], object]]] = {
    "cfanet_fr_kadid_res50-2c4cc61d.pth": ("hf", lambda: _cfanet(True, 201)),
    "cfanet_fr_pipal_res50-69bbe5ba.pth": ("hf", lambda: _cfanet(True, 203)),
    "cfanet_nr_koniq_res50-9a73138b.pth": ("hf", lambda: _cfanet(False, 205)),
    "cfanet_nr_spaq_res50-a7f799ac.pth": ("hf", lambda: _cfanet(False, 207)),
}
