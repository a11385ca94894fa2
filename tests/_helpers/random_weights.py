"""Random weight files in the published layouts, seeded into the caches both implementations read.

Nothing is downloaded in the tests: every file a deep metric loads is written here with random values under its
published name and key layout (key names are facts of the published files), into

* ``$TORCH_HOME/hub/checkpoints/<name>`` — torchvision's ImageNet backbones (read by torchvision and by us),
* ``$TORCH_HOME/hub/clip/<name>`` — OpenAI's CLIP models (read by pyiqa, OpenAI's package and us),
* ``$TORCH_HOME/hub/pyiqa/<name>`` — where pyiqa 0.1.16 looks for its files before downloading them,
* the Hugging Face cache layout under ``$IQABENCH_WEIGHTS_CACHE`` — where iqabench looks for them.

A pyiqa file is one file under two names (a hard link), so both implementations load identical weights.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import torch
from torchvision import models

REPO = "chaofengc/IQA-PyTorch-Weights"
COMMIT = "0000000000000000000000000000000000000001"
#: pyiqa 0.1.16's modules that hold its download folder, fixed when each is imported.
PYIQA_CACHE_DIR_HOLDERS = ("pyiqa.utils.download_util", "pyiqa.archs.liqe_arch", "pyiqa.archs.topiq_arch")


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


def _random(key: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """One random tensor by the same rules as :func:`_rand_like_state`, from its key and shape."""
    if key.endswith("running_var"):
        return 0.5 + torch.rand(shape, generator=gen)
    if key.endswith("running_mean") or key.endswith("bias"):
        return 0.1 * torch.randn(shape, generator=gen)
    if len(shape) <= 1:
        return 1 + 0.1 * torch.randn(shape, generator=gen)
    fan_in = 1
    for size in shape[1:]:
        fan_in *= size
    return torch.randn(shape, generator=gen) * (2.0 / fan_in) ** 0.5


def _shapes(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {key: _random(key, shape, gen) for key, shape in shapes.items()}


def _conv_shapes(prefix: str, cfg: list, batch_norm: bool = False, in_ch: int = 3) -> dict[str, tuple[int, ...]]:
    """Keys of a VGG-style Sequential (3×3 conv [+BN] + ReLU per int, 'M' a max-pool) under ``prefix``."""
    shapes: dict[str, tuple[int, ...]] = {}
    index = 0
    for item in cfg:
        if item == "M":
            index += 1
            continue
        shapes[f"{prefix}{index}.weight"] = (item, in_ch, 3, 3)
        shapes[f"{prefix}{index}.bias"] = (item,)
        if batch_norm:
            for name in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"{prefix}{index + 1}.{name}"] = (item,)
            index += 1
        index += 2
        in_ch = item
    return shapes


def _linear_shapes(prefix: str, sizes: list[tuple[int, int]], step: int = 3) -> dict[str, tuple[int, ...]]:
    """Keys of an MLP Sequential whose Linear layers sit every ``step`` modules (Linear, ReLU, Dropout, …)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for k, (fan_in, fan_out) in enumerate(sizes):
        shapes[f"{prefix}{k * step}.weight"] = (fan_out, fan_in)
        shapes[f"{prefix}{k * step}.bias"] = (fan_out,)
    return shapes


def _resnet50_state(seed: int) -> dict[str, torch.Tensor]:
    state = _tv(models.resnet50, seed)
    state.pop("fc.weight")
    state.pop("fc.bias")
    return state


def _ckdn(seed: int) -> dict[str, torch.Tensor]:
    """``net.{qse,dte}_{1,2}``, ``net.csp``/``net.aux_csp`` (ResNet-50 conv1/layer1/layer2 layouts), ``net.fc_``/``fc1_``."""
    state: dict[str, torch.Tensor] = {}
    renames = {"conv1.": ("qse_1.", "dte_1."), "layer1.": ("qse_2.", "dte_2."), "layer2.": ("csp.", "aux_csp.")}
    for copy in range(2):
        for key, value in _resnet50_state(seed + copy).items():
            for old, new in renames.items():
                if key.startswith(old):
                    state["net." + new[copy] + key[len(old):]] = value
    mlp = [(512, 2048), (2048, 2048), (2048, 1)]
    state.update({f"net.{k}": v for k, v in _shapes(_linear_shapes("fc_.", mlp), seed + 2).items()})
    state.update({f"net.{k}": v for k, v in _shapes(_linear_shapes("fc1_.", mlp), seed + 3).items()})
    state["net.fc_.6.weight"] *= 0.02  # logits of order 1: an unsaturated sigmoid, distinct scores
    return state


