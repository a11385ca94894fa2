"""One writer per output folder: an exclusive, non-blocking lock on ``<out>/.iqabench.lock``.

A run takes the lock before it touches the cell store and holds it until its last output is written; a second
run on the same folder is refused with one line naming the holder (pid, host, since when), or waits for it when
asked to. Who holds the lock is written beside it (``.iqabench.lock.json``) for that message only: the lock
itself is the OS's (``flock``), so a run that dies releases it with its process.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from orchestrator.results.files import write_text_atomic

LOCK_NAME = ".iqabench.lock"
HOLDER_NAME = ".iqabench.lock.json"


class OutputInUseError(RuntimeError):
    """Another run holds the output folder."""


def blocking_file(folder: Path) -> Path | None:
    """The file that keeps ``folder`` from being a folder (itself, or the first existing ancestor), or None."""
    for path in (Path(folder), *Path(folder).absolute().parents):
        if path.exists():
            return None if path.is_dir() else path
    return None


def check_output_folder(out: Path) -> str | None:
    """Why ``--out`` ``out`` cannot be an output folder (a file, or under a file), or None when it can be."""
    blocker = blocking_file(out)
    if blocker is None:
        return None
    where = "is a file" if blocker == Path(out) or blocker == Path(out).absolute() else f"is under {blocker}, a file"
    return f"--out {out}: {where}, not a folder"


def _holder(out: Path) -> str:
    """Who holds the lock of ``out``, as the holder wrote it (or why that is unknown)."""
    path = Path(out) / HOLDER_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        since = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(float(info["since"])))
        return f"pid {int(info['pid'])} on {info['host']}, since {since}"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"holder unknown: {path} unreadable ({type(exc).__name__})"


@contextmanager
def output_lock(out: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the exclusive lock of ``out`` (created if needed) for the ``with`` block.

    ``wait_seconds``: how long to wait for another run to release it (0: refuse at once). Raises
    :class:`OutputInUseError` with one line naming the folder and its holder.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out / LOCK_NAME), timeout=max(0.0, float(wait_seconds)))
    try:
        lock.acquire()
    except Timeout:
        waited = f" after waiting {wait_seconds:g} s" if wait_seconds > 0 else ""
        raise OutputInUseError(
            f"output folder {out} is in use by another iqabench run ({_holder(out)}){waited}; wait for it to "
            "finish, use another --out, or pass --wait_for_lock SECONDS"
        ) from None
    holder = out / HOLDER_NAME
    try:
        write_text_atomic(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}),
                          holder)
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()
