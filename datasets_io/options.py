"""pyiqa dataset option files (both the current and the 2024 format) → :class:`DatasetSpec` per key.

The built-in defaults are pyiqa's ``default_dataset_configs.yml`` (split columns), read unchanged; its 2024
predecessor ``default_dataset_opt.yml`` (split pickles) ships too and can be chosen as the defaults
(``builtin_options(fmt="2024")``) or passed as a user file. A user ``--data_opt`` file (either format) overrides
whole entries by key. A data root replaces the ``./datasets/`` prefix of every path; without one,
``$IQABENCH_DATA_ROOT`` is used when set, else the paths stay relative to the working directory, as in pyiqa.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping

from datasets_io.bounded import MIB, load_yaml_mapping, parse_yaml_mapping
from datasets_io.spec import DATASET_KINDS, DatasetOptionError, DatasetSpec

BUILTIN_FILES = {"current": "default_dataset_configs.yml", "2024": "default_dataset_opt_2024.yml"}
BUILTIN_OPTIONS = BUILTIN_FILES["current"]
DEFAULT_PREFIX = "./datasets/"
DATA_ROOT_ENV = "IQABENCH_DATA_ROOT"
#: The largest dataset option YAML accepted (pyiqa's is ~20 KB); larger files are refused unread.
MAX_OPTION_FILE_BYTES = 16 * MIB

_KNOWN_FIELDS = {
    "name", "type", "dataroot_target", "dataroot_ref", "meta_info_file", "split_index", "split_file", "phase",
    "split_ratio", "mos_range", "lower_better", "mos_normalize", "augment", "mode", "val_types", "override_phase",
    "dmos_max", "io_backend", "caption_column",
}  # fmt: skip
# Fields pyiqa's training options carry that do not affect which images are scored; accepted and ignored.
_IGNORED_FIELDS = {
    "num_worker_per_gpu", "batch_size_per_gpu", "use_shuffle", "dataset_enlarge_ratio", "prefetch_mode",
    "img_range", "val_num", "list_imgs", "test_target",
}  # fmt: skip
#: Dataset types whose labels are not opinion scores, so that pyiqa's ``dmos_max`` never applied to them.
_NO_DMOS_KINDS = frozenset({"AVADataset", "BAPPSDataset", "PieAPPDataset"})
PHASES = ("train", "val", "test")
#: Dataset types whose rows name more than one scored image: no caption column (it could not say whose it is).
CAPTIONLESS_KINDS = frozenset({"BAPPSDataset", "PieAPPDataset"})


def _fail(source: str, key: str, field_name: str, message: str) -> DatasetOptionError:
    return DatasetOptionError(f"{source}: dataset {key!r}, field {field_name!r}: {message}")


def effective_data_root(data_root: str | os.PathLike[str] | None) -> str | None:
    """``data_root``, else ``$IQABENCH_DATA_ROOT``, else None (paths stay as written)."""
    if data_root is not None:
        return os.fspath(data_root)
    return os.environ.get(DATA_ROOT_ENV) or None


def _rebase(path: str | None, data_root: str | None) -> str | None:
    if path is None or data_root is None:
        return path
    normalised = path.replace("\\", "/")
    for prefix in (DEFAULT_PREFIX, "datasets/"):
        if normalised.startswith(prefix):
            return str(Path(data_root) / normalised[len(prefix):])
    return path


def spec_from_entry(key: str, entry: Any, source: str, data_root: str | None = None) -> DatasetSpec:
    """Validate one YAML entry and build its spec; every problem names the file, the key and the field."""
    if not isinstance(entry, Mapping):
        raise _fail(source, key, "<entry>", f"must be a mapping, got {type(entry).__name__}")
    not_named = [k for k in entry if not isinstance(k, str)]
    if not_named:
        raise _fail(source, key, repr(not_named[0]), "field names must be strings")
    unknown = set(entry) - _KNOWN_FIELDS - _IGNORED_FIELDS
    if unknown:
        raise _fail(source, key, sorted(unknown)[0], f"unknown field (known: {', '.join(sorted(_KNOWN_FIELDS))})")
    kind = entry.get("type")
    if not isinstance(kind, str) or kind not in DATASET_KINDS:
        raise _fail(source, key, "type", f"unknown dataset type {kind!r} (known: {', '.join(DATASET_KINDS)})")
    for required in ("dataroot_target", "meta_info_file"):
        if not isinstance(entry.get(required), str) or not entry[required].strip():
            raise _fail(source, key, required, "is required and must be a non-empty string")
    for optional in ("dataroot_ref", "split_file", "phase", "name", "mode"):
        if entry.get(optional) is not None and not isinstance(entry[optional], str):
            raise _fail(source, key, optional, f"must be a string, got {entry[optional]!r}")
    for phase_field in ("phase", "override_phase"):
        value = entry.get(phase_field)
        if value is not None and value not in PHASES:
            raise _fail(source, key, phase_field, f"must be one of {', '.join(PHASES)}, got {value!r}")
    dmos_max = _dmos_max(entry, source, key, kind)
    io_backend = entry.get("io_backend")
    if io_backend is not None and io_backend != {"type": "disk"}:
        raise _fail(source, key, "io_backend", f"pyiqa's early datasets read images through BasicSR's file client "
                    f"({io_backend!r}); images are read from disk here: only {{type: disk}} is accepted")
    split_index = entry.get("split_index")
    if split_index is not None and (isinstance(split_index, bool) or not isinstance(split_index, (str, int))):
        raise _fail(source, key, "split_index", f"must be a column name or an integer, got {split_index!r}")
    split_ratio = entry.get("split_ratio", "802")
    if isinstance(split_ratio, bool) or not isinstance(split_ratio, (str, int)):
        raise _fail(source, key, "split_ratio", f"must be a string such as '802', got {split_ratio!r}")
    mos_range = entry.get("mos_range")
    if mos_range is not None:
        if (
            not isinstance(mos_range, (list, tuple))
            or len(mos_range) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in mos_range)
            or mos_range[0] >= mos_range[1]
        ):
            raise _fail(source, key, "mos_range", f"must be [low, high] with low < high, got {mos_range!r}")
        mos_range = (float(mos_range[0]), float(mos_range[1]))
    for flag in ("lower_better", "mos_normalize"):
        if flag in entry and not isinstance(entry[flag], bool):
            raise _fail(source, key, flag, f"must be true or false, got {entry[flag]!r}")
    if entry.get("mos_normalize") and mos_range is None:
        raise _fail(source, key, "mos_normalize", "needs mos_range")
    augment = entry.get("augment") or {}
    if not isinstance(augment, Mapping):
        raise _fail(source, key, "augment", f"must be a mapping, got {augment!r}")
    unknown_aug = set(augment) - {"resize"}
    if unknown_aug:
        raise _fail(source, key, "augment", f"unsupported augmentation {sorted(unknown_aug)} (only 'resize')")
    resize = augment.get("resize")
    if "resize" in augment and (isinstance(resize, bool) or not isinstance(resize, int) or resize <= 0):
        raise _fail(source, key, "augment.resize", f"must be a positive integer, got {resize!r}")
    mode = entry.get("mode") or "2afc"
    if mode not in ("2afc", "jnd"):
        raise _fail(source, key, "mode", f"must be '2afc' or 'jnd', got {mode!r}")
    if "mode" in entry and kind != "BAPPSDataset":
        raise _fail(source, key, "mode", "only BAPPSDataset entries take a mode")
    val_types = entry.get("val_types")
    if val_types is not None:
        if isinstance(val_types, str):
            val_types = [val_types]
        if not isinstance(val_types, (list, tuple)) or not all(isinstance(v, str) and v for v in val_types):
            raise _fail(source, key, "val_types", f"must be a list of strings, got {val_types!r}")
        val_types = tuple(val_types)
    caption_column = entry.get("caption_column")
    if caption_column is not None:
        if not isinstance(caption_column, str) or not caption_column.strip():
            raise _fail(source, key, "caption_column", f"must be a column name, got {caption_column!r}")
        if kind in CAPTIONLESS_KINDS:
            raise _fail(source, key, "caption_column", f"captions are read for one image per row; {kind} rows "
                        "name several images")
    return DatasetSpec(
        key=key,
        name=str(entry.get("name") or key).strip(),
        type=kind,
        dataroot_target=_rebase(entry["dataroot_target"], data_root),
        meta_info_file=_rebase(entry["meta_info_file"], data_root),
        dataroot_ref=_rebase(entry.get("dataroot_ref"), data_root),
        split_index=split_index,
        split_file=_rebase(entry.get("split_file"), data_root),
        split_ratio=str(split_ratio),
        phase=entry.get("phase"),
        override_phase=entry.get("override_phase"),
        dmos_max=dmos_max,
        mos_range=mos_range,
        lower_better=bool(entry.get("lower_better", False)),
        mos_normalize=bool(entry.get("mos_normalize", False)),
        augment=dict(augment),
        bapps_mode=mode,
        val_types=val_types,
        caption_column=caption_column,
        source=source,
    )


def _dmos_max(entry: Mapping[str, Any], source: str, key: str, kind: str) -> float | None:
    """pyiqa's legacy ``dmos_max`` (a non-zero number: ``mos = dmos_max - dmos``; 0 or absent: unused, as there)."""
    value = entry.get("dmos_max")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(source, key, "dmos_max", f"must be a finite number (pyiqa scored dmos_max - dmos), got {value!r}")
    if not value:
        return None
    if kind in _NO_DMOS_KINDS:
        raise _fail(source, key, "dmos_max", f"pyiqa's {kind} never read it (its labels are not DMOS); remove it")
    if entry.get("mos_normalize"):
        raise _fail(source, key, "dmos_max", "with mos_normalize: pyiqa's legacy datasets turned DMOS into "
                    "dmos_max - dmos and had no mos_normalize, its current ones ignore dmos_max; keep one of them")
    return float(value)


