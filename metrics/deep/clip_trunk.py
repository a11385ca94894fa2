"""The CLIP trunk shared by the vision-language metrics: image encoders, text encoder, tokenizer, published files.

Radford, Kim, Hallacy, Ramesh, Goh, Agarwal, Sastry, Askell, Mishkin, Clark, Krueger & Sutskever, "Learning
Transferable Visual Models From Natural Language Supervision", ICML 2021.

Built from OpenAI's published state-dict layout; the configuration is read from the tensor shapes:

* Vision transformer (``ViT-B/32``, ``ViT-B/16``, ``ViT-L/14``): a patch convolution without bias
  (``visual.conv1``), a learnt class token and positional embedding, a pre-LayerNorm, pre-norm residual blocks
  (``attn`` with packed projections, ``mlp.c_fc`` → QuickGELU ``x·σ(1.702x)`` → ``mlp.c_proj``; width/64 heads),
  LayerNorm of the class token and a linear projection (``visual.proj``).
* Modified ResNet (``RN50``): a three-convolution stem (stride 2 on the first, then 2×2 average pool),
  anti-aliased bottlenecks (a stride-s block average-pools after its 3×3 convolution and before its projection
  shortcut) and an attention pool: the mean of the final map is prepended as a query token and attended over all
  tokens (width·32/64 heads, separate ``q/k/v_proj``, output ``c_proj``).
* Text transformer: token and positional embeddings (77 positions), the same residual blocks under a causal mask,
  a final LayerNorm; the feature of the end-of-text token (the largest token id) is projected by
  ``text_projection``. ``logit_scale`` is the log of the contrastive temperature's inverse.

The vision transformer also gives every block's output tokens (:meth:`VisionTransformer.block_outputs`, A-FINE's
per-layer features), and :func:`load_image_encoder` builds the image encoder alone from a whole CLIP state dict.

Positional embeddings at other input sizes, as pyiqa's CLIP encoders (on which the published IQA checkpoints'
numbers rest) do: with ``positional=True`` the learnt embedding (class token first) is resized to the image's
token count as one 1-D sequence (bicubic, corners not aligned; the identity at the training size); with
``positional=False`` no positional embedding is added at all — what pyiqa's CLIP-IQA does with its default
``pos_embedding=False``, including in the ResNet attention pool.

Files: OpenAI's ``RN50.pt``, ``ViT-B-32.pt``, ``ViT-B-16.pt`` and ``ViT-L-14.pt`` from
``openaipublic.azureedge.net/clip/models/<sha256>/`` (the URLs pyiqa 0.1.16 and OpenAI's ``clip`` package use, the
full sha256 in the URL), kept in ``$TORCH_HOME/hub/clip`` (where pyiqa keeps them). They are TorchScript archives
holding convolution, linear and attention weights in float16; their tensors are read without running their code
(:mod:`metrics.deep.torchscript`) and computed in float32. A plain ``torch.save`` state dict of the same
layout loads too (the LIQE checkpoints hold the whole model under ``clip_model.``).

Tokeniser: open-clip-torch's (``open_clip.tokenizer.tokenize``; MIT licence, actively maintained, its byte-pair
vocabulary ``bpe_simple_vocab_16e6.txt.gz`` ships inside the wheel, so nothing is downloaded). It is OpenAI's CLIP
BPE with the same text cleaning (ftfy, HTML unescape, whitespace, lower case), start/end tokens and 77-token context
(longer texts truncated, the last token made end-of-text). The alternatives: OpenAI's ``clip`` module (PyPI
``openai-clip``, MIT) is unmaintained since 2022 and its package imports ``pkg_resources``, which current setuptools
no longer ships; transformers' ``CLIPTokenizer`` downloads its vocabulary from the hub. open-clip-torch costs a
1.5 MB wheel plus timm, safetensors, ftfy and regex; it is imported only when a CLIP metric is built.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.nets import Attention, build_meta, fill
from metrics.deep.weights import LoadedWeights, WeightFile, WeightIntegrityError

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
CONTEXT_LENGTH = 77
HEAD_WIDTH = 64

_OPENAI = "https://openaipublic.azureedge.net/clip/models"
URLS = {
    "RN50": f"{_OPENAI}/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
    "ViT-B/32": f"{_OPENAI}/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    "ViT-B/16": f"{_OPENAI}/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
    "ViT-L/14": f"{_OPENAI}/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
}
#: Tensors of OpenAI's archives that are not model parameters (size attributes, the text attention mask).
_NOT_PARAMETERS = ("input_resolution", "context_length", "vocab_size")


def openai_file(backbone: str) -> WeightFile:
    """OpenAI's published file of ``backbone`` (``RN50``, ``ViT-B/32``, ``ViT-B/16``, ``ViT-L/14``)."""
    if backbone not in URLS:
        raise ValueError(f"CLIP backbone must be one of {sorted(URLS)}, got {backbone!r}")
    return WeightFile.from_url(URLS[backbone], folder="clip", torchscript=True)


