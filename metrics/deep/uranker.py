"""URanker: a conv-attention transformer that ranks underwater images by quality, fed their colour histograms.

Guo, Wu, Jin, Han, Chai, Zhang & Li, "Underwater Ranker: Learn Which Is Better and How to Be Better", AAAI 2023
(the official code: github.com/RQ-Wu/UnderwaterRanker). pyiqa 0.1.16 calls it ``uranker``.

The backbone is CoaT's (Xu, Xu, Chang & Tu, "Co-Scale Conv-Attentional Image Transformers", ICCV 2021), with a
histogram token per scale:

* Input: the image (values in [0, 1], no standardisation) is zero-padded, centred, to multiples of 32 on each
  side (the extra pixel of an odd padding at the right/bottom). Its histogram (64 equal bins over [0, 1] per
  channel, R then G then B, raw pixel counts, padding included) is one 192-vector per image.
* Four scales of 152, 320, 320, 320 channels, at strides 4, 8, 16, 32: each a patch embedding (a convolution of
  kernel = stride 4, then 2, on the previous scale's token map, and a LayerNorm, ε = 1e-5), then the token sequence
  [class token, linear(histogram), patch tokens], then two serial blocks.
* Serial block (on N tokens of one scale, the first two being the class and histogram tokens): a convolutional
  position encoding (a depthwise 3×3 convolution of the patch-token map added to it; the two leading tokens pass),
  then ``x + FactorAtt(LN(x))`` and ``x + MLP(LN(x))`` (LN ε = 1e-6, MLP 4× wide with erf GELU). The factorised
  attention has 8 heads of C/8 channels, q, k, v from one linear map: ``scale · q · (softmax_N(k)ᵀ · v) +
  q ⊙ DWConv(v)``, scale = (C/8)^-½; the second term, the convolutional relative position encoding, convolves the
  value map of heads 1–2 with 3×3, of heads 3–5 with 5×5 and of heads 6–8 with 7×7 depthwise kernels, and is 0 for
  the two leading tokens. Each scale's position encodings (both kinds) are one module, shared by its blocks.
* Six parallel blocks on scales 2–4 (scale 1 only feeds scale 2): per scale the position encoding and the
  factorised attention of that scale's LN'd tokens (attention weights per block and scale, position encodings of
  the scale); the attention outputs are then mixed across scales with learnt weights α1…α6:
  a2 += α1·up(a3) + α2·up(a4), a3 += α3·up(a4) + α4·down(a2), a4 += α5·down(a3) + α6·down(a2), where up/down
  resize the patch-token maps bilinearly (half-pixel centres, no antialiasing) and carry the leading tokens over
  unchanged; x += a, and x += MLP(LN(x)) with one MLP for the three scales.
* Score: the mean of three linear read-outs (``head2…head4``) of the LayerNorm'd class tokens of scales 2–4
  (higher is better; pyiqa gives about -1 … 2).

Weights: pyiqa's ``URanker_ckpt-450eb36d.pth``, the whole model's state dict in the official names
(``historgram_embed{1..4}``, ``patch_embed{1..4}.{proj,norm}``, ``cls_token{1..4}``, ``cpe{1..4}.proj``,
``crpe{1..4}.conv_list.{0,1,2}``, ``serial_blocks{1..4}.{0,1}.{cpe, norm1, factoratt_crpe.{qkv, proj, crpe},
norm2, mlp.fc1/fc2}``, ``parallel_blocks.{0..5}.{alpha1..6, norm12..14, factoratt_crpe2..4, norm22..24,
mlp2..4}``, ``norm1..4``, ``head2..4``). A shared module is in the file under each of its names (the same
tensors), and so it is here; ``norm1`` (scale 1's final norm) is in the file but unused. A checkpoint trained with
pyiqa (``pretrained_model_path``) holds the same state dict under ``params``.

Calibration: equivalent to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_uranker.py, max
relative difference measured 1.5e-6);
no official values in the calibration table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.nets import build_meta, fill, unwrap
from metrics.deep.vit import Mlp
from metrics.deep.weights import LoadedWeights, WeightFile
from metrics.registry import Calibration, MetricSpec, Resources

CHECKPOINT = WeightFile("URanker_ckpt-450eb36d.pth")
WEIGHT_FILES = {"uranker": (CHECKPOINT,)}

WIDTHS = (152, 320, 320, 320)
PATCH_SIZES = (4, 2, 2, 2)
HEADS = 8
SERIAL_DEPTH = 2
PARALLEL_DEPTH = 6
MLP_RATIO = 4
#: (depthwise kernel size, number of heads) of the convolutional relative position encoding, in head order.
RELATIVE_WINDOWS = ((3, 2), (5, 3), (7, 3))
BINS = 64
PAD_MULTIPLE = 32
LEADING_TOKENS = 2  # the class token, then the histogram token
BLOCK_NORM_EPS = 1e-6
PATCH_NORM_EPS = 1e-5  # torch's default, which the patch embeddings' norms use


def pad_to_multiple(image: torch.Tensor, multiple: int = PAD_MULTIPLE) -> torch.Tensor:
    """Zero-pad N×C×H×W to the next multiples of ``multiple``, centred (the odd pixel goes right / bottom)."""
    h, w = image.shape[-2:]
    extra_h, extra_w = -h % multiple, -w % multiple
    top, left = extra_h // 2, extra_w // 2
    return F.pad(image, (left, extra_w - left, top, extra_h - top))


def colour_histograms(image: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """N×3×H×W → N×(3·bins): per channel, the count of values in each of ``bins`` equal bins over [0, 1] (1.0 in
    the last); values outside [0, 1] are not counted."""
    n, c = image.shape[:2]
    index = (image * bins).floor().clamp(0, bins - 1).long()
    index = index + torch.arange(n * c, device=image.device).view(n, c, 1, 1) * bins
    inside = (image >= 0) & (image <= 1)
    counts = torch.bincount(index[inside], minlength=n * c * bins)
    return counts.view(n, c * bins).float()


def split_tokens(x: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """N×(2+H·W)×C → (the leading tokens N×2×C, the patch-token map N×C×H×W)."""
    n, _, c = x.shape
    return x[:, :LEADING_TOKENS], x[:, LEADING_TOKENS:].transpose(1, 2).reshape(n, c, *size)


def join_tokens(leading: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`split_tokens`."""
    return torch.cat((leading, grid.flatten(2).transpose(1, 2)), dim=1)


