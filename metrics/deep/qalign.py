"""Q-Align: image quality as a vision-language model's expected rating word.

Wu, Zhang, Zhang, Chen, Li, Liao, Wang, Zhang, Sun, Yan, Min, Zhai & Lin, "Q-Align: Teaching LMMs for Visual
Scoring via Discrete Text-Defined Levels", ICML 2024.

The model is mPLUG-Owl2 (:mod:`metrics.deep.mplug_owl2`; ViT-L/14 + visual abstractor + LLaMA-2-7B with
modality-adaptive modules) fine-tuned as the "OneAlign" checkpoint, Hugging Face repo ``q-future/one-align``.
Each image (1×3×H×W in [0, 1]) is quantised to 8 bits (as pyiqa's PIL conversion truncates), padded to a square
with CLIP's mean colour, resized to 448×448 (bicubic, antialiased, on the 8-bit image, as torchvision's v2 ``resize``), standardised with CLIP's
mean/std and placed in the prompt
``"USER: How would you rate the quality of this image?\\n<|image|>\\nASSISTANT: The quality of the image is"``.
The score is the expectation of the next word over the five levels: softmax of the logits of "excellent",
"good", "fair", "poor", "bad", weighted 5, 4, 3, 2, 1 (1…5, higher is better).

Variants: ``qalign`` (the checkpoint's weights in ``precision``: float32 by default, as every deep metric here;
``precision='float16'`` is pyiqa's setting), ``qalign_8bit`` and ``qalign_4bit`` (LLM.int8 / NF4 linear
layers from ``bitsandbytes``, float16 compute; they need CUDA and ``bitsandbytes``, and a run naming them where
either is missing is refused when it is planned). Each takes a whole GPU (about 30 GB of GPU memory in float32,
16 GB in float16).

Calibration: equal to pyiqa 0.1.16 on a reduced configuration of the same architecture (2-layer ViT, 2-layer
abstractor, 2-layer LLaMA, small widths, a small SentencePiece vocabulary) with identical random weights
(tests/deep/test_equivalence_qalign.py, float32); the 7B checkpoint itself could not be run here, and the
quantised variants are not compared (no CUDA). No official values in the calibration table.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

from metrics.base import MetricInputError
from metrics.deep.clip_trunk import MEAN as CLIP_MEAN
from metrics.deep.clip_trunk import STD as CLIP_STD
from metrics.deep.common import PRECISIONS, DeepMetric
from metrics.deep.mplug_owl2.model import RepoFiles
from metrics.registry import Calibration, MetricSpec, Resources

REPO = RepoFiles("q-future/one-align", ("pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"))
PROMPT = "USER: How would you rate the {task} of this image?\n<|image|>\nASSISTANT: The {task} of the image is"
LEVELS = ("excellent", "good", "fair", "poor", "bad")
LEVEL_WEIGHTS = (5.0, 4.0, 3.0, 2.0, 1.0)
#: variant name → quantisation of the linear layers (None: the checkpoint's float16 weights)
#: Host memory while the 7B checkpoint is loaded (its float16 shards, then the model in float32).
HOST_MEMORY_MB = 30000
QUANTISATION = {"qalign": None, "qalign_8bit": "8bit", "qalign_4bit": "4bit"}
WEIGHT_FILES = {name: REPO.all() for name in QUANTISATION}


class MetricUnavailableError(RuntimeError):
    """The metric needs what this machine lacks (a CUDA device, a package)."""


def square_448(image: torch.Tensor, size: int) -> torch.Tensor:
    """One 3×H×W image in [0, 1] → 1×3×size×size standardised pixels (8-bit, squared, resized, standardised)."""
    return square_448_eight_bit(image.mul(255).to(torch.uint8), size)  # truncating, as a float→PIL conversion does


def square_448_eight_bit(eight_bit: torch.Tensor, size: int) -> torch.Tensor:
    """One 3×H×W 8-bit image → 1×3×size×size standardised pixels: padded to a square with CLIP's mean colour,
    resized (bicubic, antialiased) and standardised with CLIP's mean/std."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import (
        functional as TF,  # its uint8 bicubic kernel (v1's rounds differently)
    )

    height, width = eight_bit.shape[-2:]
    side = max(height, width)
    device = eight_bit.device
    fill = torch.tensor([int(c * 255) for c in CLIP_MEAN], dtype=torch.uint8, device=device)
    canvas = fill[:, None, None].expand(3, side, side).clone()
    top, left = (side - height) // 2, (side - width) // 2
    canvas[:, top:top + height, left:left + width] = eight_bit
    resized = TF.resize(canvas[None], [size, size], interpolation=InterpolationMode.BICUBIC, antialias=True)
    mean = torch.tensor(CLIP_MEAN, device=device)[:, None, None] * 255
    std = torch.tensor(CLIP_STD, device=device)[:, None, None] * 255
    return (resized.float() - mean) / std


