"""Reading input files whose size is bounded before anything parses them (meta-info, option YAML, splits), and
the one loader of a YAML mapping (:func:`load_yaml_mapping`: dataset options; the plan's ``--metric_opt``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

MIB = 1 << 20
#: The safe YAML loader, libyaml's when PyYAML has it (the same documents, parsed several times faster).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_bounded(path: str | Path, limit: int, what: str, error: type[Exception]) -> bytes:
    """The bytes of ``path`` if it holds at most ``limit`` of them; else ``error`` with one line naming the file.

    The size is checked twice: from ``stat`` (a large file is refused unread) and while reading, at most
    ``limit + 1`` bytes, so a file that grows or a special file that never ends is refused as well.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size <= limit:
            with p.open("rb") as f:
                data = f.read(limit + 1)
            size = len(data)
    except OSError as exc:
        raise error(f"{p}: cannot read {what} ({exc.strerror or exc})") from exc
    if size > limit:
        raise error(f"{p}: {what} of {size} bytes exceeds the limit of {limit} bytes ({limit / MIB:g} MiB)")
    return data


def read_text_bounded(path: str | Path, limit: int, what: str, error: type[Exception]) -> str:
    """:func:`read_bounded`, decoded as UTF-8; bytes that are not UTF-8 raise ``error`` naming the file."""
    data = read_bounded(path, limit, what, error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {what} is not UTF-8 ({exc.reason} at byte {exc.start})") from exc


def safe_load_yaml(text: str, source: str, error: type[Exception]) -> Any:
    """The YAML document of ``text`` (safe loader); invalid YAML raises ``error`` in one line naming ``source``."""
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)  # CSafeLoader, else yaml.SafeLoader: safe either way
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise error(f"{source}: not valid YAML: {problem[:300]}") from exc


def parse_yaml_mapping(text: str, source: str, error: type[Exception], shape: str = "a mapping") -> dict[str, Any]:
    """``text`` safe-loaded (:func:`safe_load_yaml`) as a mapping with string keys, an empty document being ``{}``;
    anything else raises ``error`` in one line starting with ``source``: "<source>: must be <shape>, got list"."""
    document = safe_load_yaml(text, source, error)
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise error(f"{source}: must be {shape}, got {type(document).__name__}")
    for key in document:
        if not isinstance(key, str):
            raise error(f"{source}: key {key!r} must be a string")
    return dict(document)


def load_yaml_mapping(
    path: str | Path, what: str, max_bytes: int, error: type[Exception], shape: str = "a mapping"
) -> dict[str, Any]:
    """The YAML mapping in the file at ``path``: read with :func:`read_text_bounded` (``what`` names the file in
    its errors, e.g. "dataset option file"; larger than ``max_bytes`` or not UTF-8 is refused unparsed), then
    :func:`parse_yaml_mapping` (``shape`` says what it must be, e.g. "a mapping of dataset key → options")."""
    p = Path(path)
    return parse_yaml_mapping(read_text_bounded(p, max_bytes, what, error), str(p), error, shape)
