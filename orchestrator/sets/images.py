"""The images of a set: a folder (searched recursively) or an explicit list of files, in a fixed order."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image


def is_image_name(name: str) -> bool:
    """Whether a file name has an extension Pillow registers for an image format."""
    return name.lower().endswith(tuple(Image.registered_extensions()))


def list_images(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """The image files of ``source``: a folder's (recursively, sorted by full path, as pyiqa's ``scandir_images``)
    or the given list of files (kept in its order)."""
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if not folder.is_dir():
            raise NotADirectoryError(f"image set {folder} is not a folder")
        found = sorted(os.path.join(root, name) for root, _, names in os.walk(folder, followlinks=True)
                       for name in names if is_image_name(name))
        if not found:
            raise FileNotFoundError(f"image set {folder} holds no image files")
        return found
    paths = [str(p) for p in source]
    if not paths:
        raise ValueError("an image set needs at least one image")
    return paths
