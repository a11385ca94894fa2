"""Building blocks shared by the patch/backbone deep metrics (no metric is registered here).

* :func:`unwrap` — a checkpoint whose tensors sit under one top-level key (``{"params": {...}}``).
* :func:`conv_stack` — a VGG-style ``Sequential`` of 3×3 convolutions, ReLUs and 2×2 max-pools from a config list,
  with the module indices that torchvision's VGG and the published WaDIQaM/DBCNN checkpoints use.
* :func:`bottleneck_stage` — one ResNet-50 stage (torchvision's ``Bottleneck`` blocks, stride on the 3×3 conv).
* :func:`grid_patches` — square patches on a regular grid, as one batch (N·P×C×k×k), image-major order.
* :func:`uniform_crops` — pyiqa's deterministic test-time crops (HyperIQA: 25, TReS: 50, MANIQA and AHIQ: 20).
* :class:`L2Pool` / :func:`l2_pooled_layers` — a VGG trunk whose max-pools are L2 pools (DISTS, DMM).
* :func:`build_meta` / :func:`fill` — build a module without random initialisation and fill it strictly from a file.
* :class:`Attention` — multi-head attention under torch's packed parameter names (``in_proj_weight``, ``out_proj``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from metrics.deep.weights import LoadedWeights, WeightIntegrityError, load_module


def unwrap(loaded: LoadedWeights, key: str) -> LoadedWeights:
    """The same file with ``state_dict`` replaced by ``state_dict[key]`` (e.g. ``params``)."""
    inner = loaded.state_dict.get(key)
    if not isinstance(inner, dict):
        raise WeightIntegrityError(f"weight file {loaded.file.filename} ({loaded.path}) has no {key!r} state dict")
    return dataclasses.replace(loaded, state_dict=inner)


def build_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` on the meta device: no time spent on random initialisation of what a file will overwrite."""
    with torch.device("meta"):
        return build()


def fill(module: nn.Module, loaded: LoadedWeights, prefix: str = "", ignore: tuple[str, ...] = ()) -> nn.Module:
    """Adopt the file's tensors under ``prefix`` into a meta-built ``module`` (every key must fit), float32."""
    load_module(module, loaded, prefix=prefix, ignore=ignore, assign=True)
    return module.float().requires_grad_(False)


#: VGG-16's convolutions up to relu5_3 (its last max-pool left out), in :func:`conv_stack`'s notation.
VGG16_TO_RELU5_3 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def conv_stack(cfg: Sequence[int | str], in_channels: int = 3, batch_norm: bool = False,
               pool: Callable[[int], Sequence[nn.Module]] | None = None) -> nn.Sequential:
    """3×3 conv (padding 1) [+ BatchNorm] + ReLU per integer in ``cfg``; 'M' is a 2×2 max-pool of stride 2, or the
    modules ``pool(channels)`` returns (ST-LPIPS: a stride-1 max-pool and a blur-pool)."""
    layers: list[nn.Module] = []
    for item in cfg:
        if item == "M":
            layers.extend(pool(in_channels) if pool else [nn.MaxPool2d(2, 2)])
            continue
        layers.append(nn.Conv2d(in_channels, int(item), 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(item)))
        layers.append(nn.ReLU())
        in_channels = int(item)
    return nn.Sequential(*layers)


