"""A-FINE: fidelity and naturalness of an image, weighed adaptively against a reference that may be imperfect.

Chen, Wu, Ma & Zhang, "Toward Generalized Image Quality Assessment: Relaxing the Perfect Reference Quality
Assumption", CVPR 2025.

Both images (of the same size) are standardised with CLIP's mean/std and, when a side is not a multiple of 32
px, resized bicubically (corners not aligned) up to the next multiple. A fine-tuned CLIP ViT-B/32 image encoder
(:mod:`metrics.deep.clip_trunk`, positional embedding resized to the token count) gives the tokens after each of
its 12 blocks; the patch tokens (class token left out) pass a ReLU. With the pixels as level 0 (the standardised
image mapped back with the head's mean/std), every level's channels are summarised over the positions by their
mean μ and (population) variance σ²:

* naturalness N(x): level 0's [μ, σ²] (6 values) and, per block, [μ, σ²] (2·768) projected to 128 by one shared
  linear layer, concatenated (6 + 12·128), then linear → GELU → linear to one number;
* fidelity F(x, y): per channel c of every level, S1 = (2μxμy + ε)/(μx² + μy² + ε) and
  S2 = (2·cov + ε)/(σx² + σy² + ε), cov = mean(x·y) − μxμy, ε = 1e-10; with learnt α, β ≥ 0 (softplus,
  together normalised to sum 1), F = 1 − Σ_c (α_c·S1_c + β_c·S2_c).

Each term is mapped by a logistic g(t) = lo + (hi − lo)·σ((t − η3)/|η4|) with (lo, hi) = (−2, 2): the
naturalness map's η3, η4 as learnt, the fidelity map's clamped to η3 ∈ [0.05, 0.95], η4 ∈ [0.01, 0.70].
The adaptive combination is A = exp(softplus(k)·(N̂(ref) − N̂(dist)))·N̂(dist) + F̂(dist, ref); its scaled form
is 100·σ((A + 1.9710)/2.3734). For every output, lower is better.

* ``afine_nr`` (no reference): N̂(dist), in (−2, 2);
* ``afine_fr``: F̂(dist, ref), in (−2, 2);
* ``afine_all``: A (pyiqa states its range as "~, 2"; the exponential weight can take it above 2);
* ``afine_all_scale``: the scaled A, in (0, 100).

Weights: pyiqa's ``afine.pth``: ``finetuned_clip`` (a whole CLIP ViT-B/32 state dict in OpenAI's layout, of
which the image encoder is used), ``natural`` and ``fidelity`` (the heads, each with its own ``mean``/``std``),
``natural_scale`` and ``fidelity_scale`` (``yita3``, ``yita4``) and ``adapter`` (``k``). OpenAI's ViT-B/32 file,
which the reference reads first and then overwrites, is not needed.

Differences from pyiqa 0.1.16: pyiqa refuses images whose sides are not multiples of 32 (an assertion placed
before its own bicubic resize, which so never runs); here that resize is done. pyiqa scores one image per call
(it squeezes the batch dimension and branches on the value of a tensor); here batches of any size are scored,
each image as pyiqa scores it alone. Its two logistic forms (one for large exponents) are one sigmoid here.

Calibration: equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_afine.py); no
official values in the calibration table.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.clip_trunk import VisionTransformer, load_image_encoder, normalize
from metrics.deep.common import DeepMetric
from metrics.deep.nets import build_meta, fill, unwrap
from metrics.deep.weights import LoadedWeights, WeightFile, WeightIntegrityError, tensor
from metrics.registry import Calibration, MetricSpec, Resources

OUTPUTS = ("afine_nr", "afine_fr", "afine_all", "afine_all_scale")
WEIGHT_FILE = WeightFile("afine.pth")
WEIGHT_FILES = {name: (WEIGHT_FILE,) for name in OUTPUTS}

WIDTH, LAYERS, HIDDEN = 768, 12, 128  # ViT-B/32's token width and blocks; the naturalness head's projection
PIXEL_CHANNELS = 3
EPSILON = 1e-10  # the fidelity similarities' stabilising constant and the logistic scales' guard
TERM_RANGE = (-2.0, 2.0)  # the naturalness and fidelity maps
FIDELITY_CENTRE_BOUNDS, FIDELITY_SCALE_BOUNDS = (0.05, 0.95), (0.01, 0.70)
FINAL_RANGE, FINAL_CENTRE, FINAL_SCALE = (0.0, 100.0), -1.9710, -2.3734


def logistic(t: torch.Tensor, value_range: tuple[float, float], centre: torch.Tensor | float,
             scale: torch.Tensor | float) -> torch.Tensor:
    """lo + (hi − lo)·σ((t − centre)/(|scale| + 1e-10)): the bounded maps of A-FINE's terms and final score."""
    low, high = value_range
    scale = scale.abs() if isinstance(scale, torch.Tensor) else abs(scale)
    return low + (high - low) * torch.sigmoid((t - centre) / (scale + EPSILON))


