"""Random weight files in the published layouts, seeded into the caches both implementations read.

Nothing is downloaded in the tests: every file a deep metric loads is written here with random values under its
published name and key layout (key names are facts of the published files), into

* ``$TORCH_HOME/hub/checkpoints/<name>`` — torchvision's ImageNet backbones (read by torchvision and by us),
* ``$TORCH_HOME/hub/pyiqa/<name>`` — where pyiqa 0.1.16 looks for its files before downloading them,
* the Hugging Face cache layout under ``$IQABENCH_WEIGHTS_CACHE`` — where iqabench looks for them.

The same bytes go to both places, so both implementations load identical weights.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import torch
from torchvision import models

REPO = "chaofengc/IQA-PyTorch-Weights"
COMMIT = "0000000000000000000000000000000000000001"


def _rand_like_state(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A module's state dict with every float tensor replaced by seeded random values of a sensible scale."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in module.state_dict().items():
        if not value.is_floating_point():
            state[key] = value.clone()
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(value.shape, generator=gen)
        elif key.endswith("running_mean") or key.endswith("bias"):
            state[key] = 0.1 * torch.randn(value.shape, generator=gen)
        elif value.dim() <= 1:  # norm-layer weights and other vectors
            state[key] = 1 + 0.1 * torch.randn(value.shape, generator=gen)
        else:  # He-scaled weights keep activations in range through deep stacks
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=gen) * (2.0 / fan_in) ** 0.5
    return state


def _tv(build: Callable[..., torch.nn.Module], seed: int) -> dict[str, torch.Tensor]:
    return _rand_like_state(build(weights=None), seed)


def _lpips_linear(channels: tuple[int, ...], seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) for k, c in enumerate(channels)}


def _dists(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {name: 0.1 + 0.05 * torch.rand(1, 1475, 1, 1, generator=gen) for name in ("alpha", "beta")}


#: file name → (source, generator of its content).
FILES: dict[str, tuple[str, Callable[[], object]]] = {
    "alexnet-owt-7be5be79.pth": ("torchvision", lambda: _tv(models.alexnet, 1)),
    "vgg16-397923af.pth": ("torchvision", lambda: _tv(models.vgg16, 2)),
    "LPIPS_v0.1_alex-df73285e.pth": ("hf", lambda: _lpips_linear((64, 192, 384, 256, 256), 3)),
    "LPIPS_v0.1_vgg-a78928a0.pth": ("hf", lambda: _lpips_linear((64, 128, 256, 512, 512), 4)),
    "DISTS_weights-f5e65c96.pth": ("hf", lambda: _dists(5)),
}


def _save(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def seed_hf_cache(cache_dir: Path, filename: str, data: bytes, repo: str = REPO) -> Path:
    """Place ``data`` where ``hf_hub_download``/``try_to_load_from_cache`` find ``repo``'s ``filename`` at main."""
    root = cache_dir / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    target = root / "snapshots" / COMMIT / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def seed(names: list[str], torch_home: Path, hf_cache: Path) -> dict[str, bytes]:
    """Write random files ``names`` into the caches; returns their bytes by name."""
    written = {}
    for name in names:
        source, make = FILES[name]
        data = _save(make())
        if source == "torchvision":
            path = torch_home / "hub" / "checkpoints" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:
            pyiqa_path = torch_home / "hub" / "pyiqa" / name
            pyiqa_path.parent.mkdir(parents=True, exist_ok=True)
            pyiqa_path.write_bytes(data)
            seed_hf_cache(hf_cache, name, data)
        written[name] = data
    return written


def seed_all(root: Path) -> dict[str, str]:
    """Seed every known file under ``root``; returns the environment that makes the metrics load them offline."""
    torch_home, hf_cache = root / "torch", root / "hf"
    seed(list(FILES), torch_home, hf_cache)
    return {
        "TORCH_HOME": str(torch_home),
        "IQABENCH_WEIGHTS_CACHE": str(hf_cache),
        "HF_HUB_OFFLINE": "1",
        "IQABENCH_WEIGHTS_UNVERIFIED": "1",
    }
