"""Random weight files in the published layouts of the ViT metrics: MANIQA, AHIQ, LAION-Aesthetics (issue 19).

* ``ckpt_koniq10k.pt`` (``maniqa``): the whole MANIQA model as one state dict — timm's ViT-B/8 under ``vit.``
  (with its final norm and 1000-class head), ``tablock1/2.<i>.c_{q,k,v}`` (784 → 784), ``conv1`` (3072 → 768),
  ``conv2`` (768 → 384), ``swintransformer1/2`` (an unused ``downsample`` 3×3 convolution; two layers of two Swin
  blocks and a ``conv`` each; per block ``norm1``, ``attn.{relative_position_bias_table, relative_position_index,
  qkv, proj}``, ``norm2``, ``mlp.fc1/fc2`` of 768 hidden units and, in the shifted one, ``attn_mask``),
  ``fc_score`` / ``fc_weight`` (Linear at 0 and 3). The index and mask buffers hold the values that timm's Swin
  code computes for a 4×4 window shifted by 2 on a 28×28 map (the reference uses the file's copies; ours computes
  its own, so these come from an independent implementation).
* ``MANIQA_PIPAL-ae6d356b.pth`` and ``ckpt_kadid10k.pt``: the same layout; the random file is one copy on disk,
  hard-linked under the three names (360 MB once instead of three times). What tells the three metrics apart is
  their Swin layer scale (0.13 for PIPAL, 0.8 for the others), which the tests compare against pyiqa's.
* ``AHIQ_vit_p8_epoch33-da3ea303.pth`` (``ahiq``): the fusion and regression heads (two state dicts), and its
  backbones as timm publishes them (``model.safetensors`` of ``timm/resnet50.a1_in1k``, 100 MB, and of
  ``timm/vit_base_patch8_224.augreg2_in21k_ft_in1k``, 350 MB), seeded into their own repos' cache folders.
* ``sac+logos+ava1-l14-linearMSE.pth`` (``laion_aes``): the predictor's five linear layers (``layers.{0,2,4,6,7}``);
  its CLIP ViT-L/14 is the session's one seeded ``ViT-L-14.pt`` (random_weights_clip).

Merged into ``random_weights.FILES``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tests._helpers.random_weights_b import _module_state, _random_state

VIT_B8 = {"width": 768, "depth": 12, "patch": 8, "grid": 28, "mlp": 3072, "classes": 1000}


def _vit_layout(width: int, depth: int, patch: int, grid: int, mlp: int, classes: int) -> dict[str, tuple[int, ...]]:
    """timm's ``VisionTransformer`` state dict (class token, no LayerScale, final norm and classifier head)."""
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, width), "pos_embed": (1, grid * grid + 1, width),
        "patch_embed.proj.weight": (width, 3, patch, patch), "patch_embed.proj.bias": (width,),
    }
    for i in range(depth):
        block = {"norm1.weight": (width,), "norm1.bias": (width,), "attn.qkv.weight": (3 * width, width),
                 "attn.qkv.bias": (3 * width,), "attn.proj.weight": (width, width), "attn.proj.bias": (width,),
                 "norm2.weight": (width,), "norm2.bias": (width,), "mlp.fc1.weight": (mlp, width),
                 "mlp.fc1.bias": (mlp,), "mlp.fc2.weight": (width, mlp), "mlp.fc2.bias": (width,)}
        shapes.update({f"blocks.{i}.{key}": size for key, size in block.items()})
    shapes.update({"norm.weight": (width,), "norm.bias": (width,), "head.weight": (classes, width),
                   "head.bias": (classes,)})
    return shapes


