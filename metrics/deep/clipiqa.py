"""CLIP-IQA and CLIP-IQA+: image quality as CLIP's preference between antonym prompts.

Wang, Chan & Loy, "Exploring CLIP for Assessing the Look and Feel of Images", AAAI 2023.

The whole image (any size, no resizing) is standardised with CLIP's mean/std and encoded by a CLIP image encoder
(:mod:`metrics.deep.clip_trunk`); its cosine similarity with each prompt's text feature, times CLIP's logit scale,
gives one softmax per antonym pair, and the score is the mean probability of the positive prompt (0…1, higher
is better).

* ``clipiqa``: OpenAI's RN50; the five pairs pyiqa assembles ("Good image"/"bad image", "Sharp image"/"blurry
  image", "sharp edges"/"blurry edges", "High resolution image"/"low resolution image", "Noise-free image"/"noisy
  image"), no positional embedding in the attention pool (pyiqa's default).
* ``clipiqa+``: RN50 with the paper's learnt prompt pair ("Good photo." / "Bad photo." each with 16 learnt
  context vectors, half before and half after the three class-name tokens): the context vectors are pyiqa's
  ``CLIP-IQA+_learned_prompts-603f3273.pth`` (one bare tensor); the start, class-name and end token embeddings
  come from CLIP's token embedding of ``"X X … X Good photo.."`` (16 ``X``).
* ``clipiqa+_vitL14_512`` (ViT-L/14) and ``clipiqa+_rn50_512`` (RN50): prompts trained at 512 px, positional
  embeddings resized to the image; the context vectors and the start/class/end token embeddings are in the
  checkpoints (``params``: ``prompt_learner.ctx``, ``.token_prefix``, ``.token_suffix``):
  ``CLIPIQA+_ViTL14_512-e66488f2.pth``, ``CLIPIQA+_RN50_512-89f5d940.pth``.

The prompts' text features are computed once, when the metric is built.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_clip.py); no
official values in the calibration table.
"""

from __future__ import annotations

import torch

from metrics.deep import clip_trunk
from metrics.deep.clip_trunk import (
    CLIP,
    antonym_preference,
    cosine_logits,
    learnt_prompt_embedding,
    load_clip,
    normalize,
    tokenize,
)
from metrics.deep.common import DeepMetric
from metrics.deep.nets import unwrap
from metrics.deep.weights import (
    BARE_TENSOR_KEY,
    WeightFile,
    WeightIntegrityError,
    tensor,
)
from metrics.registry import Calibration, MetricSpec, Resources

PROMPT_PAIRS = ("Good image", "bad image", "Sharp image", "blurry image", "sharp edges", "blurry edges",
                "High resolution image", "low resolution image", "Noise-free image", "noisy image")
CONTEXT_TOKENS = 16
CLASS_TOKENS = 3  # "good", "photo", "." (the second "." stays in the suffix)
LEARNT_PROMPTS = tuple(" ".join(["X"] * CONTEXT_TOKENS) + " " + name for name in ("Good photo..", "Bad photo.."))

#: name → (backbone, positional embedding, prompt file or None for the hand-written pairs)
VARIANTS: dict[str, tuple[str, bool, WeightFile | None]] = {
    "clipiqa": ("RN50", False, None),
    "clipiqa+": ("RN50", False, WeightFile("CLIP-IQA+_learned_prompts-603f3273.pth")),
    "clipiqa+_vitL14_512": ("ViT-L/14", True, WeightFile("CLIPIQA+_ViTL14_512-e66488f2.pth")),
    "clipiqa+_rn50_512": ("RN50", True, WeightFile("CLIPIQA+_RN50_512-89f5d940.pth")),
}
WEIGHT_FILES = {name: (clip_trunk.openai_file(backbone),) + ((prompts,) if prompts else ())
                for name, (backbone, _, prompts) in VARIANTS.items()}


class CLIPIQA(DeepMetric):
    """CLIP-IQA (``variant='clipiqa'``) or one of the CLIP-IQA+ checkpoints."""

    def __init__(self, variant: str = "clipiqa", precision: str = "float32") -> None:
        super().__init__(precision)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        backbone, self.positional, prompt_file = VARIANTS[variant]
        self.clip = load_clip(self.load_weights(clip_trunk.openai_file(backbone))).requires_grad_(False)
        with torch.inference_mode():
            if prompt_file is None:
                features = self.clip.encode_text(tokenize(PROMPT_PAIRS))
            else:
                features = self._learnt_prompt_features(prompt_file)
        self.register_buffer("text_features", features / features.norm(dim=-1, keepdim=True), persistent=False)

    def _learnt_prompt_features(self, prompt_file: WeightFile) -> torch.Tensor:
        clip: CLIP = self.clip
        tokens = tokenize(LEARNT_PROMPTS)
        loaded = self.load_weights(prompt_file)
        if BARE_TENSOR_KEY in loaded.state_dict:  # CLIP-IQA+: only the context vectors
            context = loaded.state_dict[BARE_TENSOR_KEY]
            embedded = clip.token_embedding(tokens)
            prefix, suffix = embedded[:, :1], embedded[:, 1 + CONTEXT_TOKENS:]
        else:
            params = unwrap(loaded, "params")
            context = tensor(params, "prompt_learner.ctx")
            prefix, suffix = tensor(params, "prompt_learner.token_prefix"), tensor(params, "prompt_learner.token_suffix")
        width = clip.config.text_width
        context = context.float()
        if context.dim() == 2:
            context = context.expand(len(LEARNT_PROMPTS), -1, -1)
        if tuple(context.shape) != (len(LEARNT_PROMPTS), CONTEXT_TOKENS, width):
            raise WeightIntegrityError(f"{prompt_file.filename}: context vectors of shape {tuple(context.shape)}, "
                                       f"expected ({len(LEARNT_PROMPTS)}, {CONTEXT_TOKENS}, {width})")
        embedded = learnt_prompt_embedding(prefix.float(), context, suffix.float(),
                                           [CLASS_TOKENS] * len(LEARNT_PROMPTS))
        return clip.encode_embedded_text(embedded, tokens.argmax(dim=-1))

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        x = normalize(dist)
        with self.autocast(x):
            features = self.clip.encode_image(x, self.positional)
        logits = cosine_logits(features.float(), self.text_features, self.clip.logit_scale)
        return antonym_preference(logits)


_PAPER = "Wang, Chan & Loy, Exploring CLIP for Assessing the Look and Feel of Images, AAAI 2023"
#: measured by tests/deep/test_equivalence_clip.py (largest over random, odd-size and calibration inputs)
_MEASURED = {"clipiqa": "1.0e-6", "clipiqa+": "1.8e-6", "clipiqa+_vitL14_512": "2.4e-6", "clipiqa+_rn50_512": "1.8e-6"}
_RESOURCES = {"ViT-L/14": Resources(num_cpus=1, num_gpus=0.5, memory_mb=6000),
              "RN50": Resources(num_cpus=1, num_gpus=0.25, memory_mb=2000)}


def _spec(name: str) -> MetricSpec:
    backbone = VARIANTS[name][0]
    return MetricSpec(
        name=name,
        mode="NR",
        lower_better=False,
        score_range=(0.0, 1.0),
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 under identical random weights (max rel. diff {_MEASURED[name]}); "
                           "no official values",
        factory=CLIPIQA,
        options={"variant": name, "precision": "float32"},
        resources=_RESOURCES[backbone],
    )


SPECS = tuple(_spec(name) for name in VARIANTS)
