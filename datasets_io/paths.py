"""Where a dataset's images are: the one resolution of meta-info names to absolute paths.

``dist_name`` (and BAPPS's ``dist_b_name``) resolve under ``dataroot_target``; ``ref_name`` under
``dataroot_ref`` (``dataroot_target`` when the options name none); a missing reference (NR datasets) stays
``None``. Used by the manifest and by dataset verification.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from datasets_io.spec import DatasetSpec


@dataclass(frozen=True)
class ImagePaths:
    """Absolute paths, row by row: ``dist``, ``ref`` (``None`` where a row has no reference), ``dist_b``
    (BAPPS's second candidate; empty for every other dataset)."""

    dist: list[str]
    ref: list[str | None]
    dist_b: list[str]

    def distinct(self) -> list[str]:
        """Every path named, once each, sorted."""
        return sorted({p for p in self.dist + self.ref + self.dist_b if p is not None})


def image_paths(spec: DatasetSpec, rows: pd.DataFrame) -> ImagePaths:
    """The absolute image paths of ``rows`` (meta-info rows of ``spec``)."""
    target = Path(spec.dataroot_target)
    ref_root = Path(spec.dataroot_ref) if spec.dataroot_ref else target

    def under(root: Path, name: str) -> str:
        return os.path.abspath(root / name)

    return ImagePaths(
        dist=[under(target, name) for name in rows["dist_name"]],
        ref=[under(ref_root, name) if isinstance(name, str) else None for name in rows["ref_name"]],
        dist_b=[under(target, name) for name in rows["dist_b_name"]] if "dist_b_name" in rows else [],
    )