def with_split_override(spec: DatasetSpec, split_file: str | Path | None, test_phase: str | None) -> DatasetSpec:
    """``spec`` as pyiqa's ``benchmark_results.py --split_file F [--test_phase P]`` sets it: F is the dataset's
    split pickle (its ``split_index`` kept, 1 when it has none) and P its ``phase``; ``override_phase`` still wins."""
    if split_file is None:
        return spec
    changes: dict[str, Any] = {"split_file": os.fspath(split_file)}
    if isinstance(spec.split_index, str):  # a split column name; a pickle is indexed by split number
        changes["split_index"] = None
    if test_phase is not None:
        changes["phase"] = test_phase
    return replace(spec, **changes)


_SHAPE = "a mapping of dataset key → options"


def _specs(document: Mapping[str, Any], source: str, data_root: str | None) -> dict[str, DatasetSpec]:
    return {key: spec_from_entry(key, entry, source, data_root) for key, entry in document.items()}


def parse_options_text(text: str, source: str, data_root: str | None = None) -> dict[str, DatasetSpec]:
    """Parse a pyiqa option YAML document (safe loader) into specs keyed by dataset key."""
    return _specs(parse_yaml_mapping(text, source, DatasetOptionError, _SHAPE), source, data_root)


def load_options_file(
    path: str | Path, data_root: str | None = None, max_bytes: int = MAX_OPTION_FILE_BYTES
) -> dict[str, DatasetSpec]:
    """Parse the option YAML at ``path``; one larger than ``max_bytes`` is refused before parsing."""
    document = load_yaml_mapping(path, "dataset option file", max_bytes, DatasetOptionError, _SHAPE)
    return _specs(document, str(Path(path)), effective_data_root(data_root))


def builtin_options(
    data_root: str | None = None, fmt: Literal["current", "2024"] = "current"
) -> dict[str, DatasetSpec]:
    """pyiqa's shipped option file: ``current`` (split columns, the default) or ``2024`` (split pickles)."""
    if fmt not in BUILTIN_FILES:
        raise DatasetOptionError(f"unknown built-in option format {fmt!r} (known: {', '.join(BUILTIN_FILES)})")
    name = BUILTIN_FILES[fmt]
    text = resources.files("datasets_io").joinpath("data", name).read_text(encoding="utf-8")
    return parse_options_text(text, f"builtin {name}", effective_data_root(data_root))


def dataset_options(
    data_opt: str | Path | None = None,
    data_root: str | None = None,
    fmt: Literal["current", "2024"] = "current",
) -> dict[str, DatasetSpec]:
    """Built-in pyiqa entries, overridden entry by entry by ``data_opt``; the demo dataset is added by the caller."""
    specs = builtin_options(data_root, fmt)
    if data_opt is not None:
        specs.update(load_options_file(data_opt, data_root))
    return specs
