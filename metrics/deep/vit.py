"""The one Vision Transformer builder of the metrics (no metric is registered here).

Dosovitskiy, Beyer, Kolesnikov, Weissenborn, Zhai, Unterthiner, Dehghani, Minderer, Heigold, Gelly, Uszkoreit &
Houlsby, "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale", ICLR 2021.

The image is cut into non-overlapping p×p patches, each embedded linearly (a stride-p convolution); a learnt class
token is prepended and a learnt position embedding added. Pre-norm blocks follow: ``x + Attention(LN(x))`` then
``x + MLP(LN(x))`` (multi-head self-attention with heads of 64 channels and one packed q/k/v projection; an MLP of
GELU (erf) between two linear layers); LayerNorm ε = 1e-6. DINOv2 (Oquab et al., TMLR 2024) adds LayerScale:
each branch is multiplied by a learnt per-channel γ before the residual sum.

State-dict layout: timm's names, which pyiqa's published files (MANIQA, AHIQ's backbone) and the official DINOv2
checkpoint use — ``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.<i>.{norm1, attn.qkv, attn.proj,
[ls1.gamma], norm2, mlp.fc1, mlp.fc2, [ls2.gamma]}``, ``norm`` (and a classifier ``head``, which no metric uses).
The sizes are read off the tensors (:meth:`ViTShape.of`); a caller that needs only the first k blocks builds
k (``depth``) and leaves the others' tensors unread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.weights import WeightIntegrityError

HEAD_CHANNELS = 64
LAYER_NORM_EPS = 1e-6


@dataclass(frozen=True)
class ViTShape:
    width: int
    depth: int
    patch: int
    grid: int  # side of the position-embedding grid
    mlp_width: int
    layer_scale: bool = False

    @property
    def heads(self) -> int:
        return self.width // HEAD_CHANNELS

    @classmethod
    def of(cls, state: dict[str, torch.Tensor], filename: str, prefix: str = "") -> ViTShape:
        """The shape of the ViT whose tensors are under ``prefix`` in ``state`` (the file ``filename``)."""
        try:
            width = state[f"{prefix}cls_token"].shape[-1]
            patch = state[f"{prefix}patch_embed.proj.weight"].shape[-1]
            tokens = state[f"{prefix}pos_embed"].shape[1] - 1
            mlp_width = state[f"{prefix}blocks.0.mlp.fc1.weight"].shape[0]
        except KeyError as exc:
            raise WeightIntegrityError(f"weight file {filename} holds no ViT under {prefix!r}: no {exc.args[0]!r}"
                                       ) from None
        blocks = f"{prefix}blocks."
        depth = len({key[len(blocks):].split(".")[0] for key in state if key.startswith(blocks)})
        grid = math.isqrt(tokens)
        if grid * grid != tokens or width % HEAD_CHANNELS:
            raise WeightIntegrityError(f"weight file {filename}: {tokens} position embeddings and width {width} do "
                                       f"not make a square grid of {HEAD_CHANNELS}-channel heads")
        return cls(width=width, depth=depth, patch=patch, grid=grid, mlp_width=mlp_width,
                   layer_scale=f"{blocks}0.ls1.gamma" in state)

    def first(self, depth: int) -> ViTShape:
        """The same ViT cut after its first ``depth`` blocks."""
        if not 0 < depth <= self.depth:
            raise ValueError(f"a ViT of {self.depth} blocks has no first {depth}")
        return replace(self, depth=depth)


class LayerScale(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Attention(nn.Module):
    """Multi-head self-attention with one packed ``qkv`` projection and an output ``proj``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, tokens, width = x.shape
        q, k, v = self.qkv(x).reshape(n, tokens, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        mixed = F.scaled_dot_product_attention(q, k, v)
        return self.proj(mixed.transpose(1, 2).reshape(n, tokens, width))


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm attention and MLP, both residual (each scaled by LayerScale where the shape has it)."""

    def __init__(self, shape: ViTShape) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(shape.width, eps=LAYER_NORM_EPS)
        self.attn = Attention(shape.width, shape.heads)
        self.norm2 = nn.LayerNorm(shape.width, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(shape.width, shape.mlp_width)
        self.ls1: nn.Module = LayerScale(shape.width) if shape.layer_scale else nn.Identity()
        self.ls2: nn.Module = LayerScale(shape.width) if shape.layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, shape: ViTShape) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, shape.width, kernel_size=shape.patch, stride=shape.patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """Patch embedding, class token, position embedding and ``shape.depth`` blocks (the final ``norm`` is built
    only with ``final_norm=True``). ``block_outputs`` gives every block's tokens (class token first)."""

    def __init__(self, shape: ViTShape, final_norm: bool = True) -> None:
        super().__init__()
        self.shape = shape
        self.patch_embed = PatchEmbed(shape)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, shape.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, shape.grid * shape.grid + 1, shape.width))
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.depth))
        self.norm: nn.Module = nn.LayerNorm(shape.width, eps=LAYER_NORM_EPS) if final_norm else nn.Identity()

    def positions(self, rows: int, cols: int) -> torch.Tensor:
        """The position embeddings (class token's first) for a rows×cols grid of patches: the learnt ones, which
        fit the training grid only (a subclass may resample them)."""
        if rows != self.shape.grid or cols != self.shape.grid:
            side = self.shape.grid * self.shape.patch
            raise ValueError(f"this ViT takes {side}×{side} inputs ({self.shape.grid}² patches), got a "
                             f"{rows}×{cols} grid of patches")
        return self.pos_embed

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The tokens entering the first block: [class token, patches] plus position embeddings."""
        rows, cols = x.shape[-2] // self.shape.patch, x.shape[-1] // self.shape.patch
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1).to(tokens.dtype), tokens], dim=1)
        return tokens + self.positions(rows, cols).to(tokens.dtype)

    def block_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output tokens (N×(1+patches)×width) of every block, in order."""
        tokens, outputs = self.embed(x), []
        for block in self.blocks:
            tokens = block(tokens)
            outputs.append(tokens)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The final (normalised) tokens."""
        tokens = self.embed(x)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)