def bottleneck_stage(inplanes: int, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
    """``blocks`` ResNet bottlenecks of width ``planes`` (output 4·planes); the first one projects the shortcut."""
    from torchvision.models.resnet import Bottleneck

    out = planes * Bottleneck.expansion
    shortcut = None
    if stride != 1 or inplanes != out:
        shortcut = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
    layers = [Bottleneck(inplanes, planes, stride, shortcut)]
    layers += [Bottleneck(out, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def grid_positions(length: int, size: int, stride: int, include_last: bool = True) -> int:
    """How many windows of ``size`` start at 0, stride, 2·stride, … (``include_last=False``: starts < length-size)."""
    if include_last:
        return (length - size) // stride + 1 if length >= size else 0
    return max(0, -(-(length - size) // stride))


def grid_patches(x: torch.Tensor, size: int, stride: int, rows: int, cols: int) -> torch.Tensor:
    """The rows×cols patches of ``size`` at (i·stride, j·stride) of each image: (N·rows·cols)×C×size×size."""
    n, c = x.shape[:2]
    span_h, span_w = (rows - 1) * stride + size, (cols - 1) * stride + size
    windows = x[..., :span_h, :span_w].unfold(2, size, stride).unfold(3, size, stride)  # N,C,rows,cols,k,k
    return windows.permute(0, 2, 3, 1, 4, 5).reshape(n * rows * cols, c, size, size)


def uniform_crops(x: torch.Tensor, size: int, count: int) -> torch.Tensor:
    """``count`` size×size crops of each image (image-major, N·count×C×size×size), as pyiqa's test-time crops.

    Images whose shorter side is at most ``size`` are first enlarged (bilinear, scale factor (size+1)/shorter
    side). Crops start at (i·step_h, j·step_w), step = ⌊(side − size)/⌊√count⌋⌋, on a ⌈√count⌉² grid read row by
    row, of which the first ``count`` are kept (25: a 5×5 grid; 50: six rows of 8 and two crops of a seventh).
    """
    h, w = x.shape[-2:]
    if min(h, w) <= size:
        x = F.interpolate(x, scale_factor=(size + 1) / min(h, w), mode="bilinear", align_corners=False)
        h, w = x.shape[-2:]
    step_h, step_w = (h - size) // math.isqrt(count), (w - size) // math.isqrt(count)
    grid = math.ceil(math.sqrt(count))
    crops = [x[..., i * step_h : i * step_h + size, j * step_w : j * step_w + size]
             for i in range(grid) for j in range(grid)][:count]
    return torch.stack(crops, dim=1).flatten(0, 1)


RESNET_DEPTHS = (18, 34, 50, 101, 152)


def resnet_trunk(depth: int = 50) -> nn.Module:
    """torchvision's ResNet-``depth`` without its classifier (``fc`` is an identity), randomly initialised."""
    # imported on use: the registry imports the metric modules in every process
    from torchvision import models

    if depth not in RESNET_DEPTHS:
        raise ValueError(f"ResNet depth must be one of {RESNET_DEPTHS}, got {depth}")
    net = getattr(models, f"resnet{depth}")(weights=None)
    net.fc = nn.Identity()
    return net


def resnet_stages(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The outputs of a torchvision ResNet's four stages (``layer1`` … ``layer4``)."""
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    stages = []
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        x = layer(x)
        stages.append(x)
    return stages


def resnet_feature_map(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output of a torchvision ResNet's last stage (``layer4``), before its global average pool."""
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


class L2Pool(nn.Module):
    """sqrt(hann3x3 * x² + 1e-12), depthwise, stride 2 (TReS: 1), padding 1: the Hann window
    [1/4, 1/2, 1/4]⊗[1/4, 1/2, 1/4] applied to the squared features (Hénaff & Simoncelli's L2 pooling, as DISTS
    uses it)."""

    def __init__(self, stride: int = 2) -> None:
        super().__init__()
        self.stride = stride
        h = torch.tensor([0.5, 1.0, 0.5])
        window = torch.outer(h, h)
        self.register_buffer("window", (window / window.sum()).view(1, 1, 3, 3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        out = F.conv2d(x * x, self.window.to(x.dtype).expand(c, 1, 3, 3), stride=self.stride, padding=1,
                       groups=c)
        return (out + 1e-12).sqrt()


def l2_pooled_layers(features: nn.Sequential, last: int) -> nn.ModuleList:
    """Modules 0…``last`` of a VGG ``features`` stack, every max-pool replaced by an :class:`L2Pool` and every ReLU
    made out-of-place (the caller keeps intermediate outputs), frozen."""
    layers = []
    for layer in list(features)[: last + 1]:
        if isinstance(layer, nn.MaxPool2d):
            layer = L2Pool()
        elif isinstance(layer, nn.ReLU):
            layer.inplace = False
        layers.append(layer)
    return nn.ModuleList(layers).requires_grad_(False)


class Attention(nn.Module):
    """Multi-head attention with torch's packed projection names (``in_proj_weight``, ``in_proj_bias``,
    ``out_proj``) on N×L×E tokens; ``causal=True`` lets token i attend to tokens ≤ i only."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        self.out_proj = nn.Linear(dim, dim)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        return x.view(n, length, self.heads, dim // self.heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, memory: torch.Tensor, causal: bool = False,
                value: torch.Tensor | None = None) -> torch.Tensor:
        """Attention of ``query`` to ``memory``: keys and values from ``memory``, or the values from ``value``
        when given (DETR-style encoders add positions to queries and keys only)."""
        dim = query.shape[-1]
        w_q, w_kv = self.in_proj_weight.split([dim, 2 * dim])
        b_q, b_kv = self.in_proj_bias.split([dim, 2 * dim])
        q = self._split_heads(F.linear(query, w_q, b_q))
        if value is None:
            k, v = (self._split_heads(t) for t in F.linear(memory, w_kv, b_kv).chunk(2, dim=-1))
        else:
            (w_k, w_v), (b_k, b_v) = w_kv.chunk(2), b_kv.chunk(2)
            k, v = self._split_heads(F.linear(memory, w_k, b_k)), self._split_heads(F.linear(value, w_v, b_v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out_proj(out.transpose(1, 2).flatten(2))
