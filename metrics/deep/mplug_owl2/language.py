"""LLaMA-2 with mPLUG-Owl2's modality-adaptive modules: each decoder layer has two key projections, two value
projections and two of each RMS norm, one for text tokens (modality 0) and one for image tokens (modality 1);
queries, outputs and the MLP are shared. Module names follow the published checkpoints (``model.layers.*``,
``…k_proj.multiway.{0,1}``, ``lm_head``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.mplug_owl2.config import LanguageConfig


class RMSNorm(nn.Module):
    def __init__(self, width: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wide = x.float()
        normed = wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


class ByModality(nn.Module):
    """Two copies of a module: token t goes through ``multiway[modality[t]]``."""

    def __init__(self, make: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.multiway = nn.ModuleList([make(), make()])

    def forward(self, x: torch.Tensor, modality: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor | None = None
        for index, module in enumerate(self.multiway):
            where = modality == index
            if not bool(where.any()):
                continue
            part = module(x[where])
            if out is None:
                out = x.new_empty(*x.shape[:-1], part.shape[-1])
            out[where] = part
        assert out is not None, "empty sequence"
        return out


def rotary_tables(head_dim: int, length: int, theta: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (length×head_dim) of rotary position embeddings for positions 0…length-1."""
    frequencies = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim)
    angles = torch.arange(length, device=device).float()[:, None] * frequencies[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    turned = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + turned * sin


class Attention(nn.Module):
    def __init__(self, config: LanguageConfig) -> None:
        super().__init__()
        width, heads, kv_heads = config.hidden_size, config.num_attention_heads, config.num_key_value_heads
        self.num_heads, self.num_kv_heads, self.head_dim = heads, kv_heads, width // heads
        self.q_proj = nn.Linear(width, heads * self.head_dim, bias=False)
        self.k_proj = ByModality(lambda: nn.Linear(width, kv_heads * self.head_dim, bias=False))
        self.v_proj = ByModality(lambda: nn.Linear(width, kv_heads * self.head_dim, bias=False))
        self.o_proj = nn.Linear(heads * self.head_dim, width, bias=False)

    def forward(self, x: torch.Tensor, modality: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor],
                causal_mask: torch.Tensor) -> torch.Tensor:
        b, length, _ = x.shape
        query = self.q_proj(x).view(b, length, self.num_heads, self.head_dim).transpose(1, 2)
        key = self.k_proj(x, modality).view(b, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        value = self.v_proj(x, modality).view(b, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        cos, sin = (t.to(x.dtype) for t in rotary)
        query, key = _rotate(query, cos, sin), _rotate(key, cos, sin)
        repeat = self.num_heads // self.num_kv_heads
        key, value = key.repeat_interleave(repeat, dim=1), value.repeat_interleave(repeat, dim=1)
        scores = query @ key.transpose(-1, -2) / math.sqrt(self.head_dim) + causal_mask.to(x.dtype)
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(x.dtype)
        attended = (weights @ value).transpose(1, 2).reshape(b, length, -1)
        return self.o_proj(attended)


class MLP(nn.Module):
    def __init__(self, config: LanguageConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, config: LanguageConfig) -> None:
        super().__init__()
        norm = lambda: RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.mlp = MLP(config)
        self.input_layernorm = ByModality(norm)
        self.post_attention_layernorm = ByModality(norm)

    def forward(self, x: torch.Tensor, modality: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor],
                causal_mask: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x, modality), modality, rotary, causal_mask)
        return x + self.mlp(self.post_attention_layernorm(x, modality))


class LanguageModel(nn.Module):
    """Token embeddings (B×L×C) with each token's modality (B×L, 0 text / 1 image) → final hidden states."""

    def __init__(self, config: LanguageConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, embeddings: torch.Tensor, modality: torch.Tensor) -> torch.Tensor:
        length = embeddings.shape[1]
        head_dim = self.config.hidden_size // self.config.num_attention_heads
        rotary = rotary_tables(head_dim, length, self.config.rope_theta, embeddings.device)
        future = torch.ones(length, length, dtype=torch.bool, device=embeddings.device).triu(1)
        causal_mask = torch.zeros(length, length, device=embeddings.device).masked_fill(
            future, torch.finfo(embeddings.dtype).min)
        x = embeddings
        for layer in self.layers:
            x = layer(x, modality, rotary, causal_mask)
        return self.norm(x)