_PIEAPP_CONVS = [(3, 64), (64, 64), (64, 64), (64, 128), (128, 128), (128, 128), (128, 256), (256, 256),
                 (256, 256), (256, 512), (512, 512)]


def _pieapp(seed: int) -> dict[str, torch.Tensor]:
    shapes: dict[str, tuple[int, ...]] = {}
    for k, (cin, cout) in enumerate(_PIEAPP_CONVS, start=1):
        shapes[f"conv{k}.weight"], shapes[f"conv{k}.bias"] = (cout, cin, 3, 3), (cout,)
    for name, (fan_in, fan_out) in {"fc1_score": (120832, 512), "fc2_score": (512, 1), "fc1_weight": (2048, 512),
                                    "fc2_weight": (512, 1)}.items():
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (fan_out, fan_in), (fan_out,)
    shapes["ref_score_subtract.weight"], shapes["ref_score_subtract.bias"] = (1,), (1,)
    state = _shapes(shapes, seed)
    # positive patch weights (as trained ones are), so the weighted mean is well conditioned
    state["fc2_weight.weight"] = state["fc2_weight.weight"].abs()
    state["fc2_weight.bias"] = torch.full((1,), 0.5)
    return state


_WADIQAM_CFG = [32, 32, "M", 64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M"]


def _wadiqam(fc_in: int, seed: int) -> dict[str, dict[str, torch.Tensor]]:
    shapes = _conv_shapes("features.", _WADIQAM_CFG)
    shapes.update(_linear_shapes("fc_q.", [(fc_in, 512), (512, 1)]))
    shapes.update(_linear_shapes("fc_w.", [(fc_in, 512), (512, 1)]))
    state = _shapes(shapes, seed)
    state["fc_w.3.bias"] = torch.full((1,), 0.5)  # mostly positive patch weights after the final ReLU
    return {"params": state}


def _cnniqa(seed: int) -> dict[str, dict[str, torch.Tensor]]:
    shapes = {"conv1.weight": (50, 3, 7, 7), "conv1.bias": (50,)}
    shapes.update({f"fc{k}.{p}": s for k, (fi, fo) in enumerate([(100, 800), (800, 800), (800, 1)], start=1)
                   for p, s in (("weight", (fo, fi)), ("bias", (fo,)))})
    return {"params": _shapes(shapes, seed)}


_SCNN_CFG = [(3, 48, 1), (48, 48, 2), (48, 64, 1), (64, 64, 2), (64, 64, 1), (64, 64, 2), (64, 128, 1),
             (128, 128, 1), (128, 128, 2)]


def _scnn_shapes(prefix: str) -> dict[str, tuple[int, ...]]:
    """SCNN's ``features``: conv (index 3k), BatchNorm (3k+1), ReLU per block."""
    shapes: dict[str, tuple[int, ...]] = {}
    for k, (cin, cout, _) in enumerate(_SCNN_CFG):
        shapes[f"{prefix}{3 * k}.weight"], shapes[f"{prefix}{3 * k}.bias"] = (cout, cin, 3, 3), (cout,)
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}{3 * k + 1}.{name}"] = (cout,)
    return shapes


def _dbcnn_scnn(seed: int) -> dict[str, torch.Tensor]:
    """The SCNN pre-training checkpoint (read by the reference implementation only)."""
    shapes = _scnn_shapes("features.")
    for k, (cin, cout) in enumerate([(128, 256), (256, 256)]):
        shapes[f"projection.{3 * k}.weight"], shapes[f"projection.{3 * k}.bias"] = (cout, cin, 1, 1), (cout,)
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"projection.{3 * k + 1}.{name}"] = (cout,)
    shapes["classifier.weight"], shapes["classifier.bias"] = (39, 256), (39,)
    return _shapes(shapes, seed)


