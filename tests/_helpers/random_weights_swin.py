"""Random weight files in the published layout of the TOPIQ / CFANet checkpoints with a Swin-B (384) backbone.

Key names, shapes and the geometry buffers are facts of the published files (``params``: ``semantic_model.*`` —
timm's original ``swin_base_patch4_window12_384`` layout with its 1000-class ``head``, the relative position index
of every block and the attention mask of every shifted block — and the CFANet heads over the four stage outputs of
256, 512, 1024 and 1024 channels). They are written out here independently of ``metrics.deep.swin``, so a strict
load proves our module fits the layout, and pyiqa computes with the geometry buffers written here.

Disk: a Swin-B checkpoint holds 88 M floats (≈ 360 MB). Every float tensor here is a window into one of a few shared
random pools (one per scale rule: biases, vectors, fan-in He scaling), saved once per file; a tensor larger than its
pool takes overlapping rows shifted by a random stride. Each key still gets its own values; a file is ≈ 45 MB.
Merged into ``random_weights.FILES``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from tests._helpers.random_weights_topiq import DIM, IAA_DIM, _cfanet_layout

#: swin_base_patch4_window12_384: patch 4, C = 128, depths 2-2-18-2, heads 4-8-16-32, window 12, input 384.
EMBED, DEPTHS, HEADS, WINDOW, GRID = 128, (2, 2, 18, 2), (4, 8, 16, 32), 12, 96
STAGE_OUTPUTS = (256, 512, 1024, 1024)
POOL_SIZE = 1 << 19


def _table_index(window: int) -> torch.Tensor:
    """Bias-table row of each token pair of a window: (Δrow + w − 1)·(2w − 1) + Δcol + w − 1."""
    rows = torch.arange(window).repeat_interleave(window)
    cols = torch.arange(window).repeat(window)
    return (rows.view(-1, 1) - rows.view(1, -1) + window - 1) * (2 * window - 1) + (
        cols.view(-1, 1) - cols.view(1, -1) + window - 1)


def _shift_mask(side: int, window: int) -> torch.Tensor:
    """0 / −100 between the tokens of each window of the rolled map, by the region (3×3 bands) they came from."""
    shift = window // 2
    band = torch.bucketize(torch.arange(side), torch.tensor([side - window, side - shift]), right=True)
    region = band.view(-1, 1) * 3 + band.view(1, -1)  # side×side
    per_window = region.unfold(0, window, window).unfold(1, window, window)  # a×b×w×w
    per_window = per_window.reshape(-1, window * window)
    differs = per_window.unsqueeze(2) != per_window.unsqueeze(1)
    return differs.float() * -100.0


def _swin_layout() -> tuple[dict[str, tuple[int, ...]], dict[str, torch.Tensor]]:
    """(float tensor shapes, geometry buffers) of the backbone, under their published keys."""
    shapes: dict[str, tuple[int, ...]] = {"patch_embed.proj.weight": (EMBED, 3, 4, 4), "patch_embed.proj.bias": (EMBED,),
                                          "patch_embed.norm.weight": (EMBED,), "patch_embed.norm.bias": (EMBED,)}
    buffers: dict[str, torch.Tensor] = {}
    for stage, depth in enumerate(DEPTHS):
        dim, side = EMBED * 2 ** stage, GRID // 2 ** stage
        window = min(WINDOW, side)
        for block in range(depth):
            p = f"layers.{stage}.blocks.{block}."
            for norm in ("norm1", "norm2"):
                shapes[p + norm + ".weight"], shapes[p + norm + ".bias"] = (dim,), (dim,)
            shapes[p + "attn.relative_position_bias_table"] = ((2 * window - 1) ** 2, HEADS[stage])
            for name, out, fan_in in (("attn.qkv", 3 * dim, dim), ("attn.proj", dim, dim), ("mlp.fc1", 4 * dim, dim),
                                      ("mlp.fc2", dim, 4 * dim)):
                shapes[p + name + ".weight"], shapes[p + name + ".bias"] = (out, fan_in), (out,)
            buffers[p + "attn.relative_position_index"] = _table_index(window)
            if block % 2 and side > WINDOW:
                buffers[p + "attn_mask"] = _shift_mask(side, window)
        if stage < len(DEPTHS) - 1:
            p = f"layers.{stage}.downsample."
            shapes[p + "norm.weight"], shapes[p + "norm.bias"] = (4 * dim,), (4 * dim,)
            shapes[p + "reduction.weight"] = (2 * dim, 4 * dim)
    last = EMBED * 2 ** (len(DEPTHS) - 1)
    shapes.update({"norm.weight": (last,), "norm.bias": (last,), "head.weight": (1000, last), "head.bias": (1000,)})
    return shapes, buffers


def _pooled_state(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Random tensors scaled like ``random_weights._random`` (bias 0.1·N, vectors 1 + 0.1·N, matrices He-scaled by
    fan-in), each a view into a shared pool of its scale rule at a random offset."""
    gen = torch.Generator().manual_seed(seed)
    pools: dict[tuple[str, int], torch.Tensor] = {}
    state = {}
    for key, shape in shapes.items():
        fan_in = math.prod(shape[1:])
        rule = ("bias", 0) if key.endswith("bias") else ("vector", 0) if len(shape) <= 1 else ("matrix", fan_in)
        if rule not in pools:
            normal = torch.randn(POOL_SIZE, generator=gen)
            pools[rule] = (0.1 * normal if rule[0] == "bias" else 1 + 0.1 * normal if rule[0] == "vector"
                           else normal * (2.0 / fan_in) ** 0.5)
        rows, row = (shape[0], fan_in) if len(shape) > 1 else (1, shape[0])
        stride = row if rows == 1 else min(row, (POOL_SIZE - row) // (rows - 1))
        span = (rows - 1) * stride + row
        offset = int(torch.randint(0, POOL_SIZE - span + 1, (1,), generator=gen))
        inner = [math.prod(shape[k + 1:]) for k in range(1, len(shape))]
        state[key] = pools[rule].as_strided(shape, (stride, *inner) if len(shape) > 1 else (1,), offset)
    return state


def _cfanet_swin(seed: int, dim: int = DIM, classes: int = 1) -> dict[str, dict[str, torch.Tensor]]:
    backbone, buffers = _swin_layout()
    shapes = {f"semantic_model.{k}": v for k, v in backbone.items()}
    shapes.update(_cfanet_layout(False, dim, classes, STAGE_OUTPUTS))
    state = _pooled_state(shapes, seed)
    state.update({f"semantic_model.{k}": v for k, v in buffers.items()})
    if classes == 1:
        state["score_linear.6.bias"] = torch.full((1,), 3.0)  # scores away from 0: relative differences meaningful
    return {"params": state}


#: file name → (source, generator of its content).
FILES_SWIN: dict[str, tuple[str, Callable[[], object]]] = {
    "cfanet_iaa_ava_swin-393b41b4.pth": ("hf", lambda: _cfanet_swin(221, IAA_DIM, 10)),
    "topiq_nr_gfiqa_swin-7bb80a60.pth": ("hf", lambda: _cfanet_swin(223)),
}
