"""The weight store: find, download, verify and load the published checkpoint files of the deep metrics.

Two sources:

* ``hf`` — files of the Hugging Face model repo ``chaofengc/IQA-PyTorch-Weights`` (pyiqa's weights), fetched
  with ``huggingface_hub.hf_hub_download`` into the Hugging Face cache, or into ``$IQABENCH_WEIGHTS_CACHE``
  when that is set. The repo id and revision can be changed per call or with ``$IQABENCH_WEIGHTS_REPO`` /
  ``$IQABENCH_WEIGHTS_REVISION``; ``$HF_ENDPOINT`` and ``$HF_HUB_OFFLINE`` are read at call time.
* ``torchvision`` — ImageNet backbones named by torchvision's weight enums (``AlexNet_Weights.IMAGENET1K_V1``),
  kept where torchvision keeps them (``$TORCH_HOME/hub/checkpoints``) and downloaded with torch.hub.
* ``url`` — other published files with a fixed download URL, kept in a folder of torch's hub directory
  (OpenAI's CLIP models: ``$TORCH_HOME/hub/clip``, where pyiqa keeps them too), downloaded with torch.hub.

A Hugging Face file that is not in the cache is looked for in pyiqa's own download folder
(``$TORCH_HOME/hub/pyiqa``, by default ``~/.cache/torch/hub/pyiqa``) before it is downloaded: a pyiqa user's
weights are used where they are, but only when their sha256 matches the lock (the published prefix in the file
name and the sha256 recorded at first use); a file that does not is ignored with one log line, never deleted.

The published sha256 (or its start) is in the file name, ``<name>-<hex>.<ext>``, or, for OpenAI's files, the
URL's last folder (``…/models/<sha256>/RN50.pt``). Every file is hashed before it is loaded: a prefix mismatch is
a :class:`WeightIntegrityError` (unless
``$IQABENCH_WEIGHTS_UNVERIFIED=1``, meant for tests that seed the caches with random weights), and the full
sha256 is recorded the first time in ``iqabench-weights.json`` next to the Hugging Face cache; a file whose
sha256 later differs from the record is refused too. Files are read with ``torch.load(weights_only=True)``, a
``.safetensors`` file (timm's backbones, in their Hugging Face repos ``timm/<model>.<tag>``) with
``safetensors.torch.load_file``; a TorchScript archive (``WeightFile.torchscript``, e.g.
OpenAI's CLIP models) by :mod:`metrics.deep.torchscript`, which runs none of its code; a file that holds one bare tensor (CLIP-IQA+'s
learned prompts) loads as the state dict ``{BARE_TENSOR_KEY: tensor}``.
A file that is absent while offline is a :class:`WeightsMissingError` naming it and the command that fetches it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal

import torch


DEFAULT_REPO = "chaofengc/IQA-PyTorch-Weights"
DEFAULT_REVISION = "main"
RECORD_NAME = "iqabench-weights.json"
_PREFIX = re.compile(r"-([0-9a-f]{6,64})\.[A-Za-z0-9]+$")
_URL_SHA256 = re.compile(r"/([0-9a-f]{64})/[^/]+$")
#: The key under which a file holding one bare tensor presents it.
BARE_TENSOR_KEY = ""
_TRUE = {"1", "true", "yes", "on"}

Source = Literal["hf", "torchvision", "url"]
RepoType = Literal["model", "dataset"]

log = logging.getLogger(__name__)
#: pyiqa files already reported as not matching the lock (one log line per file and process).
_IGNORED_PYIQA_FILES: set[str] = set()


#: The torchvision ImageNet weights the metrics use, by enum member name → its download URL (torchvision's own
#: values, checked against the installed torchvision by tests/deep/test_weights.py). Metric modules name them
#: here so that importing a metric module — which the registry does for every metric — never imports torchvision.
TORCHVISION_URLS: dict[str, str] = {
    "AlexNet_Weights.IMAGENET1K_V1": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "VGG16_Weights.IMAGENET1K_V1": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "VGG19_Weights.IMAGENET1K_V1": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "ResNet50_Weights.IMAGENET1K_V1": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
}


class WeightsMissingError(FileNotFoundError):
    """A weight file is not in the cache and cannot be downloaded (offline, or the download failed)."""


class WeightIntegrityError(RuntimeError):
    """A weight file's sha256 does not match its published prefix or the sha256 recorded at first use."""


