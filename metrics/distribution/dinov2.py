"""DINOv2's ViT (Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision", TMLR 2024), as the
official ``dinov2_vitl14`` hub model computes its output (the normalised class token), with the official
checkpoint's state-dict layout (``cls_token``, ``pos_embed``, ``mask_token``, ``patch_embed.proj``,
``blocks.<i>.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma}``, ``norm``).

Architecture (pre-norm transformer): patches of 14×14 embedded by a strided convolution, a class token prepended,
learned position embeddings for a 37×37 grid (518-px training size) resampled to the input's grid by bicubic
interpolation with the scale factor ``(grid + 0.1) / 37`` (no antialiasing; the 0.1 is the official code's guard
against rounding); each block adds ``γ₁ · Attention(LN(x))`` and ``γ₂ · MLP(LN(x))`` (LayerScale; GELU MLP of
4× width; LayerNorm ε = 1e-6; heads of 64 channels); a final LayerNorm; the output is the class token (1024-d for
ViT-L/14).

The sizes are read off the checkpoint's tensors (width, depth, patch, grid, MLP width), so a reduced model of the
same layout loads too (the tests use one).

Weights: the official ``dinov2_vitl14_pretrain.pth`` (https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/), the
file ``torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14')`` — and so pyiqa's ``fid_dinov2`` — downloads
into ``$TORCH_HOME/hub/checkpoints``; a pyiqa user already has it there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.weights import LoadedWeights, WeightIntegrityError, load_module

HEAD_CHANNELS = 64
POSITION_OFFSET = 0.1
LAYER_NORM_EPS = 1e-6


@dataclass(frozen=True)
class ViTShape:
    width: int
    depth: int
    patch: int
    grid: int  # side of the position-embedding grid
    mlp_width: int

    @property
    def heads(self) -> int:
        return self.width // HEAD_CHANNELS

    @classmethod
    def of(cls, loaded: LoadedWeights) -> ViTShape:
        state = loaded.state_dict
        try:
            width = state["cls_token"].shape[-1]
            patch = state["patch_embed.proj.weight"].shape[-1]
            tokens = state["pos_embed"].shape[1] - 1
            mlp_width = state["blocks.0.mlp.fc1.weight"].shape[0]
        except KeyError as exc:
            raise WeightIntegrityError(f"weight file {loaded.file.filename} ({loaded.path}) is not a DINOv2 ViT "
                                       f"checkpoint: no {exc.args[0]!r}") from None
        depth = len({key.split(".")[1] for key in state if key.startswith("blocks.")})
        grid = math.isqrt(tokens)
        if grid * grid != tokens or width % HEAD_CHANNELS:
            raise WeightIntegrityError(f"weight file {loaded.file.filename}: {tokens} position embeddings and width "
                                       f"{width} do not make a square grid of {HEAD_CHANNELS}-channel heads")
        return cls(width=width, depth=depth, patch=patch, grid=grid, mlp_width=mlp_width)


class LayerScale(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Attention(nn.Module):
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
    def __init__(self, shape: ViTShape) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(shape.width, eps=LAYER_NORM_EPS)
        self.attn = Attention(shape.width, shape.heads)
        self.ls1 = LayerScale(shape.width)
        self.norm2 = nn.LayerNorm(shape.width, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(shape.width, shape.mlp_width)
        self.ls2 = LayerScale(shape.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, shape: ViTShape) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, shape.width, kernel_size=shape.patch, stride=shape.patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DINOv2(nn.Module):
    """The DINOv2 ViT; ``forward`` maps N×3×H×W standardised images to the N×width normalised class tokens."""

    def __init__(self, shape: ViTShape) -> None:
        super().__init__()
        self.shape = shape
        self.patch_embed = PatchEmbed(shape)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, shape.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, shape.grid * shape.grid + 1, shape.width))
        self.mask_token = nn.Parameter(torch.zeros(1, shape.width))  # for masked training; unused here
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.depth))
        self.norm = nn.LayerNorm(shape.width, eps=LAYER_NORM_EPS)

    @classmethod
    def from_weights(cls, loaded: LoadedWeights) -> DINOv2:
        with torch.device("meta"):
            model = cls(ViTShape.of(loaded))
        load_module(model, loaded, assign=True)
        return model.float().requires_grad_(False).eval()

    def positions(self, rows: int, cols: int) -> torch.Tensor:
        """The position embeddings (class token's first) for a rows×cols grid of patches."""
        grid = self.shape.grid
        if rows == cols == grid:
            return self.pos_embed
        table = self.pos_embed[:, 1:].float().reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        scale = ((rows + POSITION_OFFSET) / grid, (cols + POSITION_OFFSET) / grid)
        table = F.interpolate(table, scale_factor=scale, mode="bicubic", antialias=False)
        if table.shape[-2:] != (rows, cols):
            raise RuntimeError(f"position embeddings resampled to {tuple(table.shape[-2:])}, not {(rows, cols)}")
        table = table.permute(0, 2, 3, 1).reshape(1, rows * cols, -1).to(self.pos_embed.dtype)
        return torch.cat([self.pos_embed[:, :1], table], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, cols = x.shape[-2] // self.shape.patch, x.shape[-1] // self.shape.patch
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + self.positions(rows, cols)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]
