"""Random weight files in the published layouts of the CLIP family: OpenAI's CLIP archives, CLIP-IQA+, LIQE,
A-FINE, QualiCLIP.

OpenAI's files (``RN50.pt``, ``ViT-B-32.pt``, ``ViT-L-14.pt``) are TorchScript archives whose convolution, linear
and attention weights are float16 (the rest float32); the random ones are written the same way: a module tree
holding exactly the published tensors, scripted and saved, so that both our reader and pyiqa's ``torch.jit.load``
read the published format. Their layout is taken from the reference package (OpenAI's ``clip.model.CLIP`` built on
the meta device with the published configurations), not from our module, so a strict load proves that ours fits.

The CLIP-IQA+ and LIQE checkpoints are plain ``torch.save`` files: a bare context tensor (``clipiqa+``),
``params`` with the prompt learner's three tensors (the 512-px checkpoints), ``params`` with the whole CLIP under
``clip_model.`` (LIQE), the whole CLIP at the top of ``finetuned_clip`` next to the heads (A-FINE's ``afine.pth``;
its CLIP keeps OpenAI's float16 layers, which both loaders widen to float32: half the disk of float32), the whole
CLIP RN50 under ``clip_model.`` beside ``prompts_features`` (QualiCLIP), ``params`` with a prompt learner of 14
prompts (QualiCLIP+).

Disk: RN50 0.2 GB, ViT-B/32 0.3 GB, ViT-L/14 0.9 GB (float16 as published), afine.pth 0.3 GB; each is written at
most once per session and shared by every metric that uses it (the four A-FINE names share afine.pth). Merged into ``random_weights.FILES``.
"""

from __future__ import annotations

import math
import sys
import types
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from metrics.deep.clip_trunk import MEAN, STD
from tests._helpers.random_weights_b import _random_state

#: OpenAI's published configurations: embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
#: context_length, vocab_size, transformer_width, transformer_heads, transformer_layers.
CONFIGS = {
    "RN50": (1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12),
    "ViT-B/32": (512, 224, 12, 768, 32, 77, 49408, 512, 8, 12),
    "ViT-L/14": (768, 224, 24, 1024, 14, 77, 49408, 768, 12, 12),
}
FILE_NAMES = {"RN50": "RN50.pt", "ViT-B/32": "ViT-B-32.pt", "ViT-L/14": "ViT-L-14.pt"}
CLIP_FOLDER = "clip"  # under $TORCH_HOME/hub, as pyiqa and OpenAI's package keep them


def import_openai_clip() -> types.ModuleType:
    """OpenAI's ``clip`` package (PyPI ``openai-clip``, a test dependency through pyiqa). Its ``clip.py`` imports
    ``packaging`` through ``pkg_resources``, which current setuptools no longer ships: a stand-in module that
    provides exactly that attribute is put in ``sys.modules`` first (only a version comparison uses it)."""
    if "pkg_resources" not in sys.modules:
        import packaging.version

        stand_in = types.ModuleType("pkg_resources")
        stand_in.packaging = packaging  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = stand_in
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import clip

    return clip


def seeded_clip_download(torch_home: Path) -> Callable[..., str]:
    """A stand-in for OpenAI's ``clip._download`` (and pyiqa's copy of it) that hands over the seeded file of the
    model a URL names, offline, and fails when that file was not seeded."""
    clip_folder = torch_home / "hub" / CLIP_FOLDER

    def seeded(url: str, root: str | None = None) -> str:
        path = clip_folder / url.rsplit("/", 1)[-1]
        assert path.is_file(), f"not seeded: {path}"
        return str(path)

    return seeded