def _dbcnn(seed: int) -> dict[str, dict[str, torch.Tensor]]:
    vgg = _tv(models.vgg16, seed)
    state = {"features1." + k[len("features."):]: v for k, v in vgg.items()
             if k.startswith("features.") and int(k.split(".")[1]) < 30}
    shapes = _scnn_shapes("features2.")
    shapes.update({"fc.weight": (1, 512 * 128), "fc.bias": (1,)})
    state.update(_shapes(shapes, seed + 1))
    return {"params": state}


def _hyperiqa(seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """``base_model.*`` (ResNet-50 without ``fc``) and the HyperIQA heads."""
    state = {"base_model." + k: v for k, v in _resnet50_state(seed).items()}
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (c, r, side) in enumerate([(256, 16, 8), (512, 32, 4), (1024, 64, 2)]):
        shapes[f"lda_modules.{i}.0.weight"] = (r, c, 1, 1)
        shapes[f"lda_modules.{i}.3.weight"], shapes[f"lda_modules.{i}.3.bias"] = (16, r * side * side), (16,)
    shapes["lda_modules.3.2.weight"], shapes["lda_modules.3.2.bias"] = (176, 2048), (176,)
    for k, (cin, cout) in enumerate([(2048, 1024), (1024, 512), (512, 112)]):
        shapes[f"conv1.{2 * k}.weight"], shapes[f"conv1.{2 * k}.bias"] = (cout, cin, 1, 1), (cout,)
    widths = [224, 112, 56, 28, 14, 1]
    for i in range(4):
        out = widths[i] * widths[i + 1] // 49
        shapes[f"fc_w_modules.{i}.weight"], shapes[f"fc_w_modules.{i}.bias"] = (out, 112, 3, 3), (out,)
    shapes["fc_w_modules.4.2.weight"], shapes["fc_w_modules.4.2.bias"] = (14, 112), (14,)
    for i in range(5):
        shapes[f"fc_b_modules.{i}.2.weight"], shapes[f"fc_b_modules.{i}.2.bias"] = (widths[i + 1], 112), (widths[i + 1],)
    state.update(_shapes(shapes, seed + 1))
    state["conv1.4.weight"] *= 0.01  # a small hyper input: generated target weights of order 0.1, unsaturated sigmoids
    return {"params": state}


#: file name → (source, generator of its content).
FILES: dict[str, tuple[str, Callable[[], object]]] = {
    "alexnet-owt-7be5be79.pth": ("torchvision", lambda: _tv(models.alexnet, 1)),
    "vgg16-397923af.pth": ("torchvision", lambda: _tv(models.vgg16, 2)),
    "LPIPS_v0.1_alex-df73285e.pth": ("hf", lambda: _lpips_linear((64, 192, 384, 256, 256), 3)),
    "LPIPS_v0.1_vgg-a78928a0.pth": ("hf", lambda: _lpips_linear((64, 128, 256, 512, 512), 4)),
    "DISTS_weights-f5e65c96.pth": ("hf", lambda: _dists(5)),
    # second tranche of issue 10; "resnet50-19c8e357.pth" (the old torchvision ResNet-50 URL) and
    # "DBCNN_scnn-7ea73d75.pth" are read only by the reference implementation before its checkpoint overwrites them
    "resnet50-19c8e357.pth": ("torchvision", lambda: _tv(models.resnet50, 6)),
    "CKDN_model_best-38b27dc6.pth": ("hf", lambda: _ckdn(7)),
    "PieAPPv0.1-0937b014.pth": ("hf", lambda: _pieapp(10)),
    "WaDIQaM-kadid-f7541ea5.pth": ("hf", lambda: _wadiqam(512 * 3, 11)),
    "WaDIQaM-NR-koniq-aaffea29.pth": ("hf", lambda: _wadiqam(512, 12)),
    "CNNIQA_koniq10k-e6f14c91.pth": ("hf", lambda: _cnniqa(13)),
    "DBCNN_scnn-7ea73d75.pth": ("hf", lambda: _dbcnn_scnn(14)),
    "DBCNN_KonIQ10k-2de81c0a.pth": ("hf", lambda: _dbcnn(15)),
    "HyperIQA-resnet50-koniq10k-c96c41b1.pth": ("hf", lambda: _hyperiqa(16)),
}


def _hf_snapshot_path(cache_dir: Path, filename: str, repo: str = REPO, kind: str = "models") -> Path:
    """Where ``hf_hub_download``/``try_to_load_from_cache`` find ``repo``'s ``filename`` at main (``kind``:
    "models" or "datasets", the repo's type)."""
    root = cache_dir / f"{kind}--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    target = root / "snapshots" / COMMIT / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _link_or_copy(source: Path, target: Path) -> None:
    """A second name for ``source`` without a second copy on disk where the file system allows it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


class SameFileAs:
    """A file's content that is another seeded file's (one copy on disk, hard-linked under both names): for
    checkpoints of one layout whose differences are options, not tensors (the three MANIQA files)."""

    def __init__(self, name: str) -> None:
        self.name = name


def seed(names: list[str], torch_home: Path, hf_cache: Path) -> dict[str, Path]:
    """Write random files ``names`` into the caches; returns the path of each by name.

    A pyiqa file is written once, into the Hugging Face cache layout, and hard-linked where pyiqa's own loader
    looks (``TORCH_HOME/hub/pyiqa``): the full set is about 2 GB, and CI disks are not large.
    """
    from tests._helpers.random_weights_clip import TorchScriptFile, save_torchscript

    written = {}
    for name in names:
        source, make = FILES[name]
        if source in ("hf", "hf+hub"):
            path = _hf_snapshot_path(hf_cache, name)
        elif source == "hf-repo":  # "<owner>/<repo>/<file>": a file of another model repo (Q-Align's, timm's)
            repo, filename = name.rsplit("/", 1)
            path = _hf_snapshot_path(hf_cache, filename, repo=repo)
        elif source == "hf-dataset":  # "datasets/<owner>/<repo>/<path>": a file of a dataset repo
            _, owner, repo, filename = name.split("/", 3)
            path = _hf_snapshot_path(hf_cache, filename, repo=f"{owner}/{repo}", kind="datasets")
        else:  # a folder of torch's hub directory: "checkpoints" (torchvision), "clip" (OpenAI's CLIP files)
            path = torch_home / "hub" / ("checkpoints" if source == "torchvision" else source) / name
            path.parent.mkdir(parents=True, exist_ok=True)
        content = make()
        if isinstance(content, SameFileAs):
            if FILES[content.name][0] != source:
                raise ValueError(f"{name} and {content.name} are kept in different caches")
            original = _hf_snapshot_path(hf_cache, content.name) if source in ("hf", "hf+hub") else \
                path.with_name(content.name)
            if not original.is_file():
                seed([content.name], torch_home, hf_cache)
            _link_or_copy(original, path)
        elif isinstance(content, TorchScriptFile):
            save_torchscript(content.make(), path)
        elif isinstance(content, torch.jit.ScriptModule):
            content.save(str(path))  # a TorchScript archive, as the published file is
        elif isinstance(content, bytes):  # a file in another format (MATLAB .mat), written as it is
            path.write_bytes(content)
        elif path.suffix == ".safetensors":  # timm's format
            from safetensors.torch import save_file

            save_file(content, str(path))
        else:
            torch.save(content, path)
        del content
        if source in ("hf", "hf+hub"):  # pyiqa keeps a file under its URL's basename, percent-encoded ("+": "%2B")
            for alias in dict.fromkeys((name, quote(name))):
                _link_or_copy(path, torch_home / "hub" / "pyiqa" / alias)
        if source == "hf+hub":  # also read through torch hub (``load_state_dict_from_url``) by the reference
            _link_or_copy(path, torch_home / "hub" / "checkpoints" / name)
        written[name] = path
    return written


def offline_env(torch_home: Path, hf_cache: Path) -> dict[str, str]:
    """The environment that makes the metrics load the seeded files offline (random: unverifiable)."""
    return {
        "TORCH_HOME": str(torch_home),
        "IQABENCH_WEIGHTS_CACHE": str(hf_cache),
        "HF_HUB_OFFLINE": "1",
        "IQABENCH_WEIGHTS_UNVERIFIED": "1",
    }


def seed_all(root: Path) -> dict[str, str]:
    """Seed every known file under ``root``; returns the environment that makes the metrics load them offline."""
    return SeededCaches(root).ensure_all()


class SeededCaches:
    """A torch hub home and a Hugging Face cache whose random files are written on first request."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.torch_home = root / "torch"
        self.hf_cache = root / "hf"
        self.written: dict[str, Path] = {}

    def ensure(self, *names: str) -> None:
        todo = [n for n in names if n not in self.written]
        self.written.update(seed(todo, self.torch_home, self.hf_cache))

    def ensure_files(self, files) -> None:
        """Seed the random stand-ins of these :class:`~metrics.deep.weights.WeightFile` s (a file of a model repo
        other than pyiqa's weights repo is known as ``<repo>/<file name>``)."""
        self.ensure(*[wf.name for wf in files])

    def ensure_all(self) -> dict[str, str]:
        self.ensure(*FILES)
        return offline_env(self.torch_home, self.hf_cache)

    def use_in(self, monkeypatch) -> None:
        """Point a test's environment here: offline, random (unverifiable) weights accepted, and a closed port as
        the hub endpoint, so nothing leaves the machine."""
        for key, value in offline_env(self.torch_home, self.hf_cache).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        # pyiqa fixes its download folder ($TORCH_HOME/hub/pyiqa) when first imported, which may have been at
        # collection or under another test's TORCH_HOME: point every module holding a copy of it here too.
        folder = str(self.torch_home / "hub" / "pyiqa")
        for module_name in PYIQA_CACHE_DIR_HOLDERS:
            module = sys.modules.get(module_name)
            if module is not None:
                monkeypatch.setattr(module, "DEFAULT_CACHE_DIR", folder)
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        for name in ("IQABENCH_WEIGHTS_REPO", "IQABENCH_WEIGHTS_REVISION", "HF_HUB_CACHE"):
            monkeypatch.delenv(name, raising=False)


from tests._helpers.random_weights_b import FILES_B  # noqa: E402  (MUSIQ, PaQ-2-PiQ: third tranche)

FILES.update(FILES_B)

from tests._helpers.random_weights_topiq import FILES_TOPIQ  # noqa: E402  (TOPIQ / CFANet ResNet-50 checkpoints)

FILES.update(FILES_TOPIQ)

from tests._helpers.random_weights_swin import FILES_SWIN  # noqa: E402  (TOPIQ / CFANet Swin-B checkpoints)

FILES.update(FILES_SWIN)

from tests._helpers.random_weights_arniqa import FILES_ARNIQA  # noqa: E402  (ARNIQA encoder and regressors)

FILES.update(FILES_ARNIQA)

from tests._helpers.random_weights_classical import FILES_CLASSICAL  # noqa: E402  (classical NR .mat parameters)

FILES.update(FILES_CLASSICAL)

from tests._helpers.random_weights_distribution import FILES_DISTRIBUTION  # noqa: E402  (FID Inception, DINOv2)

FILES.update(FILES_DISTRIBUTION)

from tests._helpers.random_weights_zoo import FILES_ZOO  # noqa: E402  (UNIQUE, MS-SWD)

FILES.update(FILES_ZOO)

from tests._helpers.random_weights_clip import FILES_CLIP  # noqa: E402  (CLIP trunks, CLIP-IQA+, LIQE)

FILES.update(FILES_CLIP)

from tests._helpers.random_weights_qalign import FILES_QALIGN  # noqa: E402  (a reduced Q-Align model repo)

FILES.update(FILES_QALIGN)

from tests._helpers.random_weights_compare2score import FILES_COMPARE2SCORE  # noqa: E402  (reduced Compare2Score)

FILES.update(FILES_COMPARE2SCORE)

from tests._helpers.random_weights_zoo3 import FILES_ZOO3  # noqa: E402  (TReS, ST-LPIPS, DeepDC)

FILES.update(FILES_ZOO3)

from tests._helpers.random_weights_vit import FILES_VIT  # noqa: E402  (ViT metrics: MANIQA, AHIQ, LAION-Aesthetics)

FILES.update(FILES_VIT)

from tests._helpers.random_weights_uranker import FILES_URANKER  # noqa: E402  (URanker)

FILES.update(FILES_URANKER)

from tests._helpers.random_weights_face import FILES_FACE  # noqa: E402  (facexlib's RetinaFace detector)

FILES.update(FILES_FACE)