class QAlign(DeepMetric):
    """Q-Align (OneAlign) quality; ``task='aesthetics'`` rates aesthetics with the same model."""

    def __init__(self, variant: str = "qalign", precision: str = "float32", task: str = "quality") -> None:
        super().__init__(precision)
        if variant not in QUANTISATION:
            raise ValueError(f"variant must be one of {sorted(QUANTISATION)}, got {variant!r}")
        self.quantisation = QUANTISATION[variant]
        if self.quantisation is not None and (reason := quantisation_unavailable()):
            raise MetricUnavailableError(f"{variant} cannot run here: {reason}")
        dtype = PRECISIONS[precision]
        self.owl, tokenizer = REPO.load(self, dtype)
        self.prompt_ids = tokenizer.prompt_ids(PROMPT.format(task=task))
        self.register_buffer("level_ids", torch.tensor(tokenizer.word_ids(LEVELS)), persistent=False)
        self.register_buffer("level_weights", torch.tensor(LEVEL_WEIGHTS), persistent=False)
        if self.quantisation is not None:
            quantise_linear_layers(self.owl, self.quantisation, dtype)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        self._check(dist, "dist")
        if self.quantisation is not None and dist.device.type != "cuda":
            raise MetricInputError(f"{self._name()}: the {self.quantisation} model runs on CUDA only")
        size = self.owl.config.vision.image_size
        dtype = next(self.owl.parameters()).dtype
        pixels = torch.stack([square_448(image, size) for image in dist]).to(dtype)  # B×1×3×S×S
        logits = self.owl.next_token_logits(self.prompt_ids, pixels)[:, self.level_ids].float()
        return torch.softmax(logits, dim=-1) @ self.level_weights


def quantise_linear_layers(model: nn.Module, quantisation: str, compute_dtype: torch.dtype) -> None:
    """Replace every linear layer but the output head by a ``bitsandbytes`` LLM.int8 (``'8bit'``) or NF4
    (``'4bit'``) layer holding the same weights; they are quantised when the model moves to a CUDA device."""
    import bitsandbytes as bnb

    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if not isinstance(child, nn.Linear) or child is getattr(model, "lm_head", None):
                continue
            bias = child.bias is not None
            if quantisation == "8bit":
                layer = bnb.nn.Linear8bitLt(child.in_features, child.out_features, bias=bias,
                                            has_fp16_weights=False, threshold=6.0)
                layer.weight = bnb.nn.Int8Params(child.weight.data, requires_grad=False, has_fp16_weights=False)
            else:
                layer = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=bias,
                                          compute_dtype=compute_dtype, quant_type="nf4")
                layer.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, quant_type="nf4")
            if bias:
                layer.bias = nn.Parameter(child.bias.data, requires_grad=False)
            setattr(parent, child_name, layer)


def quantisation_unavailable() -> str | None:
    """Why the 8-bit and 4-bit variants cannot run here (no CUDA device, no ``bitsandbytes``), or None."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return "the bitsandbytes package is not installed"
    if not torch.cuda.is_available():
        return "no CUDA device is available"
    return None


#: measured by tests/deep/test_equivalence_qalign.py (reduced configuration, float32)
_MEASURED = "1.1e-6"
_PAPER = ("Wu et al., Q-Align: Teaching LMMs for Visual Scoring via Discrete Text-Defined Levels, ICML 2024")


def _spec(name: str) -> MetricSpec:
    quantised = QUANTISATION[name] is not None
    return MetricSpec(
        name=name,
        mode="NR",
        lower_better=False,
        score_range=(1.0, 5.0),
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 on a reduced configuration of the same architecture under identical "
                           f"random weights (max rel. diff {_MEASURED}); the 7B checkpoint not run here"
                           + ("; the quantised layers not compared (no CUDA)" if quantised else ""),
        factory=QAlign,
        options={"variant": name, "precision": "float32", "task": "quality"},
        option_choices={"variant": (name,), "task": ("quality", "aesthetics")},
        # the whole GPU (7B parameters: about 30 GB of GPU memory in float32, 16 GB with precision float16, less
        # quantised); the checkpoint passes through host memory while it is loaded
        resources=Resources(num_cpus=1, num_gpus=1, memory_mb=HOST_MEMORY_MB),
        in_default_set=False,
        unavailable=quantisation_unavailable if quantised else None,
    )


SPECS = tuple(_spec(name) for name in QUANTISATION)