def vit_state(seed: int, **sizes: int) -> dict[str, torch.Tensor]:
    """A random timm ViT (ViT-B/8 unless ``sizes`` say otherwise), token tables of a trained scale."""
    shapes = _vit_layout(**{**VIT_B8, **sizes})
    state = _random_state(shapes, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    for key in ("cls_token", "pos_embed"):
        state[key] = 0.02 * torch.randn(shapes[key], generator=gen)
    return state


def _swin_buffers() -> tuple[torch.Tensor, torch.Tensor]:
    """timm's relative position index of a 4×4 window and its attention mask for a shift of 2 on 28×28."""
    from timm.models.swin_transformer import (
        SwinTransformerBlock,
        get_relative_position_index,
    )

    block = SwinTransformerBlock(dim=8, input_resolution=(28, 28), num_heads=4, window_size=4, shift_size=2)
    return get_relative_position_index(4, 4), block.attn_mask.clone()


def _maniqa_layout() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for stage, (cin, width) in enumerate(((3072, 768), (768, 384)), start=1):
        for i in range(2):
            for part in ("c_q", "c_k", "c_v"):
                shapes[f"tablock{stage}.{i}.{part}.weight"] = (784, 784)
                shapes[f"tablock{stage}.{i}.{part}.bias"] = (784,)
        shapes[f"conv{stage}.weight"], shapes[f"conv{stage}.bias"] = (width, cin, 1, 1), (width,)
        swin = f"swintransformer{stage}"
        shapes[f"{swin}.downsample.weight"], shapes[f"{swin}.downsample.bias"] = (width, width, 3, 3), (width,)
        for layer in range(2):
            prefix = f"{swin}.layers.{layer}"
            shapes[f"{prefix}.conv.weight"], shapes[f"{prefix}.conv.bias"] = (width, width, 3, 3), (width,)
            for block in range(2):
                b = f"{prefix}.blocks.{block}"
                shapes.update({f"{b}.norm1.weight": (width,), f"{b}.norm1.bias": (width,),
                               f"{b}.attn.relative_position_bias_table": (49, 4),
                               f"{b}.attn.qkv.weight": (3 * width, width), f"{b}.attn.qkv.bias": (3 * width,),
                               f"{b}.attn.proj.weight": (width, width), f"{b}.attn.proj.bias": (width,),
                               f"{b}.norm2.weight": (width,), f"{b}.norm2.bias": (width,),
                               f"{b}.mlp.fc1.weight": (768, width), f"{b}.mlp.fc1.bias": (768,),
                               f"{b}.mlp.fc2.weight": (width, 768), f"{b}.mlp.fc2.bias": (width,)})
    for head in ("fc_score", "fc_weight"):
        shapes.update({f"{head}.0.weight": (384, 384), f"{head}.0.bias": (384,), f"{head}.3.weight": (1, 384),
                       f"{head}.3.bias": (1,)})
    return shapes


def _maniqa(seed: int) -> dict[str, torch.Tensor]:
    state = {f"vit.{key}": value for key, value in vit_state(seed).items()}
    heads = _random_state(_maniqa_layout(), seed + 2)
    gen = torch.Generator().manual_seed(seed + 3)
    for key in heads:
        if key.endswith("relative_position_bias_table"):
            heads[key] = 0.02 * torch.randn(heads[key].shape, generator=gen)  # timm's initial scale
    heads["fc_score.3.bias"] = torch.full((1,), 1.0)  # scores above the final ReLU: a weighted mean of order 1
    state.update(heads)
    index, mask = _swin_buffers()
    for stage in (1, 2):
        for layer in range(2):
            for block in range(2):
                prefix = f"swintransformer{stage}.layers.{layer}.blocks.{block}"
                state[f"{prefix}.attn.relative_position_index"] = index.clone()
                if block == 1:
                    state[f"{prefix}.attn_mask"] = mask.clone()
    return state


def _laion_predictor(seed: int) -> dict[str, torch.Tensor]:
    """The LAION-Aesthetics predictor: five linear layers at ``layers.{0,2,4,6,7}``, 768 → … → 1."""
    widths = (768, 1024, 128, 64, 16, 1)
    shapes: dict[str, tuple[int, ...]] = {}
    for index, fan_in, fan_out in zip((0, 2, 4, 6, 7), widths, widths[1:]):
        shapes[f"layers.{index}.weight"], shapes[f"layers.{index}.bias"] = (fan_out, fan_in), (fan_out,)
    state = _random_state(shapes, seed)
    # the embedding is a unit vector: weights of order 1 make the image matter, the bias puts it on the 1…10 scale
    state["layers.0.weight"] = state["layers.0.weight"] * 30.0
    state["layers.7.bias"] = torch.full((1,), 5.0)
    return state


def _timm_resnet50(seed: int) -> dict[str, torch.Tensor]:
    """timm's ``resnet50`` state dict (torchvision's names, with ``fc`` and the BatchNorm counters)."""
    from torchvision import models

    state = _module_state(models.resnet50(weights=None), seed)
    for key in state:
        if key.endswith(("bn3.weight", "downsample.1.weight")):
            state[key] = state[key] * 0.3  # bounded activations through the residual blocks
    return state


def _ahiq(seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """``deform_net_model_state_dict`` (``conv_offset`` 3840 → 18, ``deform`` 768 → 768, ``conv1.{0,2}``) and
    ``regressor_model_state_dict`` (``down_channel``, ``feat_smoothing.{0,2}``, ``conv1.0``, ``conv_attent.0``,
    ``conv.0``)."""
    def conv(prefix: str, cin: int, cout: int, k: int) -> dict[str, tuple[int, ...]]:
        return {f"{prefix}.weight": (cout, cin, k, k), f"{prefix}.bias": (cout,)}

    deform = {**conv("conv_offset", 3840, 18, 3), **conv("deform", 768, 768, 3), **conv("conv1.0", 768, 512, 3),
              **conv("conv1.2", 512, 768, 3)}
    regressor = {**conv("down_channel", 4608, 256, 1), **conv("feat_smoothing.0", 768, 1024, 3),
                 **conv("feat_smoothing.2", 1024, 512, 3), **conv("conv1.0", 512, 256, 3),
                 **conv("conv_attent.0", 256, 1, 1), **conv("conv.0", 256, 1, 1)}
    deform_state, regressor_state = _random_state(deform, seed), _random_state(regressor, seed + 1)
    deform_state["conv_offset.weight"] = deform_state["conv_offset.weight"] * 0.1  # offsets of a pixel or two
    regressor_state["conv.0.bias"] = torch.full((1,), 1.0)  # crop scores away from 0
    return {"deform_net_model_state_dict": deform_state, "regressor_model_state_dict": regressor_state}


#: AHIQ's backbones: timm's files in their Hugging Face repos ("owner/repo/file" names: not pyiqa's repo)
AHIQ_RESNET = "timm/resnet50.a1_in1k/model.safetensors"
AHIQ_VIT = "timm/vit_base_patch8_224.augreg2_in21k_ft_in1k/model.safetensors"

FILES_VIT: dict[str, tuple[str, Callable[[], object]]] = {
    "AHIQ_vit_p8_epoch33-da3ea303.pth": ("hf", lambda: _ahiq(521)),
    AHIQ_RESNET: ("hf-repo", lambda: _timm_resnet50(523)),
    AHIQ_VIT: ("hf-repo", lambda: vit_state(525)),
    "ckpt_koniq10k.pt": ("hf", lambda: _maniqa(501)),
    "sac+logos+ava1-l14-linearMSE.pth": ("hf", lambda: _laion_predictor(511)),
}


def _same_as_koniq() -> object:
    from tests._helpers.random_weights import SameFileAs

    return SameFileAs("ckpt_koniq10k.pt")


FILES_VIT.update({name: ("hf", _same_as_koniq) for name in ("MANIQA_PIPAL-ae6d356b.pth", "ckpt_kadid10k.pt")})
