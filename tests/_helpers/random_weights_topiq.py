"""Random weight files in the published layout of TOPIQ / CFANet with a ResNet-50 (FR, NR and aesthetic checkpoints).

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
#: Token width of the quality checkpoints and of the aesthetic (AVA) one; feed-forward width min(4·D, 2048).
DIM, IAA_DIM = 256, 512


def _attention(prefix: str, dim: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.in_proj_weight": (3 * dim, dim), f"{prefix}.in_proj_bias": (3 * dim,),
            f"{prefix}.out_proj.weight": (dim, dim), f"{prefix}.out_proj.bias": (dim,)}


def _transformer_layer(prefix: str, decoder: bool, dim: int) -> dict[str, tuple[int, ...]]:
    """torch-style (pre-norm) encoder layer; a decoder layer adds ``multihead_attn`` and ``norm3``."""
    ffn = min(4 * dim, 2048)
    shapes = _attention(f"{prefix}.self_attn", dim)
    shapes.update({f"{prefix}.linear1.weight": (ffn, dim), f"{prefix}.linear1.bias": (ffn,),
                   f"{prefix}.linear2.weight": (dim, ffn), f"{prefix}.linear2.bias": (dim,)})
    norms = ("norm1", "norm2", "norm3") if decoder else ("norm1", "norm2")
    for norm in norms:
        shapes[f"{prefix}.{norm}.weight"], shapes[f"{prefix}.{norm}.bias"] = (dim,), (dim,)
    if decoder:
        shapes.update(_attention(f"{prefix}.multihead_attn", dim))
    return shapes


def _conv(prefix: str, cin: int, cout: int, k: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (cout, cin, k, k), f"{prefix}.bias": (cout,)}


def _gate(prefix: str, cin: int) -> dict[str, tuple[int, ...]]:
    return {**_conv(f"{prefix}.0", cin, 64, 1), **_conv(f"{prefix}.2", 64, 64, 3), **_conv(f"{prefix}.4", 64, 1, 3)}


def _cfanet_layout(use_ref: bool, dim: int = DIM, classes: int = 1,
                   levels: tuple[int, ...] = LEVELS) -> dict[str, tuple[int, ...]]:
    """The CFANet heads over backbone levels of ``levels`` channels (ResNet-50: stem and four stages)."""
    shapes: dict[str, tuple[int, ...]] = {"h_emb": (1, dim // 2, 32, 1), "w_emb": (1, dim // 2, 1, 32)}
    for i, c in enumerate(levels):
        if use_ref:
            shapes.update(_gate(f"weight_pool.{i}", c))
        else:
            shapes.update(_conv(f"weight_pool.{i}.splitconv", c, 2 * c, 1))
            shapes.update(_gate(f"weight_pool.{i}.weight_blk", c))
        shapes.update(_conv(f"dim_reduce.{i}.0", 3 * c if use_ref else c, dim, 1))
        shapes.update(_transformer_layer(f"sa_attn_blks.{i}.layers.0", decoder=False, dim=dim))
    for i in range(len(levels) - 1):
        shapes.update(_transformer_layer(f"attn_blks.{i}.layers.0", decoder=True, dim=dim))
    shapes.update(_transformer_layer("attn_pool", decoder=False, dim=dim))
    for index in (0, 3):
        shapes[f"score_linear.{index}.weight"], shapes[f"score_linear.{index}.bias"] = (dim,), (dim,)
    for index, out in ((1, dim), (4, dim), (6, classes)):
        shapes[f"score_linear.{index}.weight"], shapes[f"score_linear.{index}.bias"] = (out, dim), (out,)
    return shapes


def _backbone(seed: int, prefix: str = "semantic_model.", classifier: bool = False) -> dict[str, torch.Tensor]:
    """A random ResNet-50 under ``prefix``, with its ImageNet classifier ``fc`` only when ``classifier``."""
    backbone = _module_state(models.resnet50(weights=None), seed)
    for key in backbone:
        if key.endswith(("bn3.weight", "downsample.1.weight")):
            backbone[key] = backbone[key] * 0.3  # bounded activations through the 16 blocks: unsaturated gates
    return {f"{prefix}{k}": v for k, v in backbone.items() if classifier or not k.startswith("fc.")}


def _cfanet(use_ref: bool, seed: int) -> dict[str, dict[str, torch.Tensor]]:
    state = _backbone(seed)
    state.update(_random_state(_cfanet_layout(use_ref), seed + 1))
    state["score_linear.6.bias"] = torch.full((1,), 3.0)  # scores away from 0: relative differences stay meaningful
    return {"params": state}


def _cfanet_aesthetic(seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """The AVA checkpoint: D = 512 (8 heads), ten rating logits."""
    state = _backbone(seed)
    state.update(_random_state(_cfanet_layout(False, IAA_DIM, 10), seed + 1))
    return {"params": state}


#: file name → (source, generator of its content).
FILES_TOPIQ: dict[str, tuple[str, Callable[[], object]]] = {
    "cfanet_fr_kadid_res50-2c4cc61d.pth": ("hf", lambda: _cfanet(True, 201)),
    "cfanet_fr_pipal_res50-69bbe5ba.pth": ("hf", lambda: _cfanet(True, 203)),
    "cfanet_nr_koniq_res50-9a73138b.pth": ("hf", lambda: _cfanet(False, 205)),
    "cfanet_nr_spaq_res50-a7f799ac.pth": ("hf", lambda: _cfanet(False, 207)),
    "cfanet_nr_flive_res50-ded1c74e.pth": ("hf", lambda: _cfanet(False, 209)),
    "cfanet_iaa_ava_res50-3cd62bb3.pth": ("hf", lambda: _cfanet_aesthetic(211)),
    # face IQA (GFIQA / CGFIQA), scored on aligned face crops
    "topiq_nr_cgfiqa_res50-0a8b8e4f.pth": ("hf", lambda: _cfanet(False, 213)),
    "topiq_nr_gfiqa_res50-d76bf1ae.pth": ("hf", lambda: _cfanet(False, 215)),
}
