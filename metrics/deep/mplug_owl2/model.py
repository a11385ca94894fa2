"""The assembled mPLUG-Owl2 and its loading from a Hugging Face model repo's files.

A repo holds ``config.json`` (the architecture), the LLaMA ``tokenizer.model`` and ``tokenizer_config.json``, and
the checkpoint as shards named by an index (``pytorch_model.bin.index.json`` → ``weight_map``). Every file goes
through the weight store (:mod:`metrics.deep.weights`), so each one's sha256 enters the metric's cell key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.mplug_owl2.config import MPLUGOwl2Config
from metrics.deep.mplug_owl2.language import LanguageModel
from metrics.deep.mplug_owl2.prompt import IMAGE_TOKEN, PromptTokenizer
from metrics.deep.mplug_owl2.vision import (
    VisionModel,
    VisualAbstractor,
    sincos_1d,
    sincos_2d_with_cls,
)
from metrics.deep.weights import (
    LoadedWeights,
    WeightFile,
    WeightIntegrityError,
    load_module,
)

#: Checkpoint entries that are computed, not learned (fixed position tables), and are not loaded.
_COMPUTED = ("rotary_emb.inv_freq", "q_pos_embed", "k_pos_embed")


class Body(LanguageModel):
    """The language model with the image encoder and abstractor beside it (``model.*`` in the checkpoint)."""

    def __init__(self, config: MPLUGOwl2Config) -> None:
        super().__init__(config.language)
        self.vision_model = VisionModel(config.vision)
        self.visual_abstractor = VisualAbstractor(config.abstractor, config.language.hidden_size)


class MPLUGOwl2(nn.Module):
    def __init__(self, config: MPLUGOwl2Config) -> None:
        super().__init__()
        self.config = config
        self.model = Body(config)
        self.lm_head = nn.Linear(config.language.hidden_size, config.language.vocab_size, bias=False)

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """N×3×S×S standardised pixels → N×(queries + 1)×C tokens for the language model."""
        return self.model.visual_abstractor(self.model.vision_model(pixels))

    def next_token_logits(self, ids: Sequence[int], pixels: torch.Tensor) -> torch.Tensor:
        """Logits (B×vocab) of the token after prompt ``ids`` for B samples; ``pixels`` is B×K×3×S×S, image k of a
        sample filling the prompt's k-th :data:`IMAGE_TOKEN`."""
        batch, per_sample = pixels.shape[:2]
        images = self.image_tokens(pixels.flatten(0, 1)).unflatten(0, (batch, per_sample))
        return self.next_token_logits_from_image_tokens(ids, images)

    def next_token_logits_from_image_tokens(self, ids: Sequence[int], images: torch.Tensor) -> torch.Tensor:
        """As :meth:`next_token_logits`, from the images' tokens (B×K×T×C, of :meth:`image_tokens`), so that a
        fixed image's tokens can be computed once."""
        per_sample = images.shape[1]
        placeholders = [i for i, token in enumerate(ids) if token == IMAGE_TOKEN]
        if len(placeholders) != per_sample:
            raise ValueError(f"the prompt has {len(placeholders)} image placeholders but {per_sample} images a sample")
        batch, dtype, device = images.shape[0], images.dtype, images.device
        pieces, modality, start, k = [], [], 0, 0
        for stop in [*placeholders, len(ids)]:
            text = torch.tensor(ids[start:stop], dtype=torch.long, device=device)
            if text.numel():
                pieces.append(self.model.embed_tokens(text).to(dtype).expand(batch, -1, -1))
                modality.append(torch.zeros(text.numel(), dtype=torch.long, device=device))
            if stop < len(ids):
                pieces.append(images[:, k])
                modality.append(torch.ones(images.shape[2], dtype=torch.long, device=device))
                k += 1
            start = stop + 1
        embeddings = torch.cat(pieces, dim=1)
        hidden = self.model(embeddings, torch.cat(modality).expand(batch, -1))
        return self.lm_head(hidden[:, -1])


@dataclass(frozen=True)
class RepoFiles:
    """The files of an mPLUG-Owl2 model repo that a metric loads; ``tokenizer_repo_id`` names another repo whose
    tokenizer the metric uses (Compare2Score reads its tokenizer from a second repo), None: this one's."""

    repo_id: str
    shards: tuple[str, ...]
    index: str = "pytorch_model.bin.index.json"
    tokenizer_repo_id: str | None = None

    _TOKENIZER_FILES = ("tokenizer.model", "tokenizer_config.json")

    def _file(self, name: str) -> WeightFile:
        if name in self._TOKENIZER_FILES and self.tokenizer_repo_id:
            return WeightFile(name, repo_id=self.tokenizer_repo_id)
        return WeightFile(name, repo_id=self.repo_id)

    def all(self) -> tuple[WeightFile, ...]:
        names = ("config.json", *self._TOKENIZER_FILES, self.index, *self.shards)
        return tuple(self._file(name) for name in names)

    def load(self, metric: DeepMetric, dtype: torch.dtype) -> tuple[MPLUGOwl2, PromptTokenizer]:
        """The model (in ``dtype``, evaluation mode, frozen) and the tokenizer, every file checked by the weight
        store and its sha256 recorded in ``metric.weight_sha256``."""
        config_path = metric.weight_path(self._file("config.json"))
        config = MPLUGOwl2Config.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        tokenizer = PromptTokenizer(metric.weight_path(self._file("tokenizer.model")),
                                    metric.weight_path(self._file("tokenizer_config.json")))
        index_path = metric.weight_path(self._file(self.index))
        weight_map: dict[str, str] = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
        unknown = sorted(set(weight_map.values()) - set(self.shards))
        if unknown:
            raise WeightIntegrityError(f"{self.repo_id}/{self.index} names shards {unknown}, expected {self.shards}")
        state: dict[str, torch.Tensor] = {}
        for shard in self.shards:
            loaded = metric.load_weights(self._file(shard))
            state.update({key: value.to(dtype) for key, value in loaded.state_dict.items()
                          if not key.endswith(_COMPUTED)})
            del loaded
        missing = sorted(key for key in weight_map if key not in state and not key.endswith(_COMPUTED))
        if missing:
            raise WeightIntegrityError(f"{self.repo_id}: tensors {missing[:5]} are in the index but in no shard")
        with torch.device("meta"):
            model = MPLUGOwl2(config)
        combined = LoadedWeights(file=self._file(self.index), path=index_path, sha256="", verified=True,
                                 state_dict=state)
        load_module(model, combined, assign=True)
        _rebuild_buffers(model, config)
        return model.eval().requires_grad_(False), tokenizer


def _rebuild_buffers(model: MPLUGOwl2, config: MPLUGOwl2Config) -> None:
    """The fixed position tables, which a module built on the meta device lacks."""
    abstractor = config.abstractor
    for layer in model.model.visual_abstractor.encoder.layers:
        attention = layer.crossattention.attention
        attention.q_pos_embed = sincos_1d(abstractor.hidden_size, torch.arange(abstractor.num_learnable_queries))
        attention.k_pos_embed = sincos_2d_with_cls(abstractor.hidden_size, abstractor.grid_size)