@dataclass(frozen=True)
class WeightFile:
    """One checkpoint file a metric loads.

    ``repo_id=None`` means the configured weights repo (``$IQABENCH_WEIGHTS_REPO`` or :data:`DEFAULT_REPO`);
    ``repo_type='dataset'`` names a file of a Hugging Face dataset repo (Compare2Score's anchor images) instead
    of a model repo. torchvision and url files carry their download ``url`` instead, and are kept in ``folder``
    of torch's hub directory.
    """

    filename: str
    source: Source = "hf"
    repo_id: str | None = None
    url: str | None = None
    #: A TorchScript archive (``torch.jit.save``): its tensors are read by :mod:`metrics.deep.torchscript`, its
    #: code is never loaded.
    torchscript: bool = False
    folder: str = "checkpoints"
    repo_type: RepoType = "model"
    #: A published auxiliary network the metric always uses as it is (a face detector), never replaced by a
    #: user's checkpoint (:mod:`metrics.custom_weights`); torchvision's ImageNet backbones are always fixed.
    fixed: bool = False

    def __post_init__(self) -> None:
        if self.source not in ("hf", "torchvision", "url"):
            raise ValueError(f"weight file {self.filename}: unknown source {self.source!r}")
        if self.repo_type not in ("model", "dataset"):
            raise ValueError(f"weight file {self.filename}: unknown repo type {self.repo_type!r}")
        if self.repo_type == "dataset" and (self.source != "hf" or not self.repo_id):
            raise ValueError(f"weight file {self.filename}: a dataset repo's file is a Hugging Face file of a "
                             f"named repo")
        if self.source != "hf" and not self.url:
            raise ValueError(f"weight file {self.filename}: a {self.source} file needs its url")

    @classmethod
    def from_url(cls, url: str, folder: str, torchscript: bool = False, fixed: bool = False) -> "WeightFile":
        """A file published at ``url``, kept in ``$TORCH_HOME/hub/<folder>``."""
        return cls(filename=url.rsplit("/", 1)[-1], source="url", url=url, folder=folder, torchscript=torchscript,
                   fixed=fixed)

    @classmethod
    def torchvision(cls, weights: Any) -> "WeightFile":
        """The file behind a torchvision weight enum member, e.g. ``AlexNet_Weights.IMAGENET1K_V1``, given as the
        member itself or by its name (a key of :data:`TORCHVISION_URLS`, so that declaring it imports nothing)."""
        url = TORCHVISION_URLS[weights] if isinstance(weights, str) else weights.url
        return cls(filename=url.rsplit("/", 1)[-1], source="torchvision", url=url)

    @property
    def replaceable(self) -> bool:
        """Whether a user's checkpoint (``pretrained_model_path``) may stand for this file: the trained weights of
        the metric itself, not an ImageNet backbone or another fixed auxiliary network."""
        return self.source != "torchvision" and not self.fixed

    @property
    def sha256_prefix(self) -> str | None:
        """The hex digits in the file name (``LPIPS_v0.1_alex-df73285e.pth`` → ``df73285e``) or the sha256 folder
        of the URL (``…/<sha256>/RN50.pt``), if any."""
        match = _PREFIX.search(self.filename) or (_URL_SHA256.search(self.url) if self.url else None)
        return match.group(1) if match else None

    @property
    def _repo_prefix(self) -> str:
        """``datasets/`` before a dataset repo's id (as the hub's URLs have it), nothing before a model repo's."""
        return "datasets/" if self.repo_type == "dataset" else ""

    @property
    def name(self) -> str:
        """What identifies the file among a metric's files (in its cell key): the file name, prefixed by its
        repo when that is not the configured weights repo (timm's files are all ``model.safetensors``), and a
        dataset repo's by ``datasets/``."""
        return f"{self._repo_prefix}{self.repo_id}/{self.filename}" if self.repo_id else self.filename

    def key(self, repo_id: str | None = None) -> str:
        if self.source == "torchvision":
            return f"torchvision:{self.filename}"
        if self.source == "url":
            return f"url:{self.url}"
        return f"hf:{self._repo_prefix}{self.repo_id or repo_id or default_repo()}/{self.filename}"


