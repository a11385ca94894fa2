"""mPLUG-Owl2, the vision-language model behind Q-Align and Compare2Score, written from its public description.

Ye et al., "mPLUG-Owl2: Revolutionizing Multi-modal Large Language Model with Modality Collaboration", CVPR 2024.

* :mod:`.config` — the architecture read from the model repo's ``config.json``;
* :mod:`.vision` — the ViT-L/14 image encoder and the visual abstractor (64 learned queries → LLM tokens);
* :mod:`.language` — LLaMA-2 with modality-adaptive modules (separate key/value projections and norms for image
  tokens);
* :mod:`.prompt` — the LLaMA SentencePiece tokenizer and the image placeholder in a prompt;
* :mod:`.model` — the assembled model and its loading from the repo's sharded checkpoint.
"""
