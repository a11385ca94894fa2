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

The ViT itself is the shared builder :mod:`metrics.deep.vit` (with LayerScale); the sizes are read off the
checkpoint's tensors (width, depth, patch, grid, MLP width), so a reduced model of the same layout loads too (the
tests use one).

Weights: the official ``dinov2_vitl14_pretrain.pth`` (https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/), the
file ``torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14')`` — and so pyiqa's ``fid_dinov2`` — downloads
into ``$TORCH_HOME/hub/checkpoints``; a pyiqa user already has it there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.vit import VisionTransformer, ViTShape
from metrics.deep.weights import LoadedWeights, load_module

POSITION_OFFSET = 0.1

__all__ = ["DINOv2", "ViTShape"]


class DINOv2(VisionTransformer):
    """The DINOv2 ViT; ``forward`` maps N×3×H×W standardised images to the N×width normalised class tokens."""

    def __init__(self, shape: ViTShape) -> None:
        super().__init__(shape)
        self.mask_token = nn.Parameter(torch.zeros(1, shape.width))  # for masked training; unused here

    @classmethod
    def from_weights(cls, loaded: LoadedWeights) -> DINOv2:
        with torch.device("meta"):
            model = cls(ViTShape.of(loaded.state_dict, loaded.file.filename))
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
        return super().forward(x)[:, 0]
