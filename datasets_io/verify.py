"""Dataset verification: every image named in the meta-info (all rows, every split) exists and decodes.

:func:`verify_dataset` returns a :class:`Verification`; the caller prints it (``iqabench datasets verify``).
A dataset that is not on disk at all raises :class:`datasets_io.download.MissingDatasetError`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from datasets_io.decode import ImageDecodeError, read_decoded
from datasets_io.download import MissingDatasetError, dataset_status, missing_message
from datasets_io.meta import rows_for
from datasets_io.paths import image_paths
from datasets_io.spec import DatasetSpec

#: How many missing images or decode errors a report lists (the counts are always complete).
SHOWN = 50


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_dataset` found. ``missing``: paths not on disk (decoding is skipped when any is
    missing); ``undecodable``: one decoder message per image that does not decode; ``sixteen_bit``: images
    stored with 16 bits per sample (scaled to 8 bits when read)."""

    key: str
    meta_info_file: str
    rows: int
    images: int
    missing: tuple[str, ...] = ()
    undecodable: tuple[str, ...] = ()
    sixteen_bit: int = 0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.undecodable

    def problem(self) -> tuple[str, list[str]] | None:
        """``None`` when ok, else (one-line message, detail lines — at most :data:`SHOWN`, then a count)."""
        if self.missing:
            message = (f"{self.key}: {len(self.missing)} of {self.images} image(s) named in "
                       f"{self.meta_info_file} are missing")
            return message, _shown(self.missing)
        if self.undecodable:
            return f"{self.key}: {len(self.undecodable)} of {self.images} image(s) do not decode", _shown(
                self.undecodable)
        return None

    def summary(self) -> str:
        return (f"{self.key}: ok: {self.rows} meta-info rows, {self.images} distinct images, all exist and "
                f"decode; {self.sixteen_bit} 16-bit image(s) scaled to 8 bits")


def _shown(lines: tuple[str, ...]) -> list[str]:
    more = [f"... and {len(lines) - SHOWN} more"] if len(lines) > SHOWN else []
    return list(lines[:SHOWN]) + more


def _decode(path: str) -> tuple[str | None, int]:
    """(error or None, bits per sample of the file)."""
    try:
        return None, read_decoded(path).source_bits
    except ImageDecodeError as exc:
        return str(exc), 0


def verify_dataset(spec: DatasetSpec, root: str | Path | None = None, *, workers: int = 1) -> Verification:
    """Check that every image of ``spec`` (all meta-info rows) exists and decodes, on ``workers`` threads."""
    status = dataset_status(spec, root)
    if not status.present:
        raise MissingDatasetError(missing_message(spec.key, status.reason))
    rows = rows_for(spec, all_rows=True)
    paths = image_paths(spec, rows).distinct()
    found = Verification(spec.key, spec.meta_info_file, len(rows), len(paths))
    missing = tuple(p for p in paths if not os.path.isfile(p))
    if missing:
        return replace(found, missing=missing)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(_decode, paths))
    return replace(found, undecodable=tuple(e for e, _bits in results if e is not None),
                   sixteen_bit=sum(1 for _e, bits in results if bits == 16))
