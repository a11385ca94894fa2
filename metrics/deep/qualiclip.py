"""QualiCLIP and QualiCLIP+: image quality as a quality-aware CLIP's preference between antonym prompts.

Agnolucci, Galteri & Bertini, "Quality-Aware Image-Text Alignment for Real-World Image Quality Assessment",
arXiv 2403.11176, 2024 (the reference pyiqa 0.1.16 cites).

QualiCLIP fine-tunes CLIP RN50's image encoder, without any human opinion score, so that its similarity with
seven antonym prompt pairs ("Good photo."/"Bad photo.", "Sharp image."/"Blurry image.", "Sharp edges."/"Blurry
edges.", "High-resolution image."/"Low-resolution image.", "Noise-free image."/"Noisy image.",
"High-quality image."/"Low-quality image.", "Good picture."/"Bad picture.") ranks images by the amount of
synthetic degradation. The whole image (any size, no resizing) is standardised with CLIP's mean/std and encoded
(no positional embedding in the attention pool, as pyiqa runs it); its cosine similarity with each prompt's text
feature, times CLIP's logit scale, divided by a temperature of 2, gives one softmax per pair, and the score is the
mean probability of the positive prompt over the seven pairs (0…1, higher is better).

* ``qualiclip``: the text features of the 14 prompts are stored, precomputed, in the checkpoint
  (``prompts_features``).
* ``qualiclip+`` (KonIQ-10k), ``qualiclip+-clive``, ``qualiclip+-flive``, ``qualiclip+-spaq``: the same image
  encoder with prompts learnt on each dataset's opinion scores, as CLIP-IQA+ does: per prompt, 16 context vectors
  (``prompt_learner.ctx``, 14×16×512), half before and half after the prompt's own tokens, between the start token
  (``prompt_learner.token_prefix``) and the rest (``prompt_learner.token_suffix``), encoded by the checkpoint's
  text transformer once, when the metric is built.

Weights: pyiqa's ``QualiCLIP.pth`` (the fine-tuned CLIP RN50, text encoder included, under ``clip_model.`` or
without prefix, and ``prompts_features``) and, for QualiCLIP+, ``QualiCLIP+_koniq.pth``, ``QualiCLIP+_clive.pth``,
``QualiCLIP+_flive.pth``, ``QualiCLIP+_spaq.pth`` (``params``). OpenAI's ``RN50.pt``, which the reference reads
first and then overwrites, is not needed.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_clip.py); no
official values in the calibration table.
"""

from __future__ import annotations

import dataclasses

import torch

from metrics.deep.clip_trunk import (
    CLIP,
    antonym_preference,
    cosine_logits,
    learnt_prompt_embedding,
    load_clip,
    normalize,
    token_counts,
    tokenize,
)
from metrics.deep.common import DeepMetric
from metrics.deep.nets import unwrap
from metrics.deep.weights import LoadedWeights, WeightFile, WeightIntegrityError, tensor
from metrics.registry import Calibration, MetricSpec, Resources

PROMPTS = ("Good photo.", "Bad photo.", "Sharp image.", "Blurry image.", "Sharp edges.", "Blurry edges.",
           "High-resolution image.", "Low-resolution image.", "Noise-free image.", "Noisy image.",
           "High-quality image.", "Low-quality image.", "Good picture.", "Bad picture.")
TEMPERATURE = 2.0
CONTEXT_TOKENS = 16
PROMPT_FEATURES_KEY = "prompts_features"
CLIP_PREFIX = "clip_model."

CHECKPOINT = WeightFile("QualiCLIP.pth")
#: name → its learnt prompts (None: the checkpoint's precomputed prompt features)
VARIANTS: dict[str, WeightFile | None] = {
    "qualiclip": None,
    "qualiclip+": WeightFile("QualiCLIP+_koniq.pth"),
    "qualiclip+-clive": WeightFile("QualiCLIP+_clive.pth"),
    "qualiclip+-flive": WeightFile("QualiCLIP+_flive.pth"),
    "qualiclip+-spaq": WeightFile("QualiCLIP+_spaq.pth"),
}
WEIGHT_FILES = {name: (CHECKPOINT,) + ((prompts,) if prompts else ()) for name, prompts in VARIANTS.items()}


