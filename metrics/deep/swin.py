"""Swin Transformer: a hierarchical vision transformer with shifted windows (shared backbone, no metric here).

Liu, Lin, Cao, Hu, Wei, Zhang, Lin & Guo, "Swin Transformer: Hierarchical Vision Transformer using Shifted
Windows", ICCV 2021.

Written from the paper; parameter names follow the layout of the published checkpoints that IQA models built on
Swin ship (timm's original Swin layout, as pyiqa's files hold it):

* ``patch_embed.proj`` (a p×p convolution of stride p) and ``patch_embed.norm``: non-overlapping patches become
  tokens of width C, then LayerNorm.
* ``layers.i`` (stage i): ``blocks.j`` (``norm1``, ``attn.qkv``, ``attn.proj``, ``attn.relative_position_bias_table``,
  ``norm2``, ``mlp.fc1``, ``mlp.fc2``), then, except in the last stage, ``downsample`` (patch merging: the 2×2
  neighbours concatenated in the order (0,0), (1,0), (0,1), (1,1) — row, column — ``norm`` over 4C channels and a
  bias-free ``reduction`` to 2C). Merging sits at the end of a stage in this layout, so stage i's output has
  already been halved (except the last).
* ``norm`` (the final LayerNorm) and, for a classifier, ``head``.

A block is pre-norm: window multi-head self-attention with a learnt relative position bias, residual; then an MLP
(GELU), residual. Odd blocks shift the windows by half a window (a cyclic roll of −⌊w/2⌋ before, +⌊w/2⌋ after);
the attention mask then adds −100 between tokens that came from different regions of the unrolled image. When a
stage's map is no larger than the window, its window is the map (and nothing is shifted). The relative position
index and the mask are computed here from the geometry; published files also carry them as buffers
(``attn.relative_position_index``, ``attn_mask``), which :meth:`SwinTransformer.geometry_buffer_keys` lists so
that loaders skip them.

The resolution is fixed at construction (``img_size``), as in the published models.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: Mask value between tokens of different regions of a shifted window (the paper's official constant).
MASKED = -100.0


@dataclass(frozen=True)
class SwinConfig:
    """One Swin variant: input size, patch size, width C of stage 1 (doubling per stage), depths, heads, window."""

    img_size: int
    patch_size: int
    embed_dim: int
    depths: tuple[int, ...]
    heads: tuple[int, ...]
    window: int
    mlp_ratio: float = 4.0

    def width(self, stage: int) -> int:
        return self.embed_dim * 2 ** stage

    def resolution(self, stage: int) -> int:
        return self.img_size // self.patch_size // 2 ** stage

    def stage_channels(self) -> tuple[int, ...]:
        """Channels of each stage's output (merging ends every stage but the last)."""
        last = len(self.depths) - 1
        return tuple(self.width(min(i + 1, last)) for i in range(len(self.depths)))


VARIANTS = {
    "swin_base_patch4_window12_384": SwinConfig(384, 4, 128, (2, 2, 18, 2), (4, 8, 16, 32), 12),
}


@functools.cache
def relative_position_index(window: int) -> torch.Tensor:
    """For each pair of tokens (i, j) of a window, the row of the bias table holding their offset:
    (Δy + w − 1)·(2w − 1) + (Δx + w − 1), with Δ = position(i) − position(j)."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + window - 1
    dx = xs[:, None] - xs[None, :] + window - 1
    return dy * (2 * window - 1) + dx


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """N×H×W×C → (N·windows)×(w·w)×C, windows in row-major order within each image."""
    n, h, w, c = x.shape
    x = x.view(n, h // window, window, w // window, window, c).transpose(2, 3)
    return x.reshape(-1, window * window, c)


def window_merge(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """The inverse of :func:`window_partition`: (N·windows)×(w·w)×C → N×H×W×C."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c).transpose(2, 3)
    return x.reshape(-1, h, w, c)


@functools.cache
def shifted_window_mask(resolution: tuple[int, int], window: int, shift: int) -> torch.Tensor:
    """windows×(w·w)×(w·w): 0 between tokens of the same region of the rolled map, −100 otherwise.

    After rolling by −shift, each axis has three regions: [0, L−w), [L−w, L−shift), [L−shift, L)."""
    h, w = resolution

    def regions(length: int) -> torch.Tensor:
        index = torch.arange(length)
        return (index >= length - window).long() + (index >= length - shift).long()

    labels = (regions(h)[:, None] * 3 + regions(w)[None, :]).float()
    labels = window_partition(labels.view(1, h, w, 1), window).squeeze(-1)  # windows×(w·w)
    same = labels[:, :, None] == labels[:, None, :]
    return torch.where(same, 0.0, MASKED)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, plus a learnt bias per head and relative offset."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.empty((2 * window - 1) ** 2, heads))

    def forward(self, windows: torch.Tensor, images: int, mask: torch.Tensor | None) -> torch.Tensor:
        """``windows``: (images·W)×T×C; ``mask``: W×T×T or None."""
        count, tokens, dim = windows.shape
        qkv = self.qkv(windows).view(images, count // images, tokens, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)  # each images×W×heads×T×d
        index = relative_position_index(self.window).to(windows.device)
        bias = self.relative_position_bias_table[index].permute(2, 0, 1)  # heads×T×T
        if mask is not None:
            bias = bias + mask.to(bias.dtype)[:, None]  # W×heads×T×T
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(-3, -2).reshape(count, tokens, dim))


