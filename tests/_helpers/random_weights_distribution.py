"""Random weight files for the distribution metrics, in their published layouts.

* ``pt_inception-2015-12-05-6726825d.pth`` — the FID Inception-V3 (torchvision's Inception-V3 names, 1008 classes,
  no auxiliary head, no BatchNorm counters, as the published file);
* ``dinov2_vitl14_pretrain.pth`` — a REDUCED DINOv2 of the official layout (:data:`REDUCED_DINOV2`: width 128,
  2 heads, 2 blocks, 14-px patches, the 37×37 position grid of the real one): the layout and every operation are
  the real model's, the file is 3 MB instead of 1.2 GB.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from metrics.distribution.dinov2 import ViTShape
from tests._helpers.random_weights import _rand_like_state, _shapes

REDUCED_DINOV2 = ViTShape(width=128, depth=2, patch=14, grid=37, mlp_width=512)


def _fid_inception(seed: int) -> dict[str, torch.Tensor]:
    from metrics.distribution.inception import _graph

    state = _rand_like_state(_graph(), seed)
    return {key: value for key, value in state.items() if not key.endswith("num_batches_tracked")}


def _dinov2(seed: int, shape: ViTShape = REDUCED_DINOV2) -> dict[str, torch.Tensor]:
    w = shape.width
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, w), "pos_embed": (1, shape.grid ** 2 + 1, w), "mask_token": (1, w),
        "patch_embed.proj.weight": (w, 3, shape.patch, shape.patch), "patch_embed.proj.bias": (w,),
        "norm.weight": (w,), "norm.bias": (w,),
    }
    for i in range(shape.depth):
        block = {"norm1.weight": (w,), "norm1.bias": (w,), "attn.qkv.weight": (3 * w, w), "attn.qkv.bias": (3 * w,),
                 "attn.proj.weight": (w, w), "attn.proj.bias": (w,), "ls1.gamma": (w,), "norm2.weight": (w,),
                 "norm2.bias": (w,), "mlp.fc1.weight": (shape.mlp_width, w), "mlp.fc1.bias": (shape.mlp_width,),
                 "mlp.fc2.weight": (w, shape.mlp_width), "mlp.fc2.bias": (w,), "ls2.gamma": (w,)}
        shapes.update({f"blocks.{i}.{key}": size for key, size in block.items()})
    state = _shapes(shapes, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    # token tables of a trained scale (the generic rule treats them as weights of fan-in 1)
    for key in ("cls_token", "pos_embed", "mask_token"):
        state[key] = 0.02 * torch.randn(shapes[key], generator=gen)
    return state


FILES_DISTRIBUTION: dict[str, tuple[str, Callable[[], object]]] = {
    "pt_inception-2015-12-05-6726825d.pth": ("hf", lambda: _fid_inception(41)),
    "dinov2_vitl14_pretrain.pth": ("torchvision", lambda: _dinov2(42)),
}
