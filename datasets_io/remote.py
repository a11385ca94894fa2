"""Read image bytes from a local path or from any filesystem pyarrow knows by URI (``s3://``, ``gs://``,
``hdfs://``, ``file://``), so that every node of a cluster can read a dataset kept in object storage.

A string with a scheme (``name://…``) goes through :func:`pyarrow.fs.FileSystem.from_uri`; anything else is
a local path. Filesystems are built once per process and per bucket/host (an S3 client resolves its region
and credentials when it is built), then reused for every image. Credentials come from the usual places of
each filesystem (environment, instance metadata, config files); nothing here handles secrets.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from datasets_io.decode import ImageDecodeError, decode_bytes

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_uri(location: str | Path) -> bool:
    """Whether ``location`` names a filesystem by scheme (``s3://b/k``) rather than a local path."""
    return isinstance(location, str) and _URI.match(location) is not None


@lru_cache(maxsize=64)
def _filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(root)


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """The (cached) filesystem of ``uri`` and the path inside it, as pyarrow names it (``bucket/key`` for S3)."""
    parts = urlsplit(uri)
    root = f"{parts.scheme}://{parts.netloc}/" + (f"?{parts.query}" if parts.query else "")
    filesystem, base = _filesystem(root)
    relative = unquote(parts.path).lstrip("/")
    base = base.rstrip("/")
    return filesystem, f"{base}/{relative}" if base else f"/{relative}"


def read_bytes(location: str | Path) -> bytes:
    """All bytes of one file, local or remote; a missing or unreadable file raises :class:`OSError`."""
    if not is_uri(location):
        return Path(location).read_bytes()
    filesystem, path = resolve(str(location))
    try:
        with filesystem.open_input_stream(path) as stream:
            return stream.read()
    except pa.ArrowException as exc:  # pyarrow raises its own error types for some backends
        raise OSError(f"{location}: {exc}") from exc


def read_image_uri(location: str | Path) -> np.ndarray:
    """:func:`datasets_io.decode.read_image` for local paths and URIs alike (any failure: ImageDecodeError)."""
    try:
        data = read_bytes(location)
    except OSError as exc:
        raise ImageDecodeError(str(location), f"cannot read ({exc.strerror or exc})") from exc
    return decode_bytes(data, str(location))
