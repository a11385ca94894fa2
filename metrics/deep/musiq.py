"""MUSIQ: multi-scale image quality transformer (KonIQ-10k, AVA, PaQ-2-PiQ and SPAQ checkpoints).

Ke, Wang, Wang, Milanfar & Yang, "MUSIQ: Multi-scale Image Quality Transformer", ICCV 2021.

The image, mapped to [-1, 1], is represented at three scales: resized (bicubic, aspect ratio kept) so that its
longer side is 224 and 384, and at its own resolution. Each scale is zero-padded to a multiple of 32 (TensorFlow
'SAME' split: the smaller half before) and cut into non-overlapping 32×32 patches. Every patch is encoded by a
small ResNet stem (7×7/2 weight-standardised conv, GroupNorm, ReLU, 3×3/2 max-pool, one bottleneck block 64→256,
all weight-standardised convolutions with GroupNorm) into an 8×8×256 map, flattened in height-width-channel order
and projected to a 384-d token. A token gets the hash-based spatial embedding of its position (the patch grid of
each scale mapped onto a 10×10 grid by nearest-neighbour resizing) and the embedding of its scale (0, 1, 2).
A class token is prepended and the sequence goes through 14 pre-norm transformer blocks (6 heads, MLP 1152,
GELU); the head maps the final class token to a score (KonIQ, PaQ-2-PiQ, SPAQ) or to a 10-bin distribution
whose mean is the score (AVA).

The published implementation pads each resized scale with masked-out tokens up to ceil(L/32)² tokens and
masks them with an additive −1000 on the attention logits; after the softmax their weight is exactly 0 in
float32, so they are left out here (same result, less work).

Weights: pyiqa's ``musiq_{koniq,ava,paq2piq,spaq}_ckpt-*.pth`` (keys ``conv_root``, ``gn_root``, ``block1.*``,
``embedding``, ``transformer_encoder.*``, ``head`` / ``head.0``).

Calibration: proved equal to pyiqa 0.1.16 with identical random weights (tests/deep/test_equivalence_musiq.py,
max relative difference measured 2.6e-7 or less per checkpoint); against the official values (``musiq*`` rows,
rtol 0.03) only when the published weights are cached — official values unverified here (no published weights
could be downloaded).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.common import DeepMetric
from metrics.deep.weights import WeightFile, load_module
from metrics.registry import Calibration, MetricSpec, Resources

PATCH = 32
GRID = 10  # hash-based spatial embedding grid
LONGER_SIDES = (224, 384)
DIM, MLP_DIM, HEADS, LAYERS = 384, 1152, 6, 14
STEM = 64

_FILES = {
    "koniq": WeightFile("musiq_koniq_ckpt-e95806b9.pth"),
    "ava": WeightFile("musiq_ava_ckpt-e8d3f067.pth"),
    "paq2piq": WeightFile("musiq_paq2piq_ckpt-364c0c84.pth"),
    "spaq": WeightFile("musiq_spaq_ckpt-358bb6af.pth"),
}
_NAMES = {"koniq": "musiq", "ava": "musiq-ava", "paq2piq": "musiq-paq2piq", "spaq": "musiq-spaq"}
WEIGHT_FILES = {_NAMES[k]: (wf,) for k, wf in _FILES.items()}


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero padding of TensorFlow's 'SAME' convolution: output ceil(n/stride), the smaller half first."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class StdConv(nn.Conv2d):
    """A bias-free convolution with weight standardisation ((w − mean) / (unbiased std + 1e-5) per filter)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(same_pad(x, self.kernel_size[0], self.stride[0]), w, stride=self.stride)