def openai_layout(backbone: str) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """key → (shape, dtype) of OpenAI's published state dict for ``backbone``: convolution, linear and attention
    weights and biases and the ``proj``/``text_projection`` matrices in float16, the rest in float32."""
    clip = import_openai_clip()
    with torch.device("meta"):
        model = clip.model.CLIP(*CONFIGS[backbone])
    half: set[str] = set()
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            half.update(f"{prefix}{p}" for p, _ in module.named_parameters(recurse=False))
        if isinstance(module, nn.MultiheadAttention):
            half.update((f"{prefix}in_proj_weight", f"{prefix}in_proj_bias"))
        for attribute in ("proj", "text_projection"):
            if isinstance(getattr(module, attribute, None), nn.Parameter):
                half.add(f"{prefix}{attribute}")
    return {key: (tuple(value.shape), torch.float16 if key in half else torch.float32)
            for key, value in model.state_dict().items()}


def _clip_state(backbone: str, seed: int) -> dict[str, torch.Tensor]:
    layout = openai_layout(backbone)
    state = _random_state({key: shape for key, (shape, _) in layout.items()}, seed)
    for key, value in state.items():
        if key.endswith("bn3.weight"):
            state[key] = value * 0.3  # bounded activations through the residual stages
        if "embedding" in key and not key.startswith("token"):
            state[key] = 0.1 * torch.randn(value.shape, generator=torch.Generator().manual_seed(seed + len(key)))
    state["logit_scale"] = torch.tensor(math.log(100.0))  # CLIP's trained temperature: distinct probabilities
    return {key: value.to(layout[key][1]) for key, value in state.items()}


class _Holder(nn.Module):
    """A bare module tree: nothing but the tensors it is given, under their dotted names."""


def _holder(state: dict[str, torch.Tensor]) -> nn.Module:
    root = _Holder()
    for key, value in state.items():
        *path, leaf = key.split(".")
        node = root
        for part in path:
            if part not in node._modules:
                node.add_module(part, _Holder())
            node = node._modules[part]
        node.register_parameter(leaf, nn.Parameter(value, requires_grad=False))
    return root


def save_torchscript(state: dict[str, torch.Tensor], path: Path) -> None:
    """``state`` as a TorchScript archive (the format of OpenAI's CLIP files)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated; OpenAI's files are what they are
        torch.jit.script(_holder(state)).save(str(path))


class TorchScriptFile:
    """A file's content that ``random_weights.seed`` writes with :func:`save_torchscript`."""

    def __init__(self, make: Callable[[], dict[str, torch.Tensor]]) -> None:
        self.make = make


def _learnt_context(seed: int, width: int = 512) -> torch.Tensor:
    """CLIP-IQA+'s published file: the 2×16×width context vectors as one bare tensor."""
    return 0.02 * torch.randn(2, 16, width, generator=torch.Generator().manual_seed(seed))


