"""``create_metric`` and ``list_models``: pyiqa's two entry points, on iqabench's metrics."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

import metrics
from iqabench.images import ImageInput, to_batch
from metrics.base import IQAMetric, MetricInputError
from metrics.distribution.specs import DISTRIBUTION_SPECS, get_distribution_spec, is_distribution_metric
from orchestrator.run.metric_options import MetricEntry, with_extra_options


class Metric(nn.Module):
    """A metric ready to score images: ``metric(target)`` (no-reference) or ``metric(target, ref)``
    (full-reference) returns one score per image (a float tensor of N values on the metric's device).

    ``target`` and ``ref`` take anything :func:`iqabench.to_batch` takes. Scores are computed without gradients.
    """

    def __init__(self, model: IQAMetric) -> None:
        super().__init__()
        self.net = model

    @property
    def metric_name(self) -> str:
        return self.net.spec.name

    @property
    def metric_mode(self) -> str:
        """``FR`` (needs a reference) or ``NR``."""
        return self.net.spec.mode

    @property
    def lower_better(self) -> bool:
        """Whether a lower score means a better image."""
        return self.net.spec.lower_better

    @property
    def score_range(self) -> tuple[float, float]:
        """The (low, high) the scores lie in (infinite where unbounded)."""
        return self.net.spec.score_range

    @property
    def options(self) -> dict[str, Any]:
        """Every option the metric was built with (its defaults and the ones given)."""
        return dict(self.net.options)

    @property
    def device(self) -> torch.device:
        """Where the images go: the device of the model's tensors, else the one it was created on (classical
        metrics hold no tensors)."""
        for tensor in (*self.net.parameters(), *self.net.buffers()):
            return tensor.device
        return self._device

    def forward(self, target: ImageInput, ref: ImageInput | None = None) -> torch.Tensor:
        device = self.device
        dist = to_batch(target, device, "target")
        if self.metric_mode == "NR":
            if ref is not None:
                raise MetricInputError(f"{self.metric_name} is no-reference: call it with the target image only")
            with torch.no_grad():
                return self.net(dist)
        if ref is None:
            raise MetricInputError(f"{self.metric_name} is full-reference: call it as metric(target, ref)")
        with torch.no_grad():
            return self.net(dist, to_batch(ref, device, "ref"))

    def extra_repr(self) -> str:
        return f"name={self.metric_name!r}, mode={self.metric_mode}, lower_better={self.lower_better}"


class SetMetric:
    """A distribution metric (``fid``, ``sfid``, ``fid_dinov2``, ``inception_score``), called as pyiqa calls it:
    ``metric(folder)`` (Inception Score), ``metric(folder, ref_folder)`` or ``metric(folder,
    dataset_name="FFHQ", dataset_res=1024, dataset_split="trainval70k")`` returns the set's score (a float).

    The features are extracted in this process on the metric's device; :func:`orchestrator.sets.score.score_sets`
    (``iqabench score``) is the same computation, optionally on Ray actors. ``last`` holds the full result of the
    latest call (image counts, unreadable images, weight hashes, the Inception Score's spread).
    """

    def __init__(self, name: str, device: torch.device, options: dict[str, Any]) -> None:
        from orchestrator.sets.score import score_sets

        spec = get_distribution_spec(name)
        options = _our_set_option_names(options)
        unknown = sorted(set(options) - set(SET_OPTIONS))
        if unknown:
            raise ValueError(f"create_metric({name!r}): {name} has no option {', '.join(map(repr, unknown))} "
                             f"(options: {', '.join(SET_OPTIONS)})")
        self.spec = spec
        self.options = dict(options)
        self._device = device
        self._score_sets = score_sets
        self.last = None

    @property
    def metric_name(self) -> str:
        return self.spec.name

    @property
    def metric_mode(self) -> str:
        """``NR``, as pyiqa files the distribution metrics (no per-image reference)."""
        return "NR"

    @property
    def lower_better(self) -> bool:
        return self.spec.lower_better

    @property
    def score_range(self) -> tuple[float, float]:
        return self.spec.score_range

    @property
    def device(self) -> torch.device:
        return self._device

    def __call__(self, folder: str | Sequence[str], ref_folder: str | Sequence[str] | None = None, *,
                 dataset_name: str | None = None, dataset_res: int | str = 1024, dataset_split: str = "train",
                 **call_options: Any) -> float:
        options = _our_set_option_names({**self.options, **call_options})
        unknown = sorted(set(options) - set(SET_OPTIONS))
        if unknown:
            raise ValueError(f"{self.metric_name} has no option {', '.join(map(repr, unknown))} "
                             f"(options: {', '.join(SET_OPTIONS)})")
        self.last = self._score_sets(self.metric_name, folder, ref_folder, dataset_stats=dataset_name,
                                     dataset_split=dataset_split, dataset_res=dataset_res,
                                     device=str(self._device), **options)
        return self.last.value

    def __repr__(self) -> str:
        return f"SetMetric(name={self.metric_name!r}, lower_better={self.lower_better})"


#: The options of a set metric call, as :func:`orchestrator.sets.score.score_sets` names them.
SET_OPTIONS = ("mode", "distance", "kernel", "splits", "kid_subsets", "kid_max_subset_size", "seed", "batch_size")
#: pyiqa's names of the same options.
PYIQA_SET_OPTION_NAMES = {"distance_type": "distance", "kernel_type": "kernel"}


def _our_set_option_names(options: dict[str, Any]) -> dict[str, Any]:
    return {PYIQA_SET_OPTION_NAMES.get(key, key): value for key, value in options.items()}


def _default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def create_metric(metric_name: str, device: str | torch.device | None = None,
                  **options: Any) -> Metric | SetMetric:
    """Build metric ``metric_name`` on ``device`` (default: CUDA when available, else the CPU) with ``options``
    over its defaults. Options take our names or pyiqa's (``test_y_channel=True``, ``pretrained_model_path=...``),
    read by the one table ``--metric_opt`` and ``--extra_metric_opts`` use (:mod:`metrics.pyiqa_types`); unknown
    names and options raise ``ValueError`` with what is accepted (as ``iqabench bench`` does).

    A distribution metric (``fid`` ...) gives a :class:`SetMetric`, called on folders as pyiqa's is."""
    target = torch.device(device) if device is not None else _default_device()
    if is_distribution_metric(metric_name):
        return SetMetric(metric_name, target, options)
    metrics.get_spec(metric_name)  # an unknown name: UnknownMetricError, naming the registered ones
    entry = with_extra_options(MetricEntry(metric_name, metric_name), options, f"create_metric({metric_name!r})")
    metric = Metric(metrics.create(entry.builds, device=target, **entry.options))
    metric._device = target
    return metric


def list_models(metric_mode: str | None = None, filter: str | Sequence[str] | None = None,
                exclude_filters: str | Sequence[str] | None = None) -> list[str]:
    """Registered metric names, sorted; ``metric_mode``: ``FR`` or ``NR`` only; ``filter``: keep names matching
    a wildcard pattern (``*ssim*``) or any of several; ``exclude_filters``: then drop names matching these."""
    if metric_mode not in (None, "FR", "NR"):
        raise ValueError(f"metric_mode must be 'FR', 'NR' or None, got {metric_mode!r}")
    names = metrics.available(metric_mode)
    if metric_mode in (None, "NR"):  # pyiqa lists its distribution metrics as NR
        names = sorted([*names, *DISTRIBUTION_SPECS])
    if filter:
        patterns = [filter] if isinstance(filter, str) else list(filter)
        names = [name for name in names if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
    if exclude_filters:
        patterns = [exclude_filters] if isinstance(exclude_filters, str) else list(exclude_filters)
        names = [name for name in names if not any(fnmatch.fnmatchcase(name, p) for p in patterns)]
    return names
