"""Prompts for mPLUG-Owl2: LLaMA SentencePiece tokens, with ``<|image|>`` marking where an image's tokens go.

The tokenizer is the model repo's ``tokenizer.model`` read by ``sentencepiece`` (the library LLaMA's tokenizer was
made with); whether a prompt starts with the begin-of-sequence token is the repo's ``tokenizer_config.json``
``add_bos_token`` (absent: no, as the ``transformers`` 5 LlamaTokenizer that pyiqa 0.1.16 uses).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

#: The placeholder in a prompt's text and its id among the token ids (not a vocabulary entry).
IMAGE_PLACEHOLDER = "<|image|>"
IMAGE_TOKEN = -200


class PromptTokenizer:
    def __init__(self, model_file: Path, config_file: Path | None = None) -> None:
        import sentencepiece

        self.processor = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        settings = json.loads(Path(config_file).read_text(encoding="utf-8")) if config_file else {}
        self.add_bos = bool(settings.get("add_bos_token", False))

    def encode(self, text: str) -> list[int]:
        return list(self.processor.encode(text))

    def prompt_ids(self, prompt: str) -> list[int]:
        """The ids of ``prompt``, each text piece tokenised on its own and :data:`IMAGE_TOKEN` at each placeholder."""
        ids = [self.processor.bos_id()] if self.add_bos else []
        for index, piece in enumerate(prompt.split(IMAGE_PLACEHOLDER)):
            if index:
                ids.append(IMAGE_TOKEN)
            if piece:
                ids.extend(self.encode(piece))
        return ids

    def word_ids(self, words: Sequence[str]) -> list[int]:
        """The id each word ends with (the token the model predicts to say it)."""
        return [self.encode(word)[-1] for word in words]