@dataclass(frozen=True)
class LoadedWeights:
    """A loaded state dict with where it came from and its identity."""

    file: WeightFile
    path: Path
    sha256: str
    verified: bool  # the sha256 matches the published prefix
    state_dict: dict[str, torch.Tensor]


# ------------------------------------------------------------------------------------------------ configuration
def default_repo() -> str:
    return os.environ.get("IQABENCH_WEIGHTS_REPO") or DEFAULT_REPO


def default_revision() -> str:
    return os.environ.get("IQABENCH_WEIGHTS_REVISION") or DEFAULT_REVISION


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def allow_unverified() -> bool:
    return os.environ.get("IQABENCH_WEIGHTS_UNVERIFIED", "").strip().lower() in _TRUE


def hf_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Where Hugging Face files go: the argument, ``$IQABENCH_WEIGHTS_CACHE``, or the Hugging Face hub cache."""
    if cache_dir:
        return Path(cache_dir)
    if os.environ.get("IQABENCH_WEIGHTS_CACHE"):
        return Path(os.environ["IQABENCH_WEIGHTS_CACHE"])
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(hf_home) / "hub"


def torch_checkpoint_dir(folder: str = "checkpoints") -> Path:
    """A folder of torch's hub directory: ``$TORCH_HOME/hub/checkpoints`` (torchvision's own cache) by default."""
    return Path(torch.hub.get_dir()) / folder


def pyiqa_cache_dir() -> Path:
    """Where pyiqa downloads its weights: ``$TORCH_HOME/hub/pyiqa`` (``~/.cache/torch/hub/pyiqa`` by default)."""
    return Path(torch.hub.get_dir()) / "pyiqa"


def record_path(cache_dir: str | Path | None = None) -> Path:
    return hf_cache_dir(cache_dir) / RECORD_NAME


# ------------------------------------------------------------------------------------------------ locate/fetch
def cached_path(
    wf: WeightFile, *, repo_id: str | None = None, revision: str | None = None, cache_dir: str | Path | None = None
) -> Path | None:
    """The local path of ``wf`` if it is already cached; never touches the network."""
    if wf.source != "hf":
        path = torch_checkpoint_dir(wf.folder) / wf.filename
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        repo_id=wf.repo_id or repo_id or default_repo(),
        filename=wf.filename,
        cache_dir=hf_cache_dir(cache_dir),
        revision=revision or default_revision(),
        repo_type=wf.repo_type,
    )
    if isinstance(found, str):
        return Path(found)
    return _from_pyiqa_cache(wf, repo_id=repo_id, cache_dir=cache_dir)


def _from_pyiqa_cache(wf: WeightFile, *, repo_id: str | None, cache_dir: str | Path | None) -> Path | None:
    """``wf`` in pyiqa's download folder when its sha256 matches the lock (the published prefix and the sha256
    recorded at first use; a file with neither cannot be checked and is not used), else None."""
    path = pyiqa_cache_dir() / wf.filename
    if not path.is_file():
        return None
    from filelock import FileLock

    record_file = record_path(cache_dir)
    record_file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(record_file) + ".lock"):
        record = _read_record(record_file)
        sha = _hashed(str(path.resolve()), record)
        _write_record(record_file, record)
    recorded = record["files"].get(wf.key(repo_id), {})
    # Only a first-use record that itself matched the published file is a lock (random test weights are not).
    locked = [lock for lock in (wf.sha256_prefix, recorded.get("sha256") if recorded.get("matches_published_prefix")
                                else None) if lock]
    if locked and all(sha.startswith(lock) for lock in locked):
        return path
    if str(path) not in _IGNORED_PYIQA_FILES:
        _IGNORED_PYIQA_FILES.add(str(path))
        why = f"sha256 {sha[:12]}… does not match the lock ({', '.join(locked)})" if locked \
            else "no published sha256 to check it against"
        log.warning("ignoring pyiqa's copy of %s at %s: %s", wf.filename, path, why)
    return None


def _missing(wf: WeightFile, reason: str) -> WeightsMissingError:
    where = f"{wf.url} → {torch_checkpoint_dir(wf.folder)}" if wf.source != "hf" else wf.key()
    return WeightsMissingError(
        f"weight file {wf.filename} ({where}) is not available: {reason}. Fetch it on a machine with internet "
        f"access with `iqabench weights download METRIC` (same cache settings), or unset HF_HUB_OFFLINE."
    )


def fetch(
    wf: WeightFile,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """The local path of ``wf``, downloading it first when it is not cached (unless offline)."""
    found = cached_path(wf, repo_id=repo_id, revision=revision, cache_dir=cache_dir)
    if found is not None:
        return found
    if offline():
        raise _missing(wf, "not in the cache and HF_HUB_OFFLINE is set")
    if wf.source != "hf":
        return _fetch_url(wf)
    return _fetch_hf(wf, repo_id=repo_id, revision=revision, cache_dir=cache_dir)


def _fetch_hf(wf: WeightFile, *, repo_id: str | None, revision: str | None, cache_dir: str | Path | None) -> Path:
    import httpx2
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    repo = wf.repo_id or repo_id or default_repo()
    try:
        path = hf_hub_download(
            repo_id=repo,
            filename=wf.filename,
            revision=revision or default_revision(),
            cache_dir=hf_cache_dir(cache_dir),
            endpoint=os.environ.get("HF_ENDPOINT") or None,
            repo_type=wf.repo_type,
        )
    except EntryNotFoundError as exc:
        raise _missing(wf, f"no such file in {wf.repo_type} repo {repo}") from exc
    except (HfHubHTTPError, LocalEntryNotFoundError, httpx2.HTTPError, OSError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _missing(wf, f"download from {repo} failed: {first_line}") from exc
    return Path(path)


def _fetch_url(wf: WeightFile) -> Path:
    assert wf.url is not None
    target = torch_checkpoint_dir(wf.folder) / wf.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(wf.url, str(target), hash_prefix=wf.sha256_prefix, progress=True)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; a hash mismatch is a RuntimeError
        raise _missing(wf, f"download from {wf.url} failed: {exc}") from exc
    return target


# ------------------------------------------------------------------------------------------------ verification
def _read_record(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"files": {}, "hashes": {}}
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    data.setdefault("files", {})
    data.setdefault("hashes", {})
    return data


def _write_record(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _hashed(resolved: str, record: dict[str, Any]) -> str:
    """The sha256 of the file at ``resolved``, from the record's hashes while its size and mtime are unchanged
    (else computed and recorded there)."""
    stat = os.stat(resolved)
    known = record["hashes"].get(resolved)
    if known and known["size"] == stat.st_size and known["mtime_ns"] == stat.st_mtime_ns:
        return known["sha256"]
    with open(resolved, "rb") as handle:
        sha = hashlib.file_digest(handle, "sha256").hexdigest()
    record["hashes"][resolved] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha}
    return sha


def verify(
    wf: WeightFile, path: Path, *, repo_id: str | None = None, cache_dir: str | Path | None = None
) -> tuple[str, bool]:
    """(sha256, matches the published prefix) of ``wf`` at ``path``; records the sha256 on first use.

    Raises :class:`WeightIntegrityError` when the prefix does not match or the file changed since it was
    recorded, unless ``$IQABENCH_WEIGHTS_UNVERIFIED`` is set.
    """
    from filelock import FileLock

    record_file = record_path(cache_dir)
    record_file.parent.mkdir(parents=True, exist_ok=True)
    resolved = str(Path(path).resolve())
    stat = os.stat(resolved)
    with FileLock(str(record_file) + ".lock"):
        record = _read_record(record_file)
        sha = _hashed(resolved, record)
        prefix = wf.sha256_prefix
        matches = prefix is None or sha.startswith(prefix)
        key = wf.key(repo_id)
        first = record["files"].get(key)
        problem = None
        if not matches:
            problem = f"sha256 {sha} does not start with the published prefix {prefix}"
        elif first is not None and first["sha256"] != sha:
            problem = f"sha256 {sha} differs from the one recorded at first use ({first['sha256']}, {record_file})"
        if problem and not allow_unverified():
            raise WeightIntegrityError(
                f"weight file {wf.filename} at {resolved}: {problem}. Delete the file and download it again "
                f"with `iqabench weights download METRIC`."
            )
        if first is None or first["sha256"] != sha:
            record["files"][key] = {
                "filename": wf.filename,
                "sha256": sha,
                "size": stat.st_size,
                "matches_published_prefix": matches,
                "first_used": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "path": resolved,
            }
        _write_record(record_file, record)
    return sha, matches


def load(
    wf: WeightFile,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
) -> LoadedWeights:
    """Fetch (if needed), verify and ``torch.load(..., weights_only=True)`` one weight file on the CPU (a
    TorchScript archive: its tensors, read without loading its code)."""
    path = fetch(wf, repo_id=repo_id, revision=revision, cache_dir=cache_dir)
    sha, matches = verify(wf, path, repo_id=repo_id, cache_dir=cache_dir)
    if path.suffix == ".safetensors":  # timm's published files
        from safetensors.torch import load_file

        state = load_file(path, device="cpu")
    elif wf.torchscript:
        from metrics.deep.torchscript import TorchScriptArchiveError, read_torchscript_tensors

        try:
            state: Any = read_torchscript_tensors(path)
        except TorchScriptArchiveError as exc:
            raise WeightIntegrityError(f"weight file {wf.filename}: {exc}") from exc
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, torch.Tensor):
        state = {BARE_TENSOR_KEY: state}
    if not isinstance(state, dict):
        raise WeightIntegrityError(f"weight file {wf.filename} at {path} does not hold a state dict")
    return LoadedWeights(file=wf, path=Path(path), sha256=sha, verified=matches, state_dict=state)


def load_mat(
    wf: WeightFile,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Fetch (if needed), verify and read one MATLAB ``.mat`` parameter file (``scipy.io.loadmat``: arrays and
    structs as numpy arrays, no code is run) — the classical metrics whose parameters only pyiqa publishes."""
    import scipy.io

    path = fetch(wf, repo_id=repo_id, revision=revision, cache_dir=cache_dir)
    verify(wf, path, repo_id=repo_id, cache_dir=cache_dir)
    return scipy.io.loadmat(path)


