"""Compare2Score: image quality from a vision-language model's comparisons with five anchor images.

Zhu, Wu, Li, Zhang, Chen, Zhu, Fang, Zhai, Lin & Wang, "Adaptive Image Quality Assessment via Teaching Large
Multimodal Model to Compare", NeurIPS 2024.

The model is mPLUG-Owl2 (:mod:`metrics.deep.mplug_owl2`, the same code as Q-Align's) fine-tuned to compare two
images: Hugging Face repo ``q-future/Compare2Score`` (config and sharded checkpoint), its tokenizer read from
``VQA-CityU/Compare2Score_1`` (as pyiqa reads it). Five anchor images of increasing quality come from the Hugging
Face dataset repo ``VQA-CityU/Anchor_images`` (its train split, rows 0-4, read from the repo's parquet file through
the weight store, so the file's sha256 enters the cell key), with their published 5×5 matrix of preference
probabilities (row i, column j: the probability that anchor i is better than anchor j).

An image (1×3×H×W in [0, 1]) is quantised to 8 bits, squared and resized as Q-Align's
(:func:`metrics.deep.qalign.square_448`); its pixels, like the anchors', pass through float16 (the published
scorer casts them so whatever the model's precision). For each anchor k the prompt
``"USER: <|image|> <|image|> Compared with the first image, what is your quality rating for second image?
\\nASSISTANT: The quality of the second image is"`` gets the anchor first and the image second; the next word's
logits of "inferior", "worse", "similar", "better", "superior" (each word's first token), divided by 100, are
softmaxed and weighted 0, 0.25, 0.5, 0.75, 1: p_k, the probability that the image is better than anchor k.
The anchors' matrix grows a sixth row (p) and column (1 − p, diagonal 0.5), and the six qualities are the
maximum a posteriori estimate of a Thurstone case V model with a standard normal prior (maximise
Σ c_ij log max(Φ(s_i − s_j), 1e-6) − Σ s_i²/2), found as published: 100 Adam steps, learning rate 0.1, from
uniform random values drawn with seed 0 on the image's device. The score is the image's quality rescaled so that
the six span 0…100 (higher is better; 0 or 100 when the image is below or above every anchor).

Precision: float32 by default, as every deep metric here (pyiqa 0.1.16 runs the model in float16 on every device);
``precision='float16'`` is pyiqa's setting. It takes a whole GPU (7B parameters: about 30 GB of GPU memory in
float32, 16 GB in float16). The anchors' image tokens are computed once per model instance.

Calibration: equal to pyiqa 0.1.16 on a reduced configuration of the same architecture (2-layer ViT, abstractor
and LLaMA, small widths, a small SentencePiece vocabulary, five small random anchors) with identical random
weights (tests/deep/test_equivalence_compare2score.py, float32); the 7B checkpoint itself could not be run here.
No official values in the calibration table.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from metrics.deep.common import PRECISIONS, DeepMetric
from metrics.deep.mplug_owl2.model import RepoFiles
from metrics.deep.qalign import HOST_MEMORY_MB, square_448, square_448_eight_bit
from metrics.deep.weights import WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

REPO = RepoFiles("q-future/Compare2Score", ("pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"),
                 tokenizer_repo_id="VQA-CityU/Compare2Score_1")
#: The anchor images: the train split of a dataset repo, one row an image (column ``image``: encoded bytes).
ANCHORS = WeightFile("data/train-00000-of-00001.parquet", repo_id="VQA-CityU/Anchor_images", repo_type="dataset")
ANCHOR_COUNT = 5
#: P(anchor i better than anchor j), as published with the anchors.
ANCHOR_PREFERENCES = (
    (5.0000000e-01, 2.5912809e-01, 3.3130276e-04, 1.6087297e-06, 1.1803027e-09),
    (7.4087191e-01, 5.0000000e-01, 2.4985345e-01, 9.9954158e-02, 1.8675303e-08),
    (9.9966872e-01, 7.5014657e-01, 5.0000000e-01, 4.9968880e-01, 2.4852838e-01),
    (9.9999839e-01, 9.0004587e-01, 5.0031120e-01, 5.0000000e-01, 2.5400183e-01),
    (1.0000000e+00, 1.0000000e+00, 7.5147164e-01, 7.4599814e-01, 5.0000000e-01),
)
PROMPT = ("USER: <|image|> <|image|> Compared with the first image, what is your quality rating for second image? "
          "\nASSISTANT: The quality of the second image is")
ANSWERS = ("inferior", "worse", "similar", "better", "superior")
ANSWER_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
LOGIT_SCALE = 100.0
#: The published fit of the qualities: Adam steps, learning rate, seed of the starting values, floor of Φ.
FIT_STEPS, FIT_LEARNING_RATE, FIT_SEED, FIT_FLOOR = 100, 0.1, 0, 1e-6
WEIGHT_FILES = {"compare2score": (*REPO.all(), ANCHORS)}


def read_anchor_images(path: Path, count: int = ANCHOR_COUNT) -> list[torch.Tensor]:
    """The first ``count`` images of a dataset parquet file (column ``image``: a struct with the encoded
    ``bytes``), each as a 3×H×W uint8 RGB tensor."""
    import numpy as np
    import pyarrow.parquet as pq
    from PIL import Image

    rows = pq.read_table(path, columns=["image"]).column("image").to_pylist()
    if len(rows) < count:
        raise ValueError(f"{path} holds {len(rows)} anchor images, {count} are needed")
    images = []
    for row in rows[:count]:
        with Image.open(io.BytesIO(row["bytes"])) as image:
            rgb = np.asarray(image.convert("RGB"))
        images.append(torch.from_numpy(rgb.copy()).permute(2, 0, 1))
    return images


def thurstone_qualities(preferences: torch.Tensor) -> torch.Tensor:
    """The qualities s (N) maximising Σ c_ij log max(Φ(s_i − s_j), floor) − Σ s_i²/2 for the N×N preference
    probabilities c, by the published fit (Adam from seeded uniform values, on ``preferences``' device)."""
    device = preferences.device
    generator = torch.Generator(device=device).manual_seed(FIT_SEED)
    with torch.inference_mode(False), torch.enable_grad():
        c = preferences.detach().clone().float()
        qualities = torch.rand(c.shape[0], generator=generator, device=device).requires_grad_()
        floor = torch.tensor(FIT_FLOOR, device=device)
        optimiser = torch.optim.Adam([qualities], lr=FIT_LEARNING_RATE)
        for _ in range(FIT_STEPS):
            optimiser.zero_grad()
            differences = qualities[:, None] - qualities
            normal_cdf = 0.5 * (1 + torch.erf(differences / torch.sqrt(torch.tensor(2.0, device=device))))
            log_likelihood = torch.sum(c * torch.log(torch.maximum(normal_cdf, floor)))
            negative_log_posterior = torch.sum(qualities ** 2) / 2 - log_likelihood
            negative_log_posterior.backward()
            optimiser.step()
    return qualities.detach()


class Compare2Score(DeepMetric):
    """Compare2Score quality (0…100) from comparisons with five anchor images."""

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        self.owl, tokenizer = REPO.load(self, PRECISIONS[precision])
        self.prompt_ids = tokenizer.prompt_ids(PROMPT)
        self.register_buffer("answer_ids", torch.tensor(tokenizer.word_ids_at(ANSWERS, 1)), persistent=False)
        self.register_buffer("answer_weights", torch.tensor(ANSWER_WEIGHTS), persistent=False)
        self.register_buffer("anchor_preferences", torch.tensor(ANCHOR_PREFERENCES), persistent=False)
        size = self.owl.config.vision.image_size
        anchors = read_anchor_images(self.weight_path(ANCHORS))
        self.register_buffer("anchor_pixels", _through_float16(torch.cat(
            [square_448_eight_bit(anchor, size) for anchor in anchors])), persistent=False)
        self._anchor_tokens: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def _tokens_of_anchors(self, dtype: torch.dtype) -> torch.Tensor:
        key = (self.anchor_pixels.device, dtype)
        if key not in self._anchor_tokens:
            self._anchor_tokens = {key: self.owl.image_tokens(self.anchor_pixels.to(dtype))}
        return self._anchor_tokens[key]

    def better_than_anchors(self, dist: torch.Tensor) -> torch.Tensor:
        """B×5: the probability that each image is better than each anchor."""
        size = self.owl.config.vision.image_size
        dtype = next(self.owl.parameters()).dtype
        pixels = _through_float16(torch.cat([square_448(image, size) for image in dist])).to(dtype)
        images = self.owl.image_tokens(pixels)  # B×T×C
        anchors = self._tokens_of_anchors(dtype)  # 5×T×C
        batch, count = images.shape[0], anchors.shape[0]
        pairs = torch.stack([anchors.expand(batch, -1, -1, -1), images[:, None].expand(-1, count, -1, -1)], dim=2)
        logits = self.owl.next_token_logits_from_image_tokens(self.prompt_ids, pairs.flatten(0, 1))
        answers = logits[:, self.answer_ids].float() / LOGIT_SCALE
        return (torch.softmax(answers, dim=-1) @ self.answer_weights).unflatten(0, (batch, count))

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        self._check(dist, "dist")
        scores = []
        for better in self.better_than_anchors(dist):
            qualities = thurstone_qualities(_with_image(self.anchor_preferences, better))
            low, high = qualities.min(), qualities.max()
            scores.append(100 * (qualities[-1] - low) / (high - low))
        return torch.stack(scores)


def _through_float16(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels rounded to float16 and back, as the published scorer feeds them to the model."""
    return pixels.to(torch.float16).float()


def _with_image(anchor_preferences: torch.Tensor, better: torch.Tensor) -> torch.Tensor:
    """The anchors' N×N preferences grown by the image: row N is P(image better than anchor), column N its
    complement, the diagonal 0.5."""
    count = anchor_preferences.shape[0]
    grown = anchor_preferences.new_zeros(count + 1, count + 1)
    grown[:count, :count] = anchor_preferences
    grown[count, :count] = better
    grown[:count, count] = 1 - better
    grown[count, count] = 0.5
    return grown


#: measured by tests/deep/test_equivalence_compare2score.py (reduced configuration, float32)
_MEASURED = "5.0e-7"

SPECS = (
    MetricSpec(
        name="compare2score",
        mode="NR",
        lower_better=False,
        score_range=(0.0, 100.0),
        paper="Zhu et al., Adaptive Image Quality Assessment via Teaching Large Multimodal Model to Compare, "
              "NeurIPS 2024",
        calibration=Calibration.EQUIVALENT,
        calibration_detail=f"pyiqa 0.1.16 on a reduced configuration of the same architecture under identical "
                           f"random weights (max rel. diff {_MEASURED}); the 7B checkpoint not run here",
        factory=Compare2Score,
        options={"precision": "float32"},
        # the whole GPU (7B parameters: about 30 GB of GPU memory in float32, 16 GB with precision float16); the
        # checkpoint passes through host memory while it is loaded
        resources=Resources(num_cpus=1, num_gpus=1, memory_mb=HOST_MEMORY_MB),
        in_default_set=False,
    ),
)
