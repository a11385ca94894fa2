"""Training options: pyiqa's option files (``options/train/<Model>/*.yml``) read unchanged, or our concise form,
both validated in full before anything starts; every problem is one line of one :class:`TrainOptionError`.

pyiqa's form (the keys this project reads; ``num_gpu``, ``path``, ``logger`` other than ``save_latest_freq``,
``dist_params``, ``model_type`` and the loader's worker counts are accepted and have no effect here)::

    name: 002_DBCNN_KonIQ10k
    manual_seed: 123
    datasets:
      train: {<pyiqa dataset entry>, augment: {use_hflip, random_crop, resize}, batch_size_per_gpu, use_shuffle}
      val:   {<pyiqa dataset entry>, augment: {resize}}
    network: {type: DBCNN, ...}
    train:
      optim: {type: SGD, lr: 1e-3, ...}            optim_finetune: {...}     (DBCNN's second phase)
      scheduler: {type: MultiStepLR, ...}          scheduler_finetune: {...}
      total_iter: 20000                            finetune_start_iter: 10000
      mos_loss_opt: {type: PLCCLoss, loss_weight: 1.0}
    val: {val_freq: 800, key_metric: srcc, metrics: {srcc: ..., plcc: ...}}
    logger: {save_latest_freq: 500}

The concise form names a metric and the datasets by key (a built-in pyiqa entry, ``--data_opt``'s, or ``demo``)::

    model: dbcnn
    seed: 123
    train: {dataset: koniq10k, phase: train, random_crop: 384, hflip: true, batch_size: 8}
    val: {dataset: koniq10k, phase: val, every: 800}
    optim: {...}  scheduler: {...}  finetune: {start_iter: 10000, optim: {...}, scheduler: {...}}
    total_iter: 20000
    loss: {type: PLCCLoss}
    checkpoint_every: 500
    network: {pretrained_backbone: false}

A dataset entry may also be given in full (a pyiqa entry mapping) in place of its key. The datasets' phases are
``train`` and ``val`` unless the entry names one. Training images are read through the manifest
(:mod:`datasets_io.manifest`), so the images named by the meta-info must exist; their sizes are read from the
file headers to check that the crop fits and that a batch can be stacked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets_io.bounded import MIB, load_yaml_mapping
from datasets_io.catalog import UnknownDatasetError, resolve_dataset
from datasets_io.manifest import Manifest, build_manifest
from datasets_io.meta import MetaInfoError
from datasets_io.options import effective_data_root, spec_from_entry
from datasets_io.spec import DatasetOptionError, DatasetSpec
from orchestrator.train import losses, networks, optim

MAX_OPTION_BYTES = 1 * MIB
#: Keys of a pyiqa training dataset entry that describe loading and augmentation, not which images are read.
_PYIQA_LOADER_KEYS = {"augment", "batch_size_per_gpu", "use_shuffle", "num_worker_per_gpu", "dataset_enlarge_ratio",
                      "prefetch_mode", "num_prefetch_queue", "img_range", "pin_memory", "persistent_workers"}
_PYIQA_AUGMENTS = {"use_hflip", "random_crop", "resize"}
_PYIQA_TOP = {"name", "model_type", "num_gpu", "manual_seed", "datasets", "network", "path", "train", "val",
              "logger", "dist_params", "split_num", "save_final_results_path"}
_PYIQA_TRAIN = {"optim", "optim_finetune", "scheduler", "scheduler_finetune", "total_iter", "finetune_start_iter",
                "warmup_iter", "mos_loss_opt", "metric_loss_opt"}
_PYIQA_VAL = {"val_freq", "save_img", "pbar", "key_metric", "metrics"}
_CONCISE_TOP = {"name", "model", "seed", "train", "val", "optim", "scheduler", "finetune", "total_iter", "loss",
                "checkpoint_every", "network"}
_CONCISE_DATA = {"dataset", "phase", "random_crop", "hflip", "resize", "batch_size", "shuffle", "every"}
VALIDATION_METRICS = ("srcc", "plcc", "krcc")
#: The manifest column of per-image vote counts (AVA), the target of networks that predict a distribution.
DISTRIBUTION_COLUMN = "vote_dist"
DEFAULT_CHECKPOINT_EVERY = 500


class TrainOptionError(ValueError):
    """The training options cannot be used; the message lists every problem, one per line."""


@dataclass(frozen=True)
class Augment:
    """Train-time augmentation, in this order: resize (shorter side N, or exactly [H, W]), random crop
    (square N or [H, W]), horizontal flip with probability 1/2."""

    resize: tuple[int, ...] | None = None
    random_crop: tuple[int, int] | None = None
    hflip: bool = False


@dataclass(frozen=True)
class DataOptions:
    dataset: DatasetSpec
    augment: Augment
    batch_size: int
    shuffle: bool = True
    manifest: Manifest | None = None


@dataclass(frozen=True)
class TrainOptions:
    name: str
    network: str  # pyiqa's network type, e.g. DBCNN
    network_options: dict[str, Any]
    seed: int
    train: DataOptions
    val: DataOptions | None
    optim: dict[str, Any]
    scheduler: dict[str, Any] | None
    total_iter: int
    loss: dict[str, Any]
    val_freq: int | None
    key_metric: str = "srcc"
    finetune_start_iter: int | None = None
    optim_finetune: dict[str, Any] | None = None
    scheduler_finetune: dict[str, Any] | None = None
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    source: str = ""
    #: The option document as read, for MLflow.
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return networks.NETWORKS[self.network].trains(self.network_options)[0]

    def params(self) -> dict[str, Any]:
        """Flat parameters for MLflow."""
        return {
            "name": self.name, "network": self.network, "metric": self.metric, "seed": self.seed,
            "train_dataset": self.train.dataset.key, "train_phase": self.train.dataset.effective_phase,
            "batch_size_per_worker": self.train.batch_size, "augment": dataclasses.asdict(self.train.augment),
            "val_dataset": self.val.dataset.key if self.val else None, "val_freq": self.val_freq,
            "optim": self.optim, "scheduler": self.scheduler, "total_iter": self.total_iter, "loss": self.loss,
            "finetune_start_iter": self.finetune_start_iter, "optim_finetune": self.optim_finetune,
            "scheduler_finetune": self.scheduler_finetune, "checkpoint_every": self.checkpoint_every,
            "network_options": self.network_options, "source": self.source,
        }


class _Problems(list):
    def need_int(self, value: Any, where: str, minimum: int = 1) -> int | None:
        if isinstance(value, float) and value.is_integer():  # pyiqa writes !!float 5e2
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.append(f"{where}: must be an integer >= {minimum}, got {value!r}")
            return None
        return value

    def need_mapping(self, value: Any, where: str, required: bool = True) -> dict[str, Any]:
        if value is None and not required:
            return {}
        if not isinstance(value, Mapping):
            self.append(f"{where}: must be a mapping, got {value!r}")
            return {}
        return dict(value)

    def unknown(self, mapping: Mapping[str, Any], known: set[str], where: str) -> None:
        for key in sorted(set(mapping) - known, key=str):
            self.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")


def _size(value: Any, where: str, problems: _Problems, allow_single: bool = True) -> tuple[int, ...] | None:
    if value is None:
        return None
    values = [value] if allow_single and not isinstance(value, list) else value
    if (not isinstance(values, list) or len(values) not in ((1, 2) if allow_single else (2,))
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)):
        problems.append(f"{where}: must be a positive integer or [height, width], got {value!r}")
        return None
    return tuple(values)


def _augment(entry: Mapping[str, Any], where: str, problems: _Problems) -> Augment:
    crop = _size(entry.get("random_crop"), f"{where}.random_crop", problems)
    hflip = entry.get("hflip", entry.get("use_hflip", False))
    if not isinstance(hflip, bool):
        problems.append(f"{where}.hflip: must be true or false, got {hflip!r}")
        hflip = False
    return Augment(resize=_size(entry.get("resize"), f"{where}.resize", problems),
                   random_crop=(crop * 2 if crop and len(crop) == 1 else crop), hflip=hflip)  # type: ignore[arg-type]


def _dataset(entry: Any, key: str, phase: str | None, source: str, where: str, problems: _Problems,
             data_opt: str | Path | None, data_root: str | None) -> DatasetSpec | None:
    try:
        if isinstance(entry, str):
            spec = resolve_dataset(entry, data_opt, data_root)
        elif isinstance(entry, Mapping):
            spec = spec_from_entry(key, {k: v for k, v in entry.items() if k not in _PYIQA_LOADER_KEYS}, source,
                                   effective_data_root(data_root))
        else:
            problems.append(f"{where}: must be a dataset key or a pyiqa dataset entry, got {entry!r}")
            return None
    except (UnknownDatasetError, DatasetOptionError) as exc:
        problems.append(f"{where}: {exc}")
        return None
    if spec.phase is None and spec.uses_split and phase:
        spec = dataclasses.replace(spec, phase=phase)
    if spec.mode != "NR" and spec.mode != "FR":
        problems.append(f"{where}: dataset {spec.key!r} is {spec.mode}; training reads NR or FR datasets")
    return spec


def _pyiqa_data(document: Mapping[str, Any], part: str, source: str, problems: _Problems,
                data_opt: str | Path | None, data_root: str | None) -> DataOptions | None:
    datasets = problems.need_mapping(document.get("datasets"), "datasets")
    if part not in datasets:
        if part == "train":
            problems.append("datasets.train: is required")
        return None
    entry = problems.need_mapping(datasets[part], f"datasets.{part}")
    augment_entry = problems.need_mapping(entry.get("augment"), f"datasets.{part}.augment", required=False)
    problems.unknown(augment_entry, _PYIQA_AUGMENTS, f"datasets.{part}.augment")
    augment = _augment(augment_entry, f"datasets.{part}.augment", problems)
    spec = _dataset(entry, str(entry.get("name") or part), part, source, f"datasets.{part}", problems, data_opt,
                    data_root)
    batch = problems.need_int(entry.get("batch_size_per_gpu", 1), f"datasets.{part}.batch_size_per_gpu")
    shuffle = entry.get("use_shuffle", True)
    if spec is None or batch is None:
        return None
    return DataOptions(spec, augment, batch, bool(shuffle))


def _concise_data(document: Mapping[str, Any], part: str, source: str, problems: _Problems,
                  data_opt: str | Path | None, data_root: str | None) -> tuple[DataOptions | None, int | None]:
    if part not in document:
        if part == "train":
            problems.append("train: is required")
        return None, None
    entry = problems.need_mapping(document[part], part)
    problems.unknown(entry, _CONCISE_DATA, part)
    if "dataset" not in entry:
        problems.append(f"{part}.dataset: is required")
        return None, None
    augment = _augment(entry, part, problems)
    spec = _dataset(entry["dataset"], part, entry.get("phase") or part, source, f"{part}.dataset", problems,
                    data_opt, data_root)
    if spec is not None and entry.get("phase") is not None:
        spec = dataclasses.replace(spec, phase=str(entry["phase"]))
    batch = problems.need_int(entry.get("batch_size", 1), f"{part}.batch_size")
    every = problems.need_int(entry["every"], f"{part}.every") if "every" in entry else None
    if spec is None or batch is None:
        return None, every
    return DataOptions(spec, augment, batch, bool(entry.get("shuffle", True))), every


def _network(entry: Any, where: str, problems: _Problems) -> tuple[str | None, dict[str, Any]]:
    entry = problems.need_mapping(entry, where)
    kind = entry.get("type")
    if kind not in networks.NETWORKS:
        problems.append(f"{where}.type: unknown network {kind!r} (trainable: {', '.join(networks.NETWORKS)})")
        return None, {}
    accepted = networks.NETWORKS[kind].options
    options = dict(accepted)
    before = len(problems)
    for key, value in entry.items():
        if key == "type" or (key in networks.IGNORED_NETWORK_OPTIONS and key not in accepted):
            continue
        if key not in accepted:
            problems.append(f"{where}.{key}: not an option of {kind} (accepted: {', '.join(accepted) or 'none'})")
        else:
            options[key] = value
    for flag in ("pretrained_backbone", "load_feature_weight_only"):
        if flag in accepted and not isinstance(options[flag], bool):
            problems.append(f"{where}.{flag}: must be true or false, got {options[flag]!r}")
    for path_option in ("pretrained_scnn_path", "pretrained_model_path"):
        path = options.get(path_option)
        if path is not None and not Path(str(path)).is_file():
            problems.append(f"{where}.{path_option}: {path} is not a file")
    if "train_patch_num" in accepted:
        problems.need_int(options["train_patch_num"], f"{where}.train_patch_num")
    variants = networks.NETWORKS[kind].variants
    if variants is not None and options[variants[0]] not in variants[1]:
        problems.append(f"{where}.{variants[0]}: must be one of {', '.join(map(str, variants[1]))}, "
                        f"got {options[variants[0]]!r}")
        return None, {}
    check = networks.NETWORKS[kind].check
    found = check(options) if check is not None and len(problems) == before else []
    problems.extend(f"{where}.{line}" for line in found)
    return (kind, options) if not found else (None, {})


def _from_pyiqa(document: dict[str, Any], source: str, problems: _Problems, data_opt: str | Path | None,
                data_root: str | None) -> dict[str, Any]:
    problems.unknown(document, _PYIQA_TOP, "<top>")
    train = problems.need_mapping(document.get("train"), "train")
    problems.unknown(train, _PYIQA_TRAIN, "train")
    val = problems.need_mapping(document.get("val"), "val", required=False)
    problems.unknown(val, _PYIQA_VAL, "val")
    logger = problems.need_mapping(document.get("logger"), "logger", required=False)
    if train.get("metric_loss_opt") is not None:
        problems.append("train.metric_loss_opt: a second loss is not supported here (use mos_loss_opt)")
    warmup = train.get("warmup_iter", -1)
    if warmup not in (-1, 0, None):
        problems.append(f"train.warmup_iter: warm-up is not supported here, got {warmup!r} (use -1)")
    metrics = problems.need_mapping(val.get("metrics"), "val.metrics", required=False)
    for name, spec in metrics.items():
        kind = spec.get("type") if isinstance(spec, Mapping) else None
        if kind != f"calculate_{name}" or name not in VALIDATION_METRICS:
            problems.append(f"val.metrics.{name}: must be one of {', '.join(VALIDATION_METRICS)} with type "
                            f"calculate_<name>, got {spec!r}")
    return {
        "name": document.get("name"),
        "network": document.get("network"),
        "seed": document.get("manual_seed", 0),
        "train": _pyiqa_data(document, "train", source, problems, data_opt, data_root),
        "val": _pyiqa_data(document, "val", source, problems, data_opt, data_root),
        "optim": train.get("optim"),
        "scheduler": train.get("scheduler"),
        "total_iter": train.get("total_iter"),
        "loss": train.get("mos_loss_opt"),
        "val_freq": val.get("val_freq"),
        "key_metric": val.get("key_metric", "srcc"),
        "finetune_start_iter": train.get("finetune_start_iter"),
        "optim_finetune": train.get("optim_finetune"),
        "scheduler_finetune": train.get("scheduler_finetune"),
        "checkpoint_every": logger.get("save_latest_freq", DEFAULT_CHECKPOINT_EVERY),
    }


def _from_concise(document: dict[str, Any], source: str, problems: _Problems, data_opt: str | Path | None,
                  data_root: str | None) -> dict[str, Any]:
    problems.unknown(document, _CONCISE_TOP, "<top>")
    metric = document.get("model")
    found = networks.by_metric(metric) if isinstance(metric, str) else None
    kind, implied = found if found is not None else (None, {})
    if kind is None:
        trainable = ", ".join(networks.trainable_metrics())
        problems.append(f"model: {metric!r} is not a trainable metric (trainable: {trainable})")
    finetune = problems.need_mapping(document.get("finetune"), "finetune", required=False)
    problems.unknown(finetune, {"start_iter", "optim", "scheduler"}, "finetune")
    train, _ = _concise_data(document, "train", source, problems, data_opt, data_root)
    val, every = _concise_data(document, "val", source, problems, data_opt, data_root)
    return {
        "name": document.get("name") or f"{metric}",
        "network": {**problems.need_mapping(document.get("network"), "network", required=False),
                    **implied, "type": kind} if kind else None,
        "seed": document.get("seed", 0),
        "train": train,
        "val": val,
        "optim": document.get("optim"),
        "scheduler": document.get("scheduler"),
        "total_iter": document.get("total_iter"),
        "loss": document.get("loss", {"type": "PLCCLoss"}),
        "val_freq": every,
        "key_metric": "srcc",
        "finetune_start_iter": finetune.get("start_iter"),
        "optim_finetune": finetune.get("optim"),
        "scheduler_finetune": finetune.get("scheduler"),
        "checkpoint_every": document.get("checkpoint_every", DEFAULT_CHECKPOINT_EVERY),
    }


def _with_manifest(data: DataOptions, where: str, network: networks.TrainableNetwork | None,
                   network_options: dict[str, Any], problems: _Problems, trains: bool) -> DataOptions:
    """``data`` with its manifest read and checked against the network (``trains``: the training set, which
    must hold the targets the network learns; validation reads MOS only)."""
    try:
        manifest = build_manifest(data.dataset)
    except (OSError, MetaInfoError, DatasetOptionError, ValueError) as exc:
        problems.append(f"{where}: {' '.join(str(exc).split())[:400]}")
        return data
    sizes = _image_sizes(manifest, data.augment)
    if data.augment.random_crop is not None:
        crop_h, crop_w = data.augment.random_crop
        small = [(name, s) for name, s in sizes.items() if s[0] < crop_h or s[1] < crop_w]
        if small:
            name, (h, w) = small[0]
            problems.append(f"{where}: random_crop {crop_h}×{crop_w} is larger than {len(small)} image(s), e.g. "
                            f"{name} ({h}×{w} after resize)")
        sizes = {name: (crop_h, crop_w) for name in sizes}
    metric, mode = network.trains(network_options) if network is not None else ("", "")
    if network is not None:
        smallest = network.smallest_input(network_options)
        tiny = [(name, s) for name, s in sizes.items() if min(s) < smallest]
        if tiny:
            problems.append(f"{where}: {len(tiny)} input(s) smaller than {metric}'s minimum side "
                            f"{smallest}, e.g. {tiny[0][0]} {tiny[0][1]}")
        if trains and network.predicts_distribution and DISTRIBUTION_COLUMN not in manifest.table.column_names:
            problems.append(f"{where}: {metric} learns distributions of votes, and dataset {data.dataset.key!r} "
                            f"({data.dataset.type}) has none: use a dataset with vote counts (AVADataset)")
    if data.batch_size > 1 and len(set(sizes.values())) > 1:
        problems.append(f"{where}: images of {len(set(sizes.values()))} sizes cannot be batched by "
                        f"{data.batch_size}: set random_crop or resize [height, width], or batch size 1")
    if mode == "FR" and data.dataset.mode != "FR":
        problems.append(f"{where}: {metric} is full-reference and needs an FR dataset")
    return dataclasses.replace(data, manifest=manifest)


def _image_sizes(manifest: Manifest, augment: Augment) -> dict[str, tuple[int, int]]:
    """Each image's (height, width) after the resize, from the file headers."""
    from PIL import Image

    sizes = {}
    for name, path in zip(manifest.table["dist_name"].to_pylist(), manifest.table["dist_path"].to_pylist()):
        with Image.open(path) as image:
            w, h = image.size
        sizes[name] = resized_shape(h, w, augment.resize)
    return sizes


