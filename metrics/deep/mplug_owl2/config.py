"""The mPLUG-Owl2 architecture as a model repo's ``config.json`` states it (Hugging Face field names)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VisionConfig:
    """The ViT image encoder (``visual_config.visual_model``)."""

    hidden_size: int = 1024
    intermediate_size: int = 4096
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    image_size: int = 448
    patch_size: int = 14
    layer_norm_eps: float = 1e-6

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size


@dataclass(frozen=True)
class AbstractorConfig:
    """The visual abstractor (``visual_config.visual_abstractor``)."""

    num_learnable_queries: int = 64
    hidden_size: int = 1024
    num_hidden_layers: int = 6
    num_attention_heads: int = 16
    intermediate_size: int = 2816
    layer_norm_eps: float = 1e-6
    encoder_hidden_size: int = 1024
    grid_size: int = 32


@dataclass(frozen=True)
class LanguageConfig:
    """The LLaMA-2 decoder (top-level fields of ``config.json``)."""

    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int = 32
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0


@dataclass(frozen=True)
class MPLUGOwl2Config:
    language: LanguageConfig
    vision: VisionConfig
    abstractor: AbstractorConfig

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MPLUGOwl2Config:
        """From the parsed ``config.json``; fields it leaves out take the published 7B model's values."""
        if data.get("rope_scaling"):
            raise ValueError(f"mPLUG-Owl2 config: rope_scaling {data['rope_scaling']!r} is not supported")
        visual = data.get("visual_config") or {}
        heads = data.get("num_attention_heads", LanguageConfig.num_attention_heads)
        language = _pick(LanguageConfig, {**data, "num_key_value_heads": data.get("num_key_value_heads") or heads})
        return cls(language=language, vision=_pick(VisionConfig, visual.get("visual_model") or {}),
                   abstractor=_pick(AbstractorConfig, visual.get("visual_abstractor") or {}))


def _pick(kind: type, data: Mapping[str, Any]) -> Any:
    """``kind`` built from the fields of ``data`` it declares (None: the default)."""
    fields = kind.__dataclass_fields__
    return kind(**{key: value for key, value in data.items() if key in fields and value is not None})
