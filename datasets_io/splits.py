"""pyiqa split pickles, read without ever executing code from them.

A split file is ``{split_index: {'train': [row, ...], 'val': [...], 'test': [...]}}`` with 0-based row indices
into the meta-info. Pickles can run arbitrary code when loaded, so they are read by :class:`RestrictedSplitUnpickler`,
whose ``find_class`` refuses every global: only the built-in containers and scalars that pickle encodes without
a global (dicts, lists, strings, integers; also tuples, which are treated as lists) can come out, and the result
is then checked against that shape.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

#: Split files are small (AVA's, the largest, is a few MB); anything far larger is refused unread.
MAX_SPLIT_FILE_BYTES = 64 * 1024 * 1024


class SplitFileError(ValueError):
    """A split pickle that is unsafe, malformed, or lacks the requested split."""


class RestrictedSplitUnpickler(pickle.Unpickler):
    """An unpickler that refuses every class, function and persistent id."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: split files hold only plain data")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent ids: split files hold only plain data")


def _check_indices(value: Any, where: str) -> list[int]:
    if not isinstance(value, (list, tuple)):
        raise SplitFileError(f"{where}: expected a list of row indices, got {type(value).__name__}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < 0:
            raise SplitFileError(f"{where}: row indices must be non-negative integers, got {item!r}")
    return list(value)


def loads_split_dict(data: bytes, source: str = "<bytes>") -> dict[int | str, dict[str, list[int]]]:
    """Unpickle and validate a split dictionary (see the module docstring)."""
    try:
        obj = RestrictedSplitUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise SplitFileError(f"{source}: not a plain-data split pickle ({exc})") from exc
    if not isinstance(obj, dict):
        raise SplitFileError(f"{source}: expected a dict of split index → phases, got {type(obj).__name__}")
    result: dict[int | str, dict[str, list[int]]] = {}
    for index, phases in obj.items():
        if isinstance(index, bool) or not isinstance(index, (int, str)):
            raise SplitFileError(f"{source}: split index {index!r} must be an integer or a string")
        if not isinstance(phases, dict):
            raise SplitFileError(f"{source}: split {index!r} must map phase names to row lists")
        checked: dict[str, list[int]] = {}
        for phase, rows in phases.items():
            if not isinstance(phase, str):
                raise SplitFileError(f"{source}: split {index!r}: phase name {phase!r} must be a string")
            checked[phase] = _check_indices(rows, f"{source}: split {index!r}, phase {phase!r}")
        result[index] = checked
    return result


def load_split_file(path: str | Path) -> dict[int | str, dict[str, list[int]]]:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_SPLIT_FILE_BYTES:
            raise SplitFileError(f"{p}: {size} bytes is too large for a split file")
        data = p.read_bytes()
    except OSError as exc:
        raise SplitFileError(f"{p}: cannot read split file ({exc.strerror or exc})") from exc
    return loads_split_dict(data, str(p))


def split_rows(path: str | Path, split_index: int | str | None, phase: str, num_rows: int) -> list[int]:
    """Row indices of ``phase`` in split ``split_index`` (default 1, as pyiqa) of the pickle at ``path``."""
    splits = load_split_file(path)
    index = 1 if split_index is None else split_index
    if index not in splits:
        raise SplitFileError(f"{path}: no split {index!r} (available: {', '.join(map(repr, splits))})")
    if phase not in splits[index]:
        raise SplitFileError(f"{path}: split {index!r} has no phase {phase!r} (has: {', '.join(splits[index])})")
    rows = splits[index][phase]
    bad = [r for r in rows if r >= num_rows]
    if bad:
        raise SplitFileError(f"{path}: split {index!r}/{phase}: row {bad[0]} is beyond the meta-info's {num_rows} rows")
    return rows
