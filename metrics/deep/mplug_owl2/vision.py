"""The image side of mPLUG-Owl2: a CLIP-style ViT (448 px, 14 px patches) and the visual abstractor, whose learned
queries cross-attend to the ViT tokens and become the image's tokens in the language model.

Module and parameter names follow the published checkpoints (``model.vision_model.*``,
``model.visual_abstractor.*``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.mplug_owl2.config import AbstractorConfig, VisionConfig


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """B×L×C → B×heads×L×(C/heads)."""
    b, length, channels = x.shape
    return x.view(b, length, num_heads, channels // num_heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """B×heads×L×d → B×L×(heads·d)."""
    b, heads, length, dim = x.shape
    return x.transpose(1, 2).reshape(b, length, heads * dim)


def _attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Softmax attention of per-head tensors (B×heads×L×d), unmasked."""
    weights = torch.softmax(query @ key.transpose(-1, -2) / math.sqrt(query.shape[-1]), dim=-1)
    return weights @ value


# ------------------------------------------------------------------------------------------------ ViT encoder
class VisionEmbeddings(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        width = config.hidden_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.patch_embed = nn.Conv2d(3, width, config.patch_size, stride=config.patch_size, bias=False)
        self.position_embedding = nn.Parameter(torch.zeros(1, config.grid_size ** 2 + 1, width))
        self.pre_layernorm = nn.LayerNorm(width, eps=config.layer_norm_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(pixels).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(patches.shape[0], 1, -1).to(patches.dtype), patches], dim=1)
        tokens = tokens + self.position_embedding[:, : tokens.shape[1]].to(patches.dtype)
        return self.pre_layernorm(tokens)


class VisionAttention(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.query_key_value = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, width = x.shape
        # the packed projection is laid out head by head, each head holding its query, key and value
        qkv = self.query_key_value(x).view(b, length, self.num_heads, 3, width // self.num_heads)
        query, key, value = qkv.permute(3, 0, 2, 1, 4)
        return self.dense(_merge_heads(_attend(query, key, value)))


class QuickGELUMLP(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(x)
        return self.fc2(hidden * torch.sigmoid(1.702 * hidden))


class VisionLayer(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = VisionAttention(config)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = QuickGELUMLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class VisionEncoder(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(VisionLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class VisionModel(nn.Module):
    """Pixels (B×3×448×448, CLIP-standardised) → the layer-normed tokens of every patch and the class token."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.embeddings = VisionEmbeddings(config)
        self.encoder = VisionEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.post_layernorm(self.encoder(self.embeddings(pixels)))


# ------------------------------------------------------------------------------------------- visual abstractor
def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """Fixed sine-cosine embedding (MAE's): N positions → N×dim, sines then cosines of geometric frequencies."""
    frequencies = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float32) / (dim / 2))
    angles = positions.reshape(-1, 1).float() * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def sincos_2d_with_cls(dim: int, grid: int) -> torch.Tensor:
    """(1 + grid²)×dim: a zero row for the class token, then row-major grid cells, the first half of each embedding
    encoding the column and the second half the row."""
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    cells = torch.cat([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], dim=1)
    return torch.cat([torch.zeros(1, dim), cells], dim=0)


class AbstractorMultiHeadAttention(nn.Module):
    def __init__(self, config: AbstractorConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.encoder_hidden_size, config.hidden_size)
        self.value = nn.Linear(config.encoder_hidden_size, config.hidden_size)
        self.register_buffer("q_pos_embed", sincos_1d(config.hidden_size, torch.arange(config.num_learnable_queries)),
                             persistent=False)
        self.register_buffer("k_pos_embed", sincos_2d_with_cls(config.hidden_size, config.grid_size),
                             persistent=False)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``context`` is the queries followed by the image tokens; keys carry positions, values do not."""
        q_pos = self.q_pos_embed.to(queries.dtype)
        key_pos = torch.cat([q_pos, self.k_pos_embed.to(queries.dtype)], dim=0)
        query = _heads(self.query(queries + q_pos), self.num_heads)
        key = _heads(self.key(context + key_pos), self.num_heads)
        value = _heads(self.value(context), self.num_heads)
        return _merge_heads(_attend(query, key, value))


class AbstractorMLP(nn.Module):
    """SwiGLU with a layer norm before the down projection."""

    def __init__(self, config: AbstractorConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.w2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.w3 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_ln = nn.LayerNorm(config.intermediate_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(self.ffn_ln(F.silu(self.w1(x)) * self.w3(x)))


class AbstractorOutput(nn.Module):
    def __init__(self, config: AbstractorConfig) -> None:
        super().__init__()
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm2 = nn.LayerNorm(config.hidden_size)  # PyTorch's default eps (1e-5), as published
        self.mlp = AbstractorMLP(config)

    def forward(self, attended: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        x = residual + self.out_proj(attended)
        return x + self.mlp(self.norm2(x))


class AbstractorCrossAttention(nn.Module):
    def __init__(self, config: AbstractorConfig) -> None:
        super().__init__()
        self.attention = AbstractorMultiHeadAttention(config)
        self.output = AbstractorOutput(config)
        self.norm1 = nn.LayerNorm(config.hidden_size)  # default eps, as published
        self.normk = nn.LayerNorm(config.hidden_size)

    def forward(self, queries: torch.Tensor, image_tokens: torch.Tensor) -> torch.Tensor:
        queries = self.norm1(queries)  # the residual path starts from the normed queries
        context = torch.cat([queries, self.normk(image_tokens)], dim=1)
        return self.output(self.attention(queries, context), queries)


class AbstractorLayer(nn.Module):
    def __init__(self, config: AbstractorConfig) -> None:
        super().__init__()
        self.crossattention = AbstractorCrossAttention(config)

    def forward(self, queries: torch.Tensor, image_tokens: torch.Tensor) -> torch.Tensor:
        return self.crossattention(queries, image_tokens)


class AbstractorEncoder(nn.Module):
    def __init__(self, config: AbstractorConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(AbstractorLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, queries: torch.Tensor, image_tokens: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            queries = layer(queries, image_tokens)
        return queries


class VisualAbstractor(nn.Module):
    """ViT tokens (B×L×C) → B×(queries + 1)×(LLM width): the projected queries, then the end-of-image token."""

    def __init__(self, config: AbstractorConfig, language_width: int) -> None:
        super().__init__()
        self.encoder = AbstractorEncoder(config)
        self.visual_fc = nn.Linear(config.hidden_size, language_width)
        self.query_embeds = nn.Parameter(torch.zeros(1, config.num_learnable_queries, config.hidden_size))
        self.vit_eos = nn.Parameter(torch.zeros(1, 1, language_width))

    def forward(self, image_tokens: torch.Tensor) -> torch.Tensor:
        b = image_tokens.shape[0]
        queries = self.encoder(self.query_embeds.expand(b, -1, -1).to(image_tokens.dtype), image_tokens)
        return torch.cat([self.visual_fc(queries), self.vit_eos.expand(b, -1, -1).to(image_tokens.dtype)], dim=1)