class Bottleneck(nn.Module):
    """ResNet-v1 bottleneck (1×1, 3×3, 1×1) of width ``cin`` with GroupNorm(32) and a projected shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.gn1 = StdConv(cin, cin, 1), nn.GroupNorm(32, cin, eps=1e-4)
        self.conv2, self.gn2 = StdConv(cin, cin, 3), nn.GroupNorm(32, cin, eps=1e-4)
        self.conv3, self.gn3 = StdConv(cin, cout, 1), nn.GroupNorm(32, cout, eps=1e-4)
        self.conv_proj, self.gn_proj = StdConv(cin, cout, 1), nn.GroupNorm(32, cout, eps=1e-4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.gn_proj(self.conv_proj(x))
        y = F.relu(self.gn1(self.conv1(x)))
        y = F.relu(self.gn2(self.conv2(y)))
        return F.relu(self.gn3(self.conv3(y)) + shortcut)


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.query, self.key, self.value, self.out = (nn.Linear(DIM, DIM) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, _ = x.shape
        q, k, v = (p(x).view(n, length, HEADS, DIM // HEADS).transpose(1, 2) for p in (self.query, self.key, self.value))
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(n, length, DIM))


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(DIM, MLP_DIM), nn.Linear(MLP_DIM, DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + MHA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(DIM, eps=1e-6), nn.LayerNorm(DIM, eps=1e-6)
        self.attention, self.mlp = Attention(), Mlp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PosEmb(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.position_emb = nn.Parameter(torch.empty(1, GRID * GRID, DIM))


class _ScaleEmb(nn.Module):
    def __init__(self, scales: int) -> None:
        super().__init__()
        self.scale_emb = nn.Parameter(torch.empty(scales, DIM))


class Encoder(nn.Module):
    def __init__(self, scales: int) -> None:
        super().__init__()
        self.posembed_input = _PosEmb()
        self.scaleembed_input = _ScaleEmb(scales)
        self.cls = nn.Parameter(torch.empty(1, 1, DIM))
        self.encoder_norm = nn.LayerNorm(DIM, eps=1e-6)
        self.transformer = nn.ModuleDict({f"encoderblock_{i}": Block() for i in range(LAYERS)})

    def forward(self, tokens: torch.Tensor, spatial: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        x = tokens + self.posembed_input.position_emb[0, spatial] + self.scaleembed_input.scale_emb[scale]
        x = torch.cat([self.cls.expand(x.shape[0], 1, DIM), x], dim=1)
        for block in self.transformer.values():
            x = block(x)
        return x  # the final ``encoder_norm`` is applied by MUSIQNet.predict (in float32)


class MUSIQNet(nn.Module):
    """Patch stem + transformer; ``encode`` maps (N, L, 3, 32, 32) patches to the transformer's (N, 1 + L, DIM)
    tokens, ``predict`` their final LayerNorm and the class token's head to (N, classes) outputs."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.conv_root = StdConv(3, STEM, 7, 2)
        self.gn_root = nn.GroupNorm(32, STEM, eps=1e-6)
        self.block1 = Bottleneck(STEM, 4 * STEM)
        self.embedding = nn.Linear(4 * STEM * (PATCH // 4) ** 2, DIM)
        self.transformer_encoder = Encoder(len(LONGER_SIDES) + 1)
        self.head = nn.Linear(DIM, classes) if classes == 1 else nn.Sequential(nn.Linear(DIM, classes))

    def encode(self, patches: torch.Tensor, spatial: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        n, length = patches.shape[:2]
        x = F.relu(self.gn_root(self.conv_root(patches.reshape(n * length, 3, PATCH, PATCH))))
        x = F.max_pool2d(same_pad(x, 3, 2), 3, 2)
        x = self.block1(x)  # (n·L, 256, 8, 8)
        x = self.embedding(x.permute(0, 2, 3, 1).reshape(n, length, -1))
        return self.transformer_encoder(x, spatial, scale)

    def predict(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.transformer_encoder.encoder_norm(tokens)[:, 0])


def hashed_positions(rows: int, cols: int, device: torch.device) -> torch.Tensor:
    """Index into the GRID×GRID spatial embedding of each patch of a rows×cols patch grid (row-major)."""
    grid = torch.arange(GRID, dtype=torch.float32, device=device).view(1, 1, GRID)
    r = F.interpolate(grid, size=rows, mode="nearest").view(rows, 1)
    c = F.interpolate(grid, size=cols, mode="nearest").view(1, cols)
    return (r * GRID + c).flatten().long()


def patchify(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) → (N, L, 3, 32, 32): 'SAME'-padded non-overlapping patches in row-major order."""
    x = same_pad(x, PATCH, PATCH)
    n, c, h, w = x.shape
    rows, cols = h // PATCH, w // PATCH
    return x.view(n, c, rows, PATCH, cols, PATCH).permute(0, 2, 4, 1, 3, 5).reshape(n, rows * cols, c, PATCH, PATCH)


def multiscale_patches(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Patches of the 224- and 384-px (longer side) resizes and of the original, with position and scale ids."""
    h, w = x.shape[-2:]
    patches, spatial, scale = [], [], []
    for scale_id, longer in enumerate((*sorted(LONGER_SIDES), None)):
        if longer is None:
            image = x
        else:
            ratio = longer / max(h, w)
            image = F.interpolate(x, size=(round(h * ratio), round(w * ratio)), mode="bicubic", align_corners=False)
        p = patchify(image)
        patches.append(p)
        spatial.append(hashed_positions(math.ceil(image.shape[-2] / PATCH), math.ceil(image.shape[-1] / PATCH), x.device))
        scale.append(torch.full((p.shape[1],), scale_id, dtype=torch.long, device=x.device))
    return torch.cat(patches, dim=1), torch.cat(spatial), torch.cat(scale)


class MUSIQ(DeepMetric):
    min_size = 1  # any size: every scale is padded to whole patches

    def __init__(self, dataset: str = "koniq", precision: str = "float32") -> None:
        super().__init__(precision)
        if dataset not in _FILES:
            raise ValueError(f"musiq: dataset must be one of {sorted(_FILES)}, got {dataset!r}")
        self.classes = 10 if dataset == "ava" else 1
        with torch.device("meta"):
            net = MUSIQNet(self.classes)
        load_module(net, self.load_weights(_FILES[dataset]), assign=True)
        self.net = net.float().requires_grad_(False)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        patches, spatial, scale = multiscale_patches(2 * dist - 1)
        with self.autocast(patches):
            tokens = self.net.encode(patches, spatial, scale)
        out = self.net.predict(tokens.float())  # float32: a reduced-precision head would round the scores
        if self.classes == 1:
            return out[:, 0]
        bins = torch.arange(1, self.classes + 1, device=out.device, dtype=out.dtype)
        return out.softmax(dim=-1) @ bins


_PAPER = "Ke, Wang, Wang, Milanfar & Yang, MUSIQ: Multi-scale Image Quality Transformer, ICCV 2021"
_CAL = "pyiqa 0.1.16 on identical random weights (max rel. diff {diff}); official values unverified here"
#: measured by tests/deep/test_equivalence_musiq.py (float32, CPU)
_MEASURED = {"koniq": "7.8e-08", "ava": "2.6e-07", "paq2piq": "7.6e-08", "spaq": "0 (random 64x80 only)"}
_RES = Resources(num_cpus=1, num_gpus=0.1, memory_mb=1000)


def _spec(dataset: str, score_range: tuple[float, float]) -> MetricSpec:
    return MetricSpec(
        name=_NAMES[dataset],
        mode="NR",
        lower_better=False,
        score_range=score_range,
        paper=_PAPER,
        calibration=Calibration.EQUIVALENT,
        calibration_detail=_CAL.format(diff=_MEASURED[dataset]),
        factory=MUSIQ,
        options={"dataset": dataset, "precision": "float32"},
        version="2",  # 2: score head in float32 under reduced precision
        resources=_RES,
        calibration_key=_NAMES[dataset],
    )


SPECS = (
    _spec("koniq", (0.0, 100.0)),
    _spec("ava", (1.0, 10.0)),
    _spec("paq2piq", (0.0, 100.0)),
    _spec("spaq", (0.0, 100.0)),
)