def _split_checkpoint(loaded: LoadedWeights) -> tuple[LoadedWeights, torch.Tensor]:
    """The CLIP tensors (prefix removed) and the precomputed prompt features of ``QualiCLIP.pth``."""
    state = dict(loaded.state_dict)
    features = state.pop(PROMPT_FEATURES_KEY, None)
    if not isinstance(features, torch.Tensor):
        raise WeightIntegrityError(f"{loaded.file.filename} ({loaded.path}) has no {PROMPT_FEATURES_KEY!r} tensor")
    state = {key.removeprefix(CLIP_PREFIX): value for key, value in state.items()}
    return dataclasses.replace(loaded, state_dict=state), features.float()


class QualiCLIP(DeepMetric):
    """QualiCLIP (``variant='qualiclip'``) or one of the QualiCLIP+ checkpoints."""

    def __init__(self, variant: str = "qualiclip", precision: str = "float32") -> None:
        super().__init__(precision)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        clip_tensors, features = _split_checkpoint(self.load_weights(CHECKPOINT))
        self.clip = load_clip(clip_tensors).requires_grad_(False)
        prompt_file = VARIANTS[variant]
        if prompt_file is not None:
            with torch.inference_mode():
                features = self._learnt_prompt_features(prompt_file)
        if tuple(features.shape) != (len(PROMPTS), self.clip.config.embed_dim):
            raise WeightIntegrityError(f"prompt features of shape {tuple(features.shape)}, expected "
                                       f"({len(PROMPTS)}, {self.clip.config.embed_dim})")
        self.register_buffer("text_features", features / features.norm(dim=-1, keepdim=True), persistent=False)

    def _learnt_prompt_features(self, prompt_file: WeightFile) -> torch.Tensor:
        clip: CLIP = self.clip
        params = unwrap(self.load_weights(prompt_file), "params")
        width = clip.config.text_width
        context = tensor(params, "prompt_learner.ctx", (len(PROMPTS), CONTEXT_TOKENS, width)).float()
        prefix = tensor(params, "prompt_learner.token_prefix").float()
        suffix = tensor(params, "prompt_learner.token_suffix").float()
        tokens = tokenize([" ".join(["X"] * CONTEXT_TOKENS) + " " + prompt for prompt in PROMPTS])
        embedded = learnt_prompt_embedding(prefix, context, suffix, token_counts(PROMPTS))
        return clip.encode_embedded_text(embedded, tokens.argmax(dim=-1))

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        x = normalize(dist)
        with self.autocast(x):
            features = self.clip.encode_image(x, positional=False)
        logits = cosine_logits(features.float(), self.text_features, self.clip.logit_scale)
        return antonym_preference(logits, TEMPERATURE)


_PAPER = ("Agnolucci, Galteri & Bertini, Quality-Aware Image-Text Alignment for Real-World Image Quality "
          "Assessment, arXiv 2403.11176, 2024")
#: measured by tests/deep/test_equivalence_clip.py (largest over random, odd-size and calibration inputs)
_MEASURED = {"qualiclip": "3.1e-7", "qualiclip+": "6.0e-7", "qualiclip+-clive": "2.7e-7", "qualiclip+-flive": "5.2e-7",
             "qualiclip+-spaq": "3.2e-7"}


def _spec(name: str) -> MetricSpec:
    return MetricSpec(
        name=name,
        mode="NR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 under identical random weights (max rel. diff {_MEASURED[name]}); "
                           "no official values",
        factory=QualiCLIP,
        options={"variant": name, "precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=2000),
    )


SPECS = tuple(_spec(name) for name in VARIANTS)
