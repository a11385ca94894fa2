"""A reduced Q-Align model repo (``q-future/one-align`` layout) with random weights, for the bench and the
equivalence test.

What is reduced, all else being the published architecture: widths (LLaMA 64, ViT and abstractor 48), depths
(2 layers each), heads (4), 8 learned queries, 56×56 input images (a 4×4 grid of 14 px patches) and the
vocabulary (a 400-piece SentencePiece BPE model with byte fallback and LLaMA's normaliser settings, trained here
on the prompts). The files have the published names: ``config.json``, ``tokenizer.model``,
``tokenizer_config.json``, ``pytorch_model.bin.index.json`` and two shards.
"""

from __future__ import annotations

import io
import json
from typing import Any

import torch

from tests._helpers.random_weights import _random

REPO_ID = "q-future/one-align"

REDUCED_CONFIG: dict[str, Any] = {
    "model_type": "mplug_owl2",
    "vocab_size": 400,
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "max_position_embeddings": 2048,
    "visual_config": {
        "visual_model": {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
                         "num_attention_heads": 4, "image_size": 56, "patch_size": 14, "layer_norm_eps": 1e-6},
        "visual_abstractor": {"num_learnable_queries": 8, "hidden_size": 48, "num_hidden_layers": 2,
                              "num_attention_heads": 4, "intermediate_size": 80, "layer_norm_eps": 1e-6,
                              "encoder_hidden_size": 48, "grid_size": 4},
    },
}
TOKENIZER_CONFIG = {"add_bos_token": True, "add_eos_token": False, "tokenizer_class": "LlamaTokenizer"}
SHARDS = ("pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin")

_CORPUS = ("USER: How would you rate the quality of this image?", "ASSISTANT: The quality of the image is",
           "How would you rate the aesthetics of this image? The aesthetics of the image is",
           "excellent good fair poor bad")


def tokenizer_model(corpus: tuple[str, ...] = _CORPUS) -> bytes:
    """A small LLaMA-style SentencePiece model (BPE, byte fallback, identity normaliser, dummy prefix)."""
    import sentencepiece

    out = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus * 20), model_writer=out, vocab_size=REDUCED_CONFIG["vocab_size"],
        model_type="bpe", byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, split_digits=True, num_threads=1, minloglevel=2)
    return out.getvalue()


def random_state(seed: int = 40, scales: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    """Random tensors for every learned parameter of the reduced model, by the key names of the checkpoint;
    ``scales`` multiplies the named tensors (a sharper output head)."""
    from metrics.deep.mplug_owl2.config import MPLUGOwl2Config
    from metrics.deep.mplug_owl2.model import MPLUGOwl2

    with torch.device("meta"):
        model = MPLUGOwl2(MPLUGOwl2Config.from_dict(REDUCED_CONFIG))
    gen = torch.Generator().manual_seed(seed)
    state = {key: _random(key, tuple(value.shape), gen) for key, value in model.state_dict().items()}
    for key, scale in (scales or {}).items():
        state[key] = state[key] * scale
    return state


def _halves(state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    keys = sorted(state)
    return keys[:len(keys) // 2], keys[len(keys) // 2:]


def _shard(index: int, seed: int, scales: dict[str, float] | None) -> dict[str, torch.Tensor]:
    state = random_state(seed, scales)
    return {key: state[key] for key in _halves(state)[index]}


def _index(seed: int) -> bytes:
    halves = _halves(random_state(seed))
    weight_map = {key: SHARDS[index] for index, keys in enumerate(halves) for key in keys}
    return json.dumps({"metadata": {}, "weight_map": weight_map}).encode()


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def model_repo_files(repo_id: str, seed: int, corpus: tuple[str, ...], tokenizer_repo_id: str | None = None,
                     scales: dict[str, float] | None = None) -> dict[str, tuple[str, Any]]:
    """"<repo>/<file name>" → ("hf-repo", generator): a reduced mPLUG-Owl2 model repo with random weights
    (``seed``), its tokenizer trained on ``corpus`` and kept in ``tokenizer_repo_id`` (None: the same repo)."""
    tokenizer_repo = tokenizer_repo_id or repo_id
    return {
        f"{repo_id}/config.json": ("hf-repo", lambda: _json(REDUCED_CONFIG)),
        f"{tokenizer_repo}/tokenizer.model": ("hf-repo", lambda: tokenizer_model(corpus)),
        f"{tokenizer_repo}/tokenizer_config.json": ("hf-repo", lambda: _json(TOKENIZER_CONFIG)),
        f"{repo_id}/pytorch_model.bin.index.json": ("hf-repo", lambda: _index(seed)),
        f"{repo_id}/{SHARDS[0]}": ("hf-repo", lambda: _shard(0, seed, scales)),
        f"{repo_id}/{SHARDS[1]}": ("hf-repo", lambda: _shard(1, seed, scales)),
    }


#: The files of a model repo other than pyiqa's weights repo.
FILES_QALIGN = model_repo_files(REPO_ID, 40, _CORPUS)