def resized_shape(height: int, width: int, resize: tuple[int, ...] | None) -> tuple[int, int]:
    """(height, width) after ``resize``: a shorter side (one value) or an exact size (two)."""
    if resize is None:
        return height, width
    if len(resize) == 2:
        return resize[0], resize[1]
    scale = resize[0] / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def parse_train_options(document: dict[str, Any], source: str, data_opt: str | Path | None = None,
                        data_root: str | None = None, check_data: bool = True) -> TrainOptions:
    """Validate a training option document (pyiqa's form when it has ``datasets``, else the concise form)."""
    problems = _Problems()
    pyiqa_form = "datasets" in document
    raw = (_from_pyiqa if pyiqa_form else _from_concise)(document, source, problems, data_opt, data_root)
    name = raw["name"]
    if not isinstance(name, str) or not name.strip() or "/" in name or name.startswith("."):
        problems.append(f"name: must be a non-empty name without '/', got {name!r}")
    kind, net_options = _network(raw["network"], "network", problems) if raw["network"] is not None else (None, {})
    net = networks.NETWORKS.get(kind) if kind else None
    seed = problems.need_int(raw["seed"], "manual_seed" if pyiqa_form else "seed", minimum=0)
    total = problems.need_int(raw["total_iter"], "train.total_iter" if pyiqa_form else "total_iter")
    every = problems.need_int(raw["checkpoint_every"], "logger.save_latest_freq" if pyiqa_form else "checkpoint_every")
    val_freq = raw["val_freq"]
    if val_freq is not None:
        val_freq = problems.need_int(val_freq, "val.val_freq" if pyiqa_form else "val.every")
    if raw["key_metric"] not in VALIDATION_METRICS:
        problems.append(f"val.key_metric: must be one of {', '.join(VALIDATION_METRICS)}, got {raw['key_metric']!r}")
    names = networks.parameter_names(kind, net_options) if kind else None
    where = "train." if pyiqa_form else ""
    parts = net.parameter_parts if net else None
    problems.extend(optim.optimiser_problems(raw["optim"], f"{where}optim", names, parts))
    problems.extend(optim.scheduler_problems(raw["scheduler"], f"{where}scheduler"))
    problems.extend(losses.loss_problems(raw["loss"], f"{where}mos_loss_opt" if pyiqa_form else "loss",
                                         net.predicts_distribution if net else None))
    start = raw["finetune_start_iter"]
    ft_where = ("train.finetune_start_iter", "train.optim_finetune", "train.scheduler_finetune") if pyiqa_form \
        else ("finetune.start_iter", "finetune.optim", "finetune.scheduler")
    if start is not None:
        start = problems.need_int(start, ft_where[0])
        if start is not None and total is not None and start >= total:
            problems.append(f"{ft_where[0]}: {start} must be below total_iter {total}")
        if raw["optim_finetune"] is None:
            problems.append(f"{ft_where[1]}: is required with a fine-tune phase")
        problems.extend(optim.optimiser_problems(raw["optim_finetune"], ft_where[1], names, parts)
                        if raw["optim_finetune"] is not None else [])
        problems.extend(optim.scheduler_problems(raw["scheduler_finetune"], ft_where[2]))
    elif raw["optim_finetune"] is not None:
        problems.append(f"{ft_where[1]}: given without a fine-tune start iteration")
    train, val = raw["train"], raw["val"]
    if check_data:
        if train is not None:
            train = _with_manifest(train, "datasets.train" if pyiqa_form else "train", net, net_options, problems,
                                   trains=True)
        if val is not None:
            val = _with_manifest(val, "datasets.val" if pyiqa_form else "val", net, net_options, problems,
                                 trains=False)
    if val is not None and val_freq is None:
        problems.append("val.val_freq: is required with a validation dataset" if pyiqa_form
                        else "val.every: is required with a validation dataset")
    if problems:
        listed = "\n  - ".join(problems)
        raise TrainOptionError(f"{source}: {len(problems)} problem(s):\n  - {listed}")
    assert kind is not None and seed is not None and total is not None and every is not None and train is not None
    return TrainOptions(
        name=name.strip(), network=kind, network_options=net_options, seed=seed, train=train, val=val,
        optim=dict(raw["optim"]), scheduler=dict(raw["scheduler"]) if raw["scheduler"] else None, total_iter=total,
        loss=dict(raw["loss"]), val_freq=val_freq if val is not None else None, key_metric=raw["key_metric"],
        finetune_start_iter=start,
        optim_finetune=dict(raw["optim_finetune"]) if raw["optim_finetune"] else None,
        scheduler_finetune=dict(raw["scheduler_finetune"]) if raw["scheduler_finetune"] else None,
        checkpoint_every=every, source=source, document=document,
    )


def load_train_options(path: str | Path, data_opt: str | Path | None = None, data_root: str | None = None,
                       check_data: bool = True) -> TrainOptions:
    """Read (bounded, safe loader) and validate the training option file at ``path``."""
    document = load_yaml_mapping(path, "training option file", MAX_OPTION_BYTES, TrainOptionError)
    return parse_train_options(document, str(path), data_opt, data_root, check_data)