# ------------------------------------------------------------------------------------------------ per metric
def weight_files(metric_name: str) -> list[WeightFile]:
    """The weight files metric ``metric_name`` loads (from its module's ``WEIGHT_FILES``; [] for classical metrics)."""
    from metrics.registry import get_spec

    spec = get_spec(metric_name)
    module = importlib.import_module(spec.factory.__module__)
    return list(getattr(module, "WEIGHT_FILES", {}).get(metric_name, ()))


def download(metric_names: Iterable[str], **where: Any) -> list[tuple[WeightFile, Path, str, bool]]:
    """Fetch and verify every weight file of ``metric_names``: (file, path, sha256, matches prefix) each."""
    done: list[tuple[WeightFile, Path, str, bool]] = []
    seen: set[str] = set()
    for name in metric_names:
        for wf in weight_files(name):
            if wf.key(where.get("repo_id")) in seen:
                continue
            seen.add(wf.key(where.get("repo_id")))
            path = fetch(wf, **where)
            sha, matches = verify(wf, path, repo_id=where.get("repo_id"), cache_dir=where.get("cache_dir"))
            done.append((wf, path, sha, matches))
    return done


def fingerprint(metric_name: str, **where: Any) -> dict[str, str]:
    """filename → sha256 of every cached weight file of a metric (for cell keys); missing files raise."""
    result: dict[str, str] = {}
    for wf in weight_files(metric_name):
        path = cached_path(wf, **where)
        if path is None:
            raise _missing(wf, "not in the cache")
        result[wf.name], _ = verify(wf, path, repo_id=where.get("repo_id"), cache_dir=where.get("cache_dir"))
    return result


