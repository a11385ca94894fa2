"""pyiqa's mPLUG-Owl2 (Q-Align's or Compare2Score's module), built offline from the seeded reduced configuration
for the equivalence tests: its tokenizer and image processor read from the seeded files, and the one attribute
transformers 5 no longer gives the visual abstractor (``invert_attention_mask``) put back."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from tests._helpers.random_weights_qalign import REDUCED_CONFIG, SHARDS


def pyiqa_owl2(owl2: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokenizer: dict[str, Path],
               config: Path, shards: dict[str, Path]) -> tuple[torch.nn.Module, Any]:
    """(model, image processor): ``owl2``'s ``MPLUGOwl2LlamaForCausalLM`` from ``config`` with the weights of the
    seeded ``shards`` (by file name), eager attention, in eval mode; ``tokenizer``: the seeded tokenizer files by
    name."""
    from pyiqa.archs.q_align.configuration_mplug_owl2 import MPLUGOwl2Config
    from transformers import CLIPImageProcessor
    from transformers.models.llama import LlamaTokenizer

    tokenizer_dir = tmp_path / "tokenizer"
    tokenizer_dir.mkdir()
    for name in ("tokenizer.model", "tokenizer_config.json"):
        (tokenizer_dir / name).write_bytes(tokenizer[name].read_bytes())
    size = REDUCED_CONFIG["visual_config"]["visual_model"]["image_size"]
    processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                   resample=3)

    class LocalTokenizer:
        @staticmethod
        def from_pretrained(*args, **kwargs):
            return LlamaTokenizer.from_pretrained(str(tokenizer_dir))

    class LocalProcessor:
        @staticmethod
        def from_pretrained(*args, **kwargs):
            return processor

    def invert_attention_mask(self, mask: torch.Tensor) -> torch.Tensor:
        extended = mask[:, None, None, :].to(self.dtype)
        return (1.0 - extended) * torch.finfo(self.dtype).min

    monkeypatch.setattr(owl2.MplugOwlVisualAbstractorModel, "invert_attention_mask", invert_attention_mask,
                        raising=False)
    monkeypatch.setattr(owl2, "LlamaTokenizer", LocalTokenizer)
    monkeypatch.setattr(owl2, "CLIPImageProcessor", LocalProcessor)
    configuration = MPLUGOwl2Config(**json.loads(config.read_text()))
    configuration._attn_implementation = "eager"
    model = owl2.MPLUGOwl2LlamaForCausalLM(configuration)
    state = {}
    for shard in SHARDS:
        state.update(torch.load(shards[shard], weights_only=True))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(key.endswith(("q_pos_embed", "k_pos_embed")) for key in missing), missing
    return model.eval(), processor
