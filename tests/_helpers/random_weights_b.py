"""Random weight files in the published layouts of MUSIQ, PaQ-2-PiQ and NIMA (VGG-16, Inception-ResNet-v2).

The key names and shapes are facts of the published files, written out here independently of our modules, so
that a strict load proves our modules fit the published layout. Merged into ``random_weights.FILES``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torchvision import models


def _random_state(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Seeded random tensors for a key → shape layout, scaled like ``_rand_like_state``."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        elif key.endswith(("running_mean", "bias")):
            state[key] = 0.1 * torch.randn(shape, generator=gen)
        elif key.endswith(("_emb", "cls")):
            state[key] = 0.5 * torch.randn(shape, generator=gen)
        elif len(shape) <= 1:
            state[key] = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            fan_in = int(torch.tensor(shape[1:]).prod())
            state[key] = torch.randn(shape, generator=gen) * (2.0 / fan_in) ** 0.5
    return state


def _module_state(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    return _random_state({key: tuple(value.shape) for key, value in module.state_dict().items()}, seed)


def _musiq_layout(classes: int) -> dict[str, tuple[int, ...]]:
    """The published MUSIQ checkpoint layout (patch 32, hidden 384, MLP 1152, 14 layers, 3 scales, grid 10)."""
    shapes: dict[str, tuple[int, ...]] = {
        "conv_root.weight": (64, 3, 7, 7),
        "gn_root.weight": (64,),
        "gn_root.bias": (64,),
    }
    for name, cout, cin, k in (("1", 64, 64, 1), ("2", 64, 64, 3), ("3", 256, 64, 1), ("_proj", 256, 64, 1)):
        shapes[f"block1.conv{name}.weight"] = (cout, cin, k, k)
        shapes[f"block1.gn{name}.weight"] = (cout,)
        shapes[f"block1.gn{name}.bias"] = (cout,)
    shapes["embedding.weight"] = (384, 256 * 8 * 8)
    shapes["embedding.bias"] = (384,)
    enc = "transformer_encoder"
    shapes[f"{enc}.posembed_input.position_emb"] = (1, 100, 384)
    shapes[f"{enc}.scaleembed_input.scale_emb"] = (3, 384)
    shapes[f"{enc}.cls"] = (1, 1, 384)
    shapes[f"{enc}.encoder_norm.weight"] = (384,)
    shapes[f"{enc}.encoder_norm.bias"] = (384,)
    for i in range(14):
        block = f"{enc}.transformer.encoderblock_{i}"
        for norm in ("norm1", "norm2"):
            shapes[f"{block}.{norm}.weight"] = (384,)
            shapes[f"{block}.{norm}.bias"] = (384,)
        for proj in ("query", "key", "value", "out"):
            shapes[f"{block}.attention.{proj}.weight"] = (384, 384)
            shapes[f"{block}.attention.{proj}.bias"] = (384,)
        shapes[f"{block}.mlp.fc1.weight"] = (1152, 384)
        shapes[f"{block}.mlp.fc1.bias"] = (1152,)
        shapes[f"{block}.mlp.fc2.weight"] = (384, 1152)
        shapes[f"{block}.mlp.fc2.bias"] = (384,)
    head = "head.0" if classes > 1 else "head"
    shapes[f"{head}.weight"] = (classes, 384)
    shapes[f"{head}.bias"] = (classes,)
    return shapes


def _musiq(classes: int, seed: int) -> dict[str, torch.Tensor]:
    state = _random_state(_musiq_layout(classes), seed)
    if classes == 1:  # scores around 50 like the published MOS heads (relative differences stay meaningful)
        state["head.bias"] += 50.0
    return state


def _paq2piq(seed: int) -> dict[str, torch.Tensor]:
    """ResNet-18 trunk under ``body.<child index>`` and the fastai head (BN 1024, FC 512, BN 512, FC 1)."""
    trunk = _module_state(models.resnet18(weights=None), seed)
    children = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
    state = {}
    for key, value in trunk.items():
        first, rest = key.split(".", 1)
        if first in ("fc",):
            continue
        state[f"body.{children.index(first)}.{rest}"] = value
    head: dict[str, tuple[int, ...]] = {}
    for index, width in ((2, 1024), (6, 512)):
        for part in ("weight", "bias", "running_mean", "running_var"):
            head[f"head.{index}.{part}"] = (width,)
        head[f"head.{index}.num_batches_tracked"] = ()
    head.update({"head.4.weight": (512, 1024), "head.4.bias": (512,), "head.8.weight": (1, 512), "head.8.bias": (1,)})
    state.update(_random_state(head, seed + 1))
    return state


def _nima_vgg16(seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """A ``params`` dict: VGG-16 convolutions as timm's feature net names them, and the 512→10 classifier."""
    shapes: dict[str, tuple[int, ...]] = {}
    cin = 3
    for index, cout in zip((0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), (64, 64, 128, 128) + (256,) * 3 + (512,) * 6):
        shapes[f"base_model.features_{index}.weight"] = (cout, cin, 3, 3)
        shapes[f"base_model.features_{index}.bias"] = (cout,)
        cin = cout
    shapes.update({"classifier.2.weight": (10, 512), "classifier.2.bias": (10,)})
    state = _random_state(shapes, seed)
    state["classifier.2.weight"] *= 0.2  # logits of order 1: a spread distribution, distinct scores
    return {"params": state}


def _nima_inception(classes: int, seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """A ``params`` dict: Inception-ResNet-v2 under ``base_model.`` as timm's feature net names it (its key layout
    taken from timm, independently of our module), and the 1536→``classes`` classifier."""
    import timm

    trunk = timm.create_model("inception_resnet_v2", pretrained=False, features_only=True)
    shapes = {f"base_model.{key}": tuple(value.shape) for key, value in trunk.state_dict().items()}
    shapes.update({"classifier.2.weight": (classes, 1536), "classifier.2.bias": (classes,)})
    state = _random_state(shapes, seed)
    state["classifier.2.weight"] *= 0.05  # outputs of order 1: a spread distribution, distinct scores
    return {"params": state}


#: file name → (source, generator of its content).
FILES_B: dict[str, tuple[str, Callable[[], object]]] = {
    "musiq_koniq_ckpt-e95806b9.pth": ("hf", lambda: _musiq(1, 101)),
    "musiq_ava_ckpt-e8d3f067.pth": ("hf", lambda: _musiq(10, 102)),
    "musiq_paq2piq_ckpt-364c0c84.pth": ("hf", lambda: _musiq(1, 103)),
    "musiq_spaq_ckpt-358bb6af.pth": ("hf", lambda: _musiq(1, 104)),
    "P2P_RoIPoolModel-fit.10.bs.120-ca69882e.pth": ("hf", lambda: _paq2piq(105)),
    "NIMA_VGG16_ava-dc4e8265.pth": ("hf", lambda: _nima_vgg16(107)),
    "NIMA_InceptionV2_ava-b0c77c00.pth": ("hf", lambda: _nima_inception(10, 108)),
    "NIMA_koniq-250367ae.pth": ("hf", lambda: _nima_inception(1, 109)),
    "NIMA-spaq-46a7fcb7.pth": ("hf", lambda: _nima_inception(1, 110)),
    # pyiqa builds its PaQ-2-PiQ trunk from torchvision's ImageNet file before the checkpoint overwrites it
    "resnet18-f37072fd.pth": ("torchvision", lambda: _module_state(models.resnet18(weights=None), 106)),
}
