"""Reading input files whose size is bounded before anything parses them (meta-info, option YAML, splits), and
the one loader of a YAML mapping (dataset options here; ``--metric_opt`` in the orchestrator's plan)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

MIB = 1 << 20


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


def parse_yaml_mapping(
    text: str, source: str, what: str, error: type[Exception] = ValueError, entries: str = "names to values"
) -> dict[str, Any]:
    """``text`` safe-loaded as a YAML mapping with string keys (an empty document is ``{}``); anything else raises
    ``error`` with one line starting with ``source``, e.g. "<source>: <what> must map <entries>, got list"."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: {what} is not valid YAML: {exc}") from exc
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise error(f"{source}: {what} must map {entries}, got {type(document).__name__}")
    for key in document:
        if not isinstance(key, str):
            raise error(f"{source}: {what} must map {entries}; key {key!r} is not a string")
    return dict(document)


def load_yaml_mapping(
    path: str | Path, what: str, max_bytes: int, error: type[Exception] = ValueError, entries: str = "names to values"
) -> dict[str, Any]:
    """The YAML mapping in the file at ``path`` (:func:`parse_yaml_mapping`), refused unparsed when larger than
    ``max_bytes`` (:func:`read_bounded`) or not UTF-8; every failure is ``error`` with one line naming the file.
    ``what`` names the file ("dataset option file"), ``entries`` what it maps ("dataset keys to options")."""
    p = Path(path)
    data = read_bounded(p, max_bytes, what, error)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{p}: {what} is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    return parse_yaml_mapping(text, str(p), what, error, entries)