def channel_moments(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population variance of every channel over the positions (dimension −2)."""
    mean = tokens.mean(dim=-2)
    return mean, (tokens - mean.unsqueeze(-2)).square().mean(dim=-2)


class _PixelLevel(nn.Module):
    """The file's ``mean``/``std`` buffers, which map a standardised image back to its pixels (level 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.empty(1, PIXEL_CHANNELS, 1, 1))
        self.register_buffer("std", torch.empty(1, PIXEL_CHANNELS, 1, 1))

    def pixels(self, standardised: torch.Tensor) -> torch.Tensor:
        """N×(H·W)×3: the image's pixels as tokens."""
        return (standardised * self.std + self.mean).flatten(2).transpose(1, 2)


class NaturalnessHead(_PixelLevel):
    """N(x) from the moments of the pixels and of every block's patch tokens (keys of pyiqa's ``natural``)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj_feat = nn.Linear(2 * WIDTH, HIDDEN)
        self.proj_head = nn.Sequential(OrderedDict([
            ("0", nn.Linear(2 * PIXEL_CHANNELS + LAYERS * HIDDEN, 6 * HIDDEN)),
            ("1", nn.GELU()),
            ("2", nn.Linear(6 * HIDDEN, 1)),
        ]))

    def forward(self, standardised: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
        """``blocks``: N×12×positions×768 rectified patch tokens; returns N raw naturalness values."""
        pixel_mean, pixel_var = channel_moments(self.pixels(standardised))
        block_mean, block_var = channel_moments(blocks)  # N×12×768 each
        projected = self.proj_feat(torch.cat([block_mean, block_var], dim=-1)).flatten(1)  # N×(12·128)
        return self.proj_head(torch.cat([pixel_mean, pixel_var, projected], dim=1))[:, 0]


class FidelityHead(_PixelLevel):
    """F(x, y) from per-channel similarities of means and of (co)variances (keys of pyiqa's ``fidelity``)."""

    def __init__(self) -> None:
        super().__init__()
        channels = PIXEL_CHANNELS + LAYERS * WIDTH
        self.alpha = nn.Parameter(torch.empty(1, 1, channels))
        self.beta = nn.Parameter(torch.empty(1, 1, channels))

    @staticmethod
    def _similarities(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """S1 and S2 of every channel of one level (tokens …×positions×channels → …×channels)."""
        x_mean, x_var = channel_moments(x)
        y_mean, y_var = channel_moments(y)
        covariance = (x * y).mean(dim=-2) - x_mean * y_mean
        s1 = (2 * x_mean * y_mean + EPSILON) / (x_mean.square() + y_mean.square() + EPSILON)
        s2 = (2 * covariance + EPSILON) / (x_var + y_var + EPSILON)
        return s1, s2

    def forward(self, standardised_x: torch.Tensor, standardised_y: torch.Tensor, blocks_x: torch.Tensor,
                blocks_y: torch.Tensor) -> torch.Tensor:
        pixel_s1, pixel_s2 = self._similarities(self.pixels(standardised_x), self.pixels(standardised_y))
        block_s1, block_s2 = self._similarities(blocks_x, blocks_y)  # N×12×768 each
        s1 = torch.cat([pixel_s1, block_s1.flatten(1)], dim=1)  # channels in level order, as alpha's
        s2 = torch.cat([pixel_s2, block_s2.flatten(1)], dim=1)
        alpha, beta = F.softplus(self.alpha.flatten()), F.softplus(self.beta.flatten())
        total = alpha.sum() + beta.sum() + EPSILON
        return 1 - (s1 @ alpha + s2 @ beta) / total


def _scalar(loaded: LoadedWeights, group: str, key: str) -> torch.Tensor:
    return tensor(unwrap(loaded, group), key, shape=()).float()


class AFINE(DeepMetric):
    """A-FINE; ``output`` picks the term (``afine_nr``, ``afine_fr``) or the combination (``afine_all``,
    ``afine_all_scale``)."""

    def __init__(self, output: str = "afine_all_scale", precision: str = "float32") -> None:
        super().__init__(precision)
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.output = output
        loaded = self.load_weights(WEIGHT_FILE)
        encoder = load_image_encoder(unwrap(loaded, "finetuned_clip"))
        if not isinstance(encoder, VisionTransformer):
            raise WeightIntegrityError(f"{WEIGHT_FILE.filename}: finetuned_clip is not a vision-transformer CLIP")
        self.encoder = encoder.requires_grad_(False)
        self.patch = int(encoder.conv1.kernel_size[0])
        self.naturalness = fill(build_meta(NaturalnessHead), unwrap(loaded, "natural")).eval()
        self.fidelity = fill(build_meta(FidelityHead), unwrap(loaded, "fidelity")).eval()
        for name, group, key in (("natural_centre", "natural_scale", "yita3"),
                                 ("natural_scale", "natural_scale", "yita4"),
                                 ("fidelity_centre", "fidelity_scale", "yita3"),
                                 ("fidelity_scale", "fidelity_scale", "yita4"),
                                 ("adapter_k", "adapter", "k")):
            self.register_buffer(name, _scalar(loaded, group, key), persistent=False)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised, and resized up to multiples of the patch size where a side is not one."""
        x = normalize(x)
        h, w = x.shape[-2:]
        size = (math.ceil(h / self.patch) * self.patch, math.ceil(w / self.patch) * self.patch)
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
        return x

    def _blocks(self, standardised: torch.Tensor) -> torch.Tensor:
        """N×12×positions×768: every block's patch tokens, rectified."""
        with self.autocast(standardised):
            outputs = self.encoder.block_outputs(standardised, positional=True)
        return F.relu(torch.stack([tokens[:, 1:] for tokens in outputs], dim=1).float())

    def _naturalness(self, standardised: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
        return logistic(self.naturalness(standardised, blocks), TERM_RANGE, self.natural_centre, self.natural_scale)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        x = self._prepare(dist)
        if self.output == "afine_nr":
            return self._naturalness(x, self._blocks(x))
        assert ref is not None  # the FR outputs are registered full-reference
        y = self._prepare(ref)
        blocks_x, blocks_y = self._blocks(torch.cat([x, y])).chunk(2)
        centre = self.fidelity_centre.clamp(*FIDELITY_CENTRE_BOUNDS)
        scale = self.fidelity_scale.clamp(*FIDELITY_SCALE_BOUNDS)
        fidelity = logistic(self.fidelity(x, y, blocks_x, blocks_y), TERM_RANGE, centre, scale)
        if self.output == "afine_fr":
            return fidelity
        natural_x, natural_y = self._naturalness(x, blocks_x), self._naturalness(y, blocks_y)
        combined = torch.exp(F.softplus(self.adapter_k) * (natural_y - natural_x)) * natural_x + fidelity
        if self.output == "afine_all":
            return combined
        return logistic(combined, FINAL_RANGE, FINAL_CENTRE, FINAL_SCALE)


_PAPER = ("Chen, Wu, Ma & Zhang, Toward Generalized Image Quality Assessment: Relaxing the Perfect Reference "
          "Quality Assumption, CVPR 2025")
#: measured by tests/deep/test_equivalence_afine.py (largest over random, odd-size and calibration inputs)
_MEASURED = {"afine_nr": "2.3e-5", "afine_fr": "0, bitwise equal", "afine_all": "1.8e-6", "afine_all_scale": "2.1e-7"}
_RANGES = {"afine_nr": TERM_RANGE, "afine_fr": TERM_RANGE, "afine_all": (-math.inf, math.inf),
           "afine_all_scale": FINAL_RANGE}


def _spec(name: str) -> MetricSpec:
    return MetricSpec(
        name=name,
        mode="NR" if name == "afine_nr" else "FR",
        lower_better=True,
        score_range=_RANGES[name],
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 under identical random weights (max rel. diff {_MEASURED[name]}); "
                           "no official values",
        factory=AFINE,
        options={"output": name, "precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.25, memory_mb=3000),
    )


SPECS = tuple(_spec(name) for name in OUTPUTS)
