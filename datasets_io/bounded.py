"""Reading input files whose size is bounded before anything parses them (meta-info, option YAML, splits)."""

from __future__ import annotations

from pathlib import Path

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