def _prompt_learner(seed: int, width: int) -> dict[str, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return {"params": {"prompt_learner.ctx": 0.02 * torch.randn(2, 16, width, generator=gen),
                       "prompt_learner.token_prefix": 0.02 * torch.randn(2, 1, width, generator=gen),
                       "prompt_learner.token_suffix": 0.02 * torch.randn(2, 60, width, generator=gen)}}


def _liqe(seed: int) -> dict[str, dict[str, torch.Tensor]]:
    state = _clip_state("ViT-B/32", seed)
    return {"params": {f"clip_model.{key}": value.float() for key, value in state.items()}}


#: A-FINE's heads: key → shape (pyiqa's ``AFINEQhead``/``AFINEDhead`` state dicts, which the reference loads
#: strictly). ViT-B/32: 12 blocks of 768 channels, 3 pixel channels; the naturalness projection is 128 wide.
_AFINE_NATURAL = {"proj_feat.weight": (128, 2 * 768), "proj_feat.bias": (128,),
                  "proj_head.0.weight": (6 * 128, 2 * 3 + 12 * 128), "proj_head.0.bias": (6 * 128,),
                  "proj_head.2.weight": (1, 6 * 128), "proj_head.2.bias": (1,)}
_AFINE_CHANNELS = 3 + 12 * 768


def _afine(seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """pyiqa's ``afine.pth``: the fine-tuned CLIP ViT-B/32 (OpenAI's layout and dtypes: 0.3 GB), the two heads
    with CLIP's mean/std buffers, and the scalars of the logistic maps and of the adapter. The fidelity map's
    centre and scale lie outside the bounds the model clamps them to (0.05…0.95, 0.01…0.70), so the clamp
    matters; the naturalness map is centred on the random head's typical output."""
    gen = torch.Generator().manual_seed(seed)
    pixels = {"mean": torch.tensor(MEAN).view(1, 3, 1, 1), "std": torch.tensor(STD).view(1, 3, 1, 1)}
    natural = _random_state(_AFINE_NATURAL, seed + 1)
    fidelity = {"alpha": torch.randn(1, 1, _AFINE_CHANNELS, generator=gen),
                "beta": torch.randn(1, 1, _AFINE_CHANNELS, generator=gen)}
    return {"finetuned_clip": _clip_state("ViT-B/32", seed),
            "natural": {**natural, **pixels}, "fidelity": {**fidelity, **pixels},
            "natural_scale": {"yita3": torch.tensor(0.3), "yita4": torch.tensor(1.5)},
            "fidelity_scale": {"yita3": torch.tensor(-0.4), "yita4": torch.tensor(1.3)},
            "adapter": {"k": torch.tensor(0.5)}}
def _qualiclip(seed: int) -> dict[str, torch.Tensor]:
    """QualiCLIP.pth: the fine-tuned CLIP RN50 under ``clip_model.`` (dtypes as OpenAI publishes them) and the 14
    prompts' text features."""
    state = {f"clip_model.{key}": value for key, value in _clip_state("RN50", seed).items()}
    state["prompts_features"] = torch.randn(14, CONFIGS["RN50"][0], generator=torch.Generator().manual_seed(seed))
    return state


def _qualiclip_prompts(seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """QualiCLIP+'s prompt learner: one set of 16 context vectors per prompt (14 prompts, RN50's text width)."""
    gen = torch.Generator().manual_seed(seed)
    width = CONFIGS["RN50"][7]
    return {"params": {"prompt_learner.ctx": 0.02 * torch.randn(14, 16, width, generator=gen),
                       "prompt_learner.token_prefix": 0.02 * torch.randn(14, 1, width, generator=gen),
                       "prompt_learner.token_suffix": 0.02 * torch.randn(14, 60, width, generator=gen)}}


#: file name → (source, generator of its content); "clip" files go to $TORCH_HOME/hub/clip.
FILES_CLIP: dict[str, tuple[str, Callable[[], object]]] = {
    "RN50.pt": (CLIP_FOLDER, lambda: TorchScriptFile(lambda: _clip_state("RN50", 301))),
    "ViT-B-32.pt": (CLIP_FOLDER, lambda: TorchScriptFile(lambda: _clip_state("ViT-B/32", 302))),
    "ViT-L-14.pt": (CLIP_FOLDER, lambda: TorchScriptFile(lambda: _clip_state("ViT-L/14", 303))),
    "CLIP-IQA+_learned_prompts-603f3273.pth": ("hf", lambda: _learnt_context(304)),
    "CLIPIQA+_RN50_512-89f5d940.pth": ("hf", lambda: _prompt_learner(305, 512)),
    "CLIPIQA+_ViTL14_512-e66488f2.pth": ("hf", lambda: _prompt_learner(306, 768)),
    "liqe_koniq.pt": ("hf", lambda: _liqe(307)),
    "liqe_mix.pt": ("hf", lambda: _liqe(308)),
    "afine.pth": ("hf", lambda: _afine(309)),
    "QualiCLIP.pth": ("hf", lambda: _qualiclip(310)),
    "QualiCLIP+_koniq.pth": ("hf", lambda: _qualiclip_prompts(311)),
    "QualiCLIP+_clive.pth": ("hf", lambda: _qualiclip_prompts(312)),
    "QualiCLIP+_flive.pth": ("hf", lambda: _qualiclip_prompts(313)),
    "QualiCLIP+_spaq.pth": ("hf", lambda: _qualiclip_prompts(314)),
}
