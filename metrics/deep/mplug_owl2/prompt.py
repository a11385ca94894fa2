"""Prompts for mPLUG-Owl2: LLaMA SentencePiece tokens, with ``<|image|>`` marking where an image's tokens go.

The tokenizer is the model repo's ``tokenizer.model`` read by ``sentencepiece`` (the library LLaMA's tokenizer was
made with); whether a prompt starts with the begin-of-sequence token is the repo's ``tokenizer_config.json``
``add_bos_token`` (absent: no, as the ``transformers`` 5 LlamaTokenizer that pyiqa 0.1.16 uses). As that
tokenizer does, a text gets SentencePiece's "▁" word-start prefix only when it does not start with a space already
(``" Compared"`` is ``"▁Compared"``, not ``"▁▁Compared"``; a lone space is one ``"▁"``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

#: The placeholder in a prompt's text and its id among the token ids (not a vocabulary entry).
IMAGE_PLACEHOLDER = "<|image|>"
IMAGE_TOKEN = -200
#: SentencePiece's word-start mark (a space).
WORD_START = "\u2581"


class PromptTokenizer:
    def __init__(self, model_file: Path, config_file: Path | None = None) -> None:
        import sentencepiece

        self.processor = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        settings = json.loads(Path(config_file).read_text(encoding="utf-8")) if config_file else {}
        self.add_bos = bool(settings.get("add_bos_token", False))

    def encode(self, text: str) -> list[int]:
        if text.startswith(" "):  # its space is the word-start prefix the processor would add
            rest = text[1:]
            return list(self.processor.encode(rest)) if rest else [self.processor.piece_to_id(WORD_START)]
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

    def word_ids_at(self, words: Sequence[str], position: int) -> list[int]:
        """The id at ``position`` of each word tokenised as a whole text, the begin-of-sequence token first where
        the tokenizer adds one (Compare2Score reads its answer words at position 1)."""
        start = [self.processor.bos_id()] if self.add_bos else []
        return [(start + self.encode(word))[position] for word in words]