class Mlp(nn.Module):
    """Linear, GELU, linear (``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """One (shifted-)window transformer block on N×(H·W)×C tokens of a fixed H×W map."""

    def __init__(self, dim: int, resolution: tuple[int, int], heads: int, window: int, shift: int,
                 mlp_hidden: int) -> None:
        super().__init__()
        if min(resolution) <= window:  # the whole map is one window: nothing to shift
            window, shift = min(resolution), 0
        self.resolution, self.window, self.shift = resolution, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (h, w), n, c = self.resolution, x.shape[0], x.shape[-1]
        y = self.norm1(x).view(n, h, w, c)
        mask = None
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
            mask = shifted_window_mask(self.resolution, self.window, self.shift).to(x.device)
        y = self.attn(window_partition(y, self.window), n, mask)
        y = window_merge(y, self.window, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(n, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2×2 neighbouring tokens concatenated ((0,0), (1,0), (0,1), (1,1)), LayerNorm, linear 4C → 2C (no bias)."""

    def __init__(self, dim: int, resolution: tuple[int, int]) -> None:
        super().__init__()
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (h, w), n, c = self.resolution, x.shape[0], x.shape[-1]
        x = x.view(n, h, w, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(n, -1, 4 * c)))


class SwinStage(nn.Module):
    """``blocks`` (alternately plain and shifted windows), then patch merging unless it is the last stage."""

    def __init__(self, config: SwinConfig, stage: int) -> None:
        super().__init__()
        dim, side = config.width(stage), config.resolution(stage)
        self.blocks = nn.Sequential(*[
            SwinBlock(dim, (side, side), config.heads[stage], config.window, config.window // 2 if j % 2 else 0,
                      int(dim * config.mlp_ratio))
            for j in range(config.depths[stage])
        ])
        last = stage == len(config.depths) - 1
        self.downsample = None if last else PatchMerging(dim, (side, side))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(x)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed(nn.Module):
    """p×p patches (a convolution of stride p) as tokens, then LayerNorm."""

    def __init__(self, config: SwinConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, config.embed_dim, config.patch_size, stride=config.patch_size)
        self.norm = nn.LayerNorm(config.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class SwinTransformer(nn.Module):
    """A Swin Transformer of one :class:`SwinConfig`; ``classes`` > 0 adds the classifier ``head``."""

    def __init__(self, config: SwinConfig, classes: int = 0) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbed(config)
        self.layers = nn.Sequential(*[SwinStage(config, i) for i in range(len(config.depths))])
        self.norm = nn.LayerNorm(config.width(len(config.depths) - 1))
        self.head = nn.Linear(self.norm.normalized_shape[0], classes) if classes else None

    def _check_size(self, x: torch.Tensor) -> None:
        size = self.config.img_size
        if tuple(x.shape[-2:]) != (size, size):
            raise ValueError(f"this Swin Transformer takes {size}×{size} images, got {tuple(x.shape[-2:])}")

    def stage_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's output (after its merging, if any) as an N×C×h×w map; no final norm."""
        self._check_size(x)
        n = x.shape[0]
        x = self.patch_embed(x)
        maps = []
        for stage in self.layers:
            x = stage(x)
            side = round(x.shape[1] ** 0.5)
            maps.append(x.transpose(1, 2).reshape(n, -1, side, side))
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of the final normalised tokens, through ``head`` where there is one."""
        self._check_size(x)
        pooled = self.norm(self.layers(self.patch_embed(x))).mean(dim=1)
        return pooled if self.head is None else self.head(pooled)

    def geometry_buffer_keys(self) -> tuple[str, ...]:
        """The published files' keys of the buffers computed here (index per block; mask per shifted block)."""
        keys = []
        for i, stage in enumerate(self.layers):
            for j, block in enumerate(stage.blocks):
                keys.append(f"layers.{i}.blocks.{j}.attn.relative_position_index")
                if block.shift:
                    keys.append(f"layers.{i}.blocks.{j}.attn_mask")
        return tuple(keys)


def swin(variant: str, classes: int = 0) -> SwinTransformer:
    """A Swin Transformer of a named variant (see :data:`VARIANTS`), its parameters to be filled from a file
    (build it with :func:`metrics.deep.nets.build_meta`)."""
    if variant not in VARIANTS:
        raise ValueError(f"Swin variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    return SwinTransformer(VARIANTS[variant], classes)