def tokenize(texts: Sequence[str]) -> torch.Tensor:
    """CLIP BPE token ids, len(texts)×77 (start, tokens, end-of-text, zero padding; long texts truncated)."""
    from open_clip.tokenizer import (
        tokenize as open_clip_tokenize,  # heavy import: only when a CLIP metric is built
    )

    return open_clip_tokenize(list(texts), context_length=CONTEXT_LENGTH)


def token_counts(texts: Sequence[str]) -> list[int]:
    """How many BPE tokens each text is, without the start and end-of-text tokens (texts that fit in 77)."""
    return [int(end) - 1 for end in tokenize(texts).argmax(dim=-1)]


def learnt_prompt_embedding(prefix: torch.Tensor, context: torch.Tensor, suffix: torch.Tensor,
                            class_lengths: Sequence[int]) -> torch.Tensor:
    """Token embeddings (P×77×width) of learnt prompts with the class name in the middle (CoOp-style, as CLIP-IQA+
    and QualiCLIP+ train them): start token (``prefix``, P×1×width), the first half of the context vectors
    (``context``, P×n×width), the prompt's ``class_lengths[i]`` class-name token embeddings (the head of
    ``suffix``), the second half of the context, then the rest of ``suffix`` (end-of-text and padding)."""
    half = context.shape[1] // 2
    rows = [torch.cat([prefix[i:i + 1], context[i:i + 1, :half], suffix[i:i + 1, :length],
                       context[i:i + 1, half:], suffix[i:i + 1, length:]], dim=1)
            for i, length in enumerate(class_lengths)]
    return torch.cat(rows, dim=0)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualBlock(nn.Module):
    """Pre-norm self-attention and MLP (4× width, QuickGELU), both residual; tokens N×L×width."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = Attention(width, heads)
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict(c_fc=nn.Linear(width, 4 * width), gelu=QuickGELU(),
                                             c_proj=nn.Linear(4 * width, width)))

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, causal=causal)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualBlock(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, causal)
        return x

    def block_outputs(self, x: torch.Tensor, causal: bool = False) -> list[torch.Tensor]:
        """The tokens after every block, first to last (the last one is :meth:`forward`'s result)."""
        outputs = []
        for block in self.resblocks:
            x = block(x, causal)
            outputs.append(x)
        return outputs


def _resized_positions(embedding: torch.Tensor, length: int) -> torch.Tensor:
    """The L×D positional embedding resized to ``length`` tokens as one sequence (bicubic, identity at L)."""
    grid = F.interpolate(embedding[None, None], size=(length, embedding.shape[1]), mode="bicubic",
                         align_corners=False)
    return grid[0, 0]


class VisionTransformer(nn.Module):
    def __init__(self, width: int, layers: int, patch: int, grid: int, output_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, width))
        self.ln_pre, self.ln_post = nn.LayerNorm(width), nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, width // HEAD_WIDTH)
        self.proj = nn.Parameter(torch.empty(width, output_dim))

    def _input_tokens(self, x: torch.Tensor, positional: bool) -> torch.Tensor:
        """The class token and the row-major patch tokens, N×(1+HW)×width, as the first block takes them."""
        patches = self.conv1(x).flatten(2).transpose(1, 2)  # N×HW×width
        cls = self.class_embedding.to(patches.dtype).expand(patches.shape[0], 1, -1)
        tokens = torch.cat([cls, patches], dim=1)
        if positional:
            tokens = tokens + _resized_positions(self.positional_embedding, tokens.shape[1]).to(tokens.dtype)
        return self.ln_pre(tokens)

    def forward(self, x: torch.Tensor, positional: bool) -> torch.Tensor:
        tokens = self.transformer(self._input_tokens(x, positional))
        return self.ln_post(tokens[:, 0]) @ self.proj

    def block_outputs(self, x: torch.Tensor, positional: bool) -> list[torch.Tensor]:
        """Every block's output tokens (class token first), N×(1+HW)×width each: the per-layer features that
        metrics built on the intermediate layers read (A-FINE)."""
        return self.transformer.block_outputs(self._input_tokens(x, positional))


