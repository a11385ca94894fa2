"""``pretrained_model_path``: a deep metric built from the user's own checkpoint instead of its published one.

pyiqa's architectures take ``pretrained_model_path`` (a file replacing the metric's own trained weights; the
ImageNet backbones it starts from, and fixed auxiliary networks such as the face detector, stay as published). Here
every deep metric that loads exactly one replaceable weight file (:attr:`WeightFile.replaceable`) accepts the option: :func:`check` validates it when a run is planned (the file exists, the metric has
one file it can replace), :func:`loading_from` makes :class:`metrics.deep.common.DeepMetric` read that file while
the metric is built, and the file's sha256 (:func:`sha256_of`) enters the cell key in place of the published file's.
The file has the published file's layout (a checkpoint trained with pyiqa holds it under ``params``, as the
published ones do) and is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import hashlib
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from metrics.deep.weights import LoadedWeights, WeightFile

#: The option's name, pyiqa's.
OPTION = "pretrained_model_path"

_ACTIVE: ContextVar[Path | None] = ContextVar("custom_weights", default=None)


def replaced_file(metric_name: str) -> WeightFile:
    """The one weight file of ``metric_name`` that a custom checkpoint replaces; ``ValueError`` if there is none
    (a classical metric) or more than one (the option would be ambiguous)."""
    from metrics.deep.weights import weight_files

    own = [wf for wf in weight_files(metric_name) if wf.replaceable]
    if len(own) != 1:
        what = "has no trained weight file" if not own else f"loads {len(own)} weight files"
        raise ValueError(f"metric {metric_name!r} {what}, so {OPTION} cannot replace one")
    return own[0]


def check(metric_name: str, value: object) -> Path:
    """The checkpoint path of option ``pretrained_model_path`` = ``value``, validated (``ValueError`` otherwise)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"metric {metric_name!r}: option {OPTION!r} must be a file path, got {value!r}")
    replaced_file(metric_name)
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"metric {metric_name!r}: option {OPTION!r}: {path} is not a file")
    return path


def sha256_of(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextlib.contextmanager
def loading_from(path: str | Path | None) -> Iterator[None]:
    """While the block runs, a deep metric being built reads its trained weights from ``path`` (None: published)."""
    token = _ACTIVE.set(Path(path) if path is not None else None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> Path | None:
    """The checkpoint a metric being built reads instead of its published file, or None."""
    return _ACTIVE.get()


def load(wf: WeightFile, path: Path) -> LoadedWeights:
    """The custom checkpoint at ``path`` standing for ``wf`` (never a verified published file)."""
    import torch

    from metrics.deep.weights import LoadedWeights, WeightIntegrityError

    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise WeightIntegrityError(f"{OPTION} {path}: does not hold a state dict (in place of {wf.filename})")
    return LoadedWeights(file=wf, path=path, sha256=sha256_of(path), verified=False, state_dict=state)