def resize_tokens(x: torch.Tensor, size: tuple[int, int], target: tuple[int, int]) -> torch.Tensor:
    """The patch-token map of ``x`` resized bilinearly from ``size`` to ``target``, the leading tokens kept."""
    leading, grid = split_tokens(x, size)
    return join_tokens(leading, F.interpolate(grid, size=target, mode="bilinear", align_corners=False))


class ConvPositionEncoding(nn.Module):
    """A depthwise 3×3 convolution of the patch-token map, added to it (``proj``); the leading tokens pass."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(width, width, 3, padding=1, groups=width)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        leading, grid = split_tokens(x, size)
        return join_tokens(leading, grid + self.proj(grid))


class ConvRelativePositionEncoding(nn.Module):
    """q ⊙ DWConv(v) on the patch tokens, one kernel size per group of heads (:data:`RELATIVE_WINDOWS`), 0 on the
    leading tokens; ``conv_list`` holds one depthwise convolution per group."""

    def __init__(self, head_width: int) -> None:
        super().__init__()
        self.group_widths = [heads * head_width for _, heads in RELATIVE_WINDOWS]
        self.conv_list = nn.ModuleList(
            nn.Conv2d(width, width, kernel, padding=kernel // 2, groups=width)
            for (kernel, _), width in zip(RELATIVE_WINDOWS, self.group_widths)
        )

    def forward(self, q: torch.Tensor, v: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """q, v: N×heads×T×c → N×heads×T×c."""
        n, heads, _, head_width = v.shape
        value_map = v[:, :, LEADING_TOKENS:].transpose(2, 3).reshape(n, heads * head_width, *size)
        convolved = torch.cat([conv(group) for conv, group in
                               zip(self.conv_list, value_map.split(self.group_widths, dim=1))], dim=1)
        convolved = convolved.reshape(n, heads, head_width, -1).transpose(2, 3)
        return F.pad(q[:, :, LEADING_TOKENS:] * convolved, (0, 0, LEADING_TOKENS, 0))


class FactorizedAttention(nn.Module):
    """scale · q · (softmax over tokens of k)ᵀ · v + the relative position encoding, then ``proj``."""

    def __init__(self, width: int, relative: ConvRelativePositionEncoding) -> None:
        super().__init__()
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.crpe = relative  # the scale's shared module
        self.scale = (width // HEADS) ** -0.5

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        n, tokens, width = x.shape
        q, k, v = self.qkv(x).reshape(n, tokens, 3, HEADS, width // HEADS).permute(2, 0, 3, 1, 4)
        context = k.softmax(dim=2).transpose(2, 3) @ v  # N×heads×c×c
        mixed = self.scale * (q @ context) + self.crpe(q, v, size)
        return self.proj(mixed.transpose(1, 2).reshape(n, tokens, width))


def _norm(width: int) -> nn.LayerNorm:
    return nn.LayerNorm(width, eps=BLOCK_NORM_EPS)


class SerialBlock(nn.Module):
    """Position encoding, then pre-norm factorised attention and MLP, both residual, on one scale."""

    def __init__(self, width: int, position: ConvPositionEncoding, relative: ConvRelativePositionEncoding) -> None:
        super().__init__()
        self.cpe = position  # the scale's shared module
        self.norm1 = _norm(width)
        self.factoratt_crpe = FactorizedAttention(width, relative)
        self.norm2 = _norm(width)
        self.mlp = Mlp(width, MLP_RATIO * width)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = self.cpe(x, size)
        x = x + self.factoratt_crpe(self.norm1(x), size)
        return x + self.mlp(self.norm2(x))


class ParallelBlock(nn.Module):
    """Scales 2–4 side by side: attention per scale, mixed across scales with the weights ``alpha1…6``, then one
    MLP shared by the three scales (``mlp2``, ``mlp3`` and ``mlp4`` are the same module)."""

    def __init__(self, width: int, relatives: tuple[ConvRelativePositionEncoding, ...]) -> None:
        super().__init__()
        for k in range(1, 7):
            setattr(self, f"alpha{k}", nn.Parameter(torch.empty(1)))
        for scale, relative in zip((2, 3, 4), relatives):
            setattr(self, f"norm1{scale}", _norm(width))
            setattr(self, f"factoratt_crpe{scale}", FactorizedAttention(width, relative))
        for scale in (2, 3, 4):
            setattr(self, f"norm2{scale}", _norm(width))
        self.mlp2 = self.mlp3 = self.mlp4 = Mlp(width, MLP_RATIO * width)

    def forward(self, xs: list[torch.Tensor], sizes: list[tuple[int, int]],
                positions: list[ConvPositionEncoding]) -> list[torch.Tensor]:
        """xs, sizes, positions: of scales 2, 3 and 4."""
        xs = [position(x, size) for position, x, size in zip(positions, xs, sizes)]
        a2, a3, a4 = (getattr(self, f"factoratt_crpe{scale}")(getattr(self, f"norm1{scale}")(x), size)
                      for scale, x, size in zip((2, 3, 4), xs, sizes))
        s2, s3, s4 = sizes
        mixed = (
            a2 + self.alpha1 * resize_tokens(a3, s3, s2) + self.alpha2 * resize_tokens(a4, s4, s2),
            a3 + self.alpha3 * resize_tokens(a4, s4, s3) + self.alpha4 * resize_tokens(a2, s2, s3),
            a4 + self.alpha5 * resize_tokens(a3, s3, s4) + self.alpha6 * resize_tokens(a2, s2, s4),
        )
        xs = [x + a for x, a in zip(xs, mixed)]
        return [x + self.mlp2(getattr(self, f"norm2{scale}")(x)) for scale, x in zip((2, 3, 4), xs)]


class PatchEmbed(nn.Module):
    """A convolution of kernel = stride = ``patch`` (``proj``), flattened to tokens, and a LayerNorm (``norm``)."""

    def __init__(self, in_channels: int, width: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, width, patch, stride=patch)
        self.norm = nn.LayerNorm(width, eps=PATCH_NORM_EPS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        grid = self.proj(x)
        return self.norm(grid.flatten(2).transpose(1, 2)), (grid.shape[-2], grid.shape[-1])


class URankerNet(nn.Module):
    """The network under the published names; ``forward`` takes padded images and their histograms."""

    def __init__(self) -> None:
        super().__init__()
        channels = (3,) + WIDTHS[:-1]
        for s, (width, cin, patch) in enumerate(zip(WIDTHS, channels, PATCH_SIZES), start=1):
            setattr(self, f"historgram_embed{s}", nn.Linear(3 * BINS, width))  # sic: the published name
            setattr(self, f"patch_embed{s}", PatchEmbed(cin, width, patch))
            setattr(self, f"cls_token{s}", nn.Parameter(torch.empty(1, 1, width)))
            setattr(self, f"cpe{s}", ConvPositionEncoding(width))
            setattr(self, f"crpe{s}", ConvRelativePositionEncoding(width // HEADS))
        for s, width in enumerate(WIDTHS, start=1):
            position, relative = getattr(self, f"cpe{s}"), getattr(self, f"crpe{s}")
            setattr(self, f"serial_blocks{s}",
                    nn.ModuleList(SerialBlock(width, position, relative) for _ in range(SERIAL_DEPTH)))
        relatives = tuple(getattr(self, f"crpe{s}") for s in (2, 3, 4))
        self.parallel_blocks = nn.ModuleList(ParallelBlock(WIDTHS[-1], relatives) for _ in range(PARALLEL_DEPTH))
        for s, width in enumerate(WIDTHS, start=1):
            setattr(self, f"norm{s}", _norm(width))
        for s in (2, 3, 4):
            setattr(self, f"head{s}", nn.Linear(WIDTHS[s - 1], 1))

    def forward(self, image: torch.Tensor, histogram: torch.Tensor) -> torch.Tensor:
        """image: N×3×H×W with H, W multiples of 32; histogram: N×192 → N scores."""
        n = image.shape[0]
        grid, tokens, sizes = image, [], []
        for s in range(1, 5):
            patches, size = getattr(self, f"patch_embed{s}")(grid)
            cls = getattr(self, f"cls_token{s}").expand(n, -1, -1)
            hist = getattr(self, f"historgram_embed{s}")(histogram).unsqueeze(1)
            x = torch.cat((cls, hist, patches), dim=1)
            for block in getattr(self, f"serial_blocks{s}"):
                x = block(x, size)
            _, grid = split_tokens(x, size)
            tokens.append(x)
            sizes.append(size)
        xs, sizes = tokens[1:], sizes[1:]
        positions = [getattr(self, f"cpe{s}") for s in (2, 3, 4)]
        for block in self.parallel_blocks:
            xs = block(xs, sizes, positions)
        p2, p3, p4 = (getattr(self, f"head{s}")(getattr(self, f"norm{s}")(x[:, 0])) for s, x in zip((2, 3, 4), xs))
        return ((p2 + p3 + p4) / 3).squeeze(1)


def _state_dict(loaded: LoadedWeights) -> LoadedWeights:
    """The published file is the bare state dict; a checkpoint trained with pyiqa holds it under ``params``."""
    return unwrap(loaded, "params") if isinstance(loaded.state_dict.get("params"), dict) else loaded


class URanker(DeepMetric):
    """URanker with the published checkpoint (no-reference; higher is better)."""

    def __init__(self, precision: str = "float32") -> None:
        super().__init__(precision)
        self.net = fill(build_meta(URankerNet), _state_dict(self.load_weights(CHECKPOINT)))

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        padded = pad_to_multiple(dist)
        histogram = colour_histograms(padded)
        with self.autocast(padded):
            scores = self.net(padded, histogram)
        return scores.float()


SPECS = (
    MetricSpec(
        name="uranker",
        mode="NR",
        lower_better=False,
        score_range=(-1.0, 2.0),
        paper="Guo, Wu, Jin, Han, Chai, Zhang & Li, Underwater Ranker: Learn Which Is Better and How to Be Better, "
              "AAAI 2023",
        calibration=Calibration.EQUIVALENT,
        calibration_detail="pyiqa 0.1.16 on identical random weights (max rel. diff 1.5e-6); no official values",
        factory=URanker,
        options={"precision": "float32"},
        resources=Resources(num_cpus=1, num_gpus=0.1, memory_mb=3000),
    ),
)