class Bottleneck(nn.Module):
    """1×1, 3×3, [s×s average pool], 1×1 (×4 channels), BatchNorm and ReLU; an average-pooled projection shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        out = 4 * planes
        self.conv1, self.bn1 = nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out)
        self.pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.downsample = None
        if stride > 1 or inplanes != out:
            # named "-1" (pool, no tensors), "0", "1" in the published layout
            self.downsample = nn.Sequential(OrderedDict([("-1", nn.AvgPool2d(stride)),
                                                         ("0", nn.Conv2d(inplanes, out, 1, bias=False)),
                                                         ("1", nn.BatchNorm2d(out))]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.pool(F.relu(self.bn2(self.conv2(y))))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class AttentionPool(nn.Module):
    """The mean token attends over [mean, all positions]; its output, projected by ``c_proj``, is the feature."""

    def __init__(self, grid: int, width: int, heads: int, output_dim: int) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, width))
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(width, width) for _ in range(3))
        self.c_proj = nn.Linear(width, output_dim)
        self.heads = heads

    def forward(self, x: torch.Tensor, positional: bool) -> torch.Tensor:
        tokens = x.flatten(2).transpose(1, 2)  # N×HW×C
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)
        if positional:
            tokens = tokens + _resized_positions(self.positional_embedding, tokens.shape[1]).to(tokens.dtype)
        n, length, width = tokens.shape
        head = width // self.heads
        q = self.q_proj(tokens[:, :1]).view(n, 1, self.heads, head).transpose(1, 2)
        k = self.k_proj(tokens).view(n, length, self.heads, head).transpose(1, 2)
        v = self.v_proj(tokens).view(n, length, self.heads, head).transpose(1, 2)
        pooled = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, width)
        return self.c_proj(pooled)


class ModifiedResNet(nn.Module):
    def __init__(self, blocks: Sequence[int], width: int, grid: int, output_dim: int) -> None:
        super().__init__()
        half = width // 2
        self.conv1, self.bn1 = nn.Conv2d(3, half, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(half)
        self.conv2, self.bn2 = nn.Conv2d(half, half, 3, padding=1, bias=False), nn.BatchNorm2d(half)
        self.conv3, self.bn3 = nn.Conv2d(half, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)
        inplanes = width
        for stage, count in enumerate(blocks):
            planes = width * 2 ** stage
            stride = 1 if stage == 0 else 2
            layers = [Bottleneck(inplanes, planes, stride)] + [Bottleneck(4 * planes, planes, 1)
                                                                for _ in range(count - 1)]
            self.add_module(f"layer{stage + 1}", nn.Sequential(*layers))
            inplanes = 4 * planes
        self.attnpool = AttentionPool(grid, width * 32, width * 32 // HEAD_WIDTH, output_dim)

    def forward(self, x: torch.Tensor, positional: bool) -> torch.Tensor:
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)):
            x = F.relu(bn(conv(x)))
        x = F.avg_pool2d(x, 2)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return self.attnpool(x, positional)


@dataclasses.dataclass(frozen=True)
class ClipConfig:
    """What the tensor shapes of a CLIP state dict say about its architecture."""

    embed_dim: int
    vision_layers: int | tuple[int, ...]  # an int: a ViT; four block counts: a modified ResNet
    vision_width: int
    patch: int | None
    grid: int
    vocab_size: int
    text_width: int
    text_layers: int

    @classmethod
    def of(cls, state: dict[str, torch.Tensor]) -> ClipConfig:
        def count(prefix: str) -> int:
            return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})

        try:
            text = dict(embed_dim=state["text_projection"].shape[1], vocab_size=state["token_embedding.weight"].shape[0],
                        text_width=state["ln_final.weight"].shape[0], text_layers=count("transformer.resblocks."))
            if "visual.proj" in state:
                conv = state["visual.conv1.weight"]
                grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
                return cls(vision_layers=count("visual.transformer.resblocks."), vision_width=conv.shape[0],
                           patch=conv.shape[-1], grid=grid, **text)
            grid = round((state["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
            blocks = tuple(count(f"visual.layer{i}.") for i in range(1, 5))
            return cls(vision_layers=blocks, vision_width=state["visual.layer1.0.conv1.weight"].shape[0], patch=None,
                       grid=grid, **text)
        except KeyError as exc:
            raise WeightIntegrityError(f"not a CLIP state dict: no tensor {exc}") from exc

    @property
    def input_resolution(self) -> int:
        return self.grid * (self.patch or 32)


def image_encoder(config: ClipConfig) -> nn.Module:
    """The image encoder ``config`` describes (a :class:`ModifiedResNet` or a :class:`VisionTransformer`)."""
    if isinstance(config.vision_layers, tuple):
        return ModifiedResNet(config.vision_layers, config.vision_width, config.grid, config.embed_dim)
    assert config.patch is not None
    return VisionTransformer(config.vision_width, config.vision_layers, config.patch, config.grid, config.embed_dim)


class CLIP(nn.Module):
    """Image and text encoders under OpenAI's state-dict names (text parts at the top level)."""

    def __init__(self, config: ClipConfig) -> None:
        super().__init__()
        self.config = config
        self.visual = image_encoder(config)
        self.token_embedding = nn.Embedding(config.vocab_size, config.text_width)
        self.positional_embedding = nn.Parameter(torch.empty(CONTEXT_LENGTH, config.text_width))
        self.transformer = Transformer(config.text_width, config.text_layers, config.text_width // HEAD_WIDTH)
        self.ln_final = nn.LayerNorm(config.text_width)
        self.text_projection = nn.Parameter(torch.empty(config.text_width, config.embed_dim))
        self.logit_scale = nn.Parameter(torch.empty(()))

    def encode_image(self, x: torch.Tensor, positional: bool) -> torch.Tensor:
        """Features of CLIP-standardised images (N×3×H×W → N×embed_dim)."""
        return self.visual(x, positional)

    def encode_embedded_text(self, embedded: torch.Tensor, end_index: torch.Tensor) -> torch.Tensor:
        """Features of token embeddings (N×77×width) read at the end-of-text positions ``end_index``.

        Under the causal mask no position attends to a later one, so the positions after the last end-of-text
        token cannot change the features: they are left out (LIQE's 495 prompts: 77 → 24 positions)."""
        length = int(end_index.max()) + 1
        x = self.transformer(embedded[:, :length] + self.positional_embedding[:length], causal=True)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), end_index] @ self.text_projection

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encode_embedded_text(self.token_embedding(tokens), tokens.argmax(dim=-1))