def real_weights_present(metric_name: str, **where: Any) -> tuple[bool, str]:
    """Whether every weight file of a metric is cached and matches its published sha256 prefix, and why not.

    A file whose name carries no sha256 prefix (pyiqa's ``.mat`` parameter files) cannot be told from a random
    test file by its content: it counts as published unless random files are accepted
    (``$IQABENCH_WEIGHTS_UNVERIFIED``, the tests' seeded caches)."""
    for wf in weight_files(metric_name):
        path = cached_path(wf, **where)
        if path is None:
            return False, f"{wf.filename} is not in the cache"
        if wf.sha256_prefix is None and allow_unverified():
            return False, f"{wf.filename} has no published sha256 and random files are accepted here"
        with open(path, "rb") as handle:
            sha = hashlib.file_digest(handle, "sha256").hexdigest()
        if wf.sha256_prefix and not sha.startswith(wf.sha256_prefix):
            return False, f"{wf.filename} in the cache is not the published file (sha256 {sha[:12]}…)"
    return True, "all published weight files present"


# ------------------------------------------------------------------------------------------------ state dicts
def tensor(loaded: LoadedWeights, key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """``loaded.state_dict[key]`` (a leading ``module.`` is ignored), checked for its shape."""
    state = loaded.state_dict
    value = state.get(key, state.get(f"module.{key}"))
    if value is None:
        raise WeightIntegrityError(f"weight file {loaded.file.filename} ({loaded.path}) has no tensor {key!r}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise WeightIntegrityError(
            f"weight file {loaded.file.filename}: {key!r} has shape {tuple(value.shape)}, expected {tuple(shape)}"
        )
    return value


def load_module(
    module: torch.nn.Module, loaded: LoadedWeights, prefix: str = "", ignore: tuple[str, ...] = (), assign: bool = False
) -> None:
    """Load the tensors under ``prefix`` of a weight file into ``module``, strictly.

    ``assign=True`` adopts the file's tensors (for a module built on the ``meta`` device, which skips the random
    initialisation of large backbones).

    Keys are taken without ``prefix`` (and without a leading ``module.``); keys starting with one of ``ignore``
    (after the prefix) are skipped. Any missing or unexpected key is a :class:`WeightIntegrityError`.
    """
    state: dict[str, torch.Tensor] = {}
    for key, value in loaded.state_dict.items():
        key = key.removeprefix("module.")
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        if not (ignore and key.startswith(ignore)):
            state[key] = value
    missing, unexpected = module.load_state_dict(state, strict=False, assign=assign)
    if missing or unexpected:
        raise WeightIntegrityError(
            f"weight file {loaded.file.filename} ({loaded.path}) does not fit {type(module).__name__} under "
            f"{prefix!r}: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