def _clip_tensors(loaded: LoadedWeights, prefix: str) -> dict[str, torch.Tensor]:
    """The model parameters under ``prefix`` (and an optional ``module.``), the prefix removed."""
    tensors = {k.removeprefix("module.")[len(prefix):]: v for k, v in loaded.state_dict.items()
               if k.removeprefix("module.").startswith(prefix)}
    return {k: v for k, v in tensors.items() if k not in _NOT_PARAMETERS and not k.endswith("attn_mask")}


def load_clip(loaded: LoadedWeights, prefix: str = "") -> CLIP:
    """The CLIP model whose tensors are under ``prefix`` in ``loaded``, float32 (every parameter must be there)."""
    tensors = _clip_tensors(loaded, prefix)
    config = ClipConfig.of(tensors)
    return fill(build_meta(lambda: CLIP(config)), dataclasses.replace(loaded, state_dict=tensors)).eval()


def load_image_encoder(loaded: LoadedWeights, prefix: str = "") -> nn.Module:
    """Only the image encoder (``visual.``) of the CLIP model under ``prefix`` in ``loaded``, float32: for metrics
    that never encode text (the text tower's tensors are read for the configuration, not kept)."""
    tensors = _clip_tensors(loaded, prefix)
    config = ClipConfig.of(tensors)
    visual = {k.removeprefix("visual."): v for k, v in tensors.items() if k.startswith("visual.")}
    return fill(build_meta(lambda: image_encoder(config)), dataclasses.replace(loaded, state_dict=visual)).eval()


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Standardise [0, 1] images with CLIP's mean and standard deviation."""
    mean = torch.tensor(MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def cosine_logits(image_features: torch.Tensor, text_features: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """exp(scale) × cosine similarity of every image feature with every text feature (N×T)."""
    image = image_features / image_features.norm(dim=-1, keepdim=True)
    text = text_features / text_features.norm(dim=-1, keepdim=True)
    return scale.exp() * image @ text.T


def antonym_preference(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean probability of the positive prompt over antonym pairs: logits N×2K (positive, negative, positive, …),
    one softmax of ``logits / temperature`` per pair, averaged over the K pairs → N."""
    return (logits.view(logits.shape[0], -1, 2) / temperature).softmax(dim=-1)[..., 0].mean(dim=1)
