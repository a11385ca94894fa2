"""Images to score without opinion scores (``iqabench score``): a file, a folder, a glob or a CSV of paths, and
optionally their references (one file for every image, or a folder matched by file name), as a :class:`Manifest`.

The manifest is the benchmark's own (``mos`` is NaN, ``split`` null), so an image set is scheduled, decoded,
cached and resumed exactly as a dataset is; its digest covers each file's name, size and sha256. A set is one
unit of work: a metric that compares two sets (a distribution metric) would take the whole manifest as its input.

Rules:

- A folder: its image files (by extension, :data:`IMAGE_SUFFIXES`), not its sub-folders, sorted by name; the
  names are the file names.
- A glob (``*``, ``?`` or ``[`` in the argument; ``**`` recurses): the image files it matches, sorted; names are
  relative to the folder the matches share.
- A CSV (``.csv``): one path per row, relative paths under the CSV's folder. With a header, the paths are the
  column ``path`` (or ``dist_path``, ``image``, ``filename``, else the first), and a column ``ref_path`` (or
  ``ref``) gives each row its reference; without one (the first cell is an existing file), the first column.
- References: a file pairs with every image; a folder is matched by name (``<ref>/<name>``), and images without
  a reference of the same name are all listed in one error.
"""

from __future__ import annotations

import csv
import glob
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from datasets_io.bounded import MIB, read_text_bounded
from datasets_io.manifest import Manifest, manifest_of, manifest_schema
from datasets_io.spec import DatasetSpec

#: File suffixes a folder or glob takes as images (lower case).
IMAGE_SUFFIXES = frozenset({".bmp", ".png", ".jpg", ".jpeg", ".jfif", ".tif", ".tiff", ".webp", ".gif", ".ppm",
                            ".pgm", ".pnm"})
#: The largest CSV of paths read.
MAX_CSV_BYTES = 64 * MIB
#: Names listed in an error (the rest are counted).
MAX_LISTED = 20
PATH_COLUMNS = ("path", "dist_path", "image", "filename")
REF_COLUMNS = ("ref_path", "ref")
GLOB_CHARACTERS = frozenset("*?[")


class ImageSetError(ValueError):
    """Images that cannot be collected or paired (one message naming the argument and what was expected)."""


@dataclass(frozen=True)
class ImageItem:
    """One image to score: its name in the outputs, its path and its reference's (None: no reference)."""

    name: str
    path: str
    ref_path: str | None = None


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" ... and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and not path.name.startswith(".")


def _named_under(paths: list[Path]) -> list[ImageItem]:
    """Images named by their path relative to the folder they share."""
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    return [ImageItem(p.relative_to(root).as_posix(), str(p)) for p in paths]


def _from_csv(path: Path, what: str) -> list[ImageItem]:
    text = read_text_bounded(path, MAX_CSV_BYTES, "CSV of image paths", ImageSetError)
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise ImageSetError(f"{what} {path}: the CSV names no images")
    base = path.parent

    def resolve(cell: str) -> Path:
        p = Path(cell.strip()).expanduser()
        return p if p.is_absolute() else base / p

    header = [cell.strip().lower() for cell in rows[0]]
    if resolve(rows[0][0]).is_file():  # no header: the first column holds the paths
        column, ref_column, body = 0, None, rows
    else:
        column = next((header.index(c) for c in PATH_COLUMNS if c in header), 0)
        ref_column = next((header.index(c) for c in REF_COLUMNS if c in header), None)
        body = rows[1:]
    images, missing = [], []
    for number, row in enumerate(body, start=2 if body is not rows else 1):
        if len(row) <= column or not row[column].strip():
            raise ImageSetError(f"{what} {path}: row {number} has no path in column {column + 1}")
        image = resolve(row[column])
        ref = resolve(row[ref_column]) if ref_column is not None and len(row) > ref_column and row[ref_column].strip() \
            else None
        missing += [str(p) for p in (image, ref) if p is not None and not p.is_file()]
        images.append(ImageItem(row[column].strip(), str(image.resolve()), str(ref.resolve()) if ref else None))
    if missing:
        raise ImageSetError(f"{what} {path}: {len(missing)} file(s) named in the CSV do not exist: {_listed(missing)}")
    if not images:
        raise ImageSetError(f"{what} {path}: the CSV names no images")
    return images


def collect_images(target: str | Path, what: str = "-t/--target") -> list[ImageItem]:
    """The images ``target`` names: a file, a folder, a glob or a CSV of paths (see the module docstring)."""
    text = str(target)
    path = Path(text).expanduser()
    if path.is_file() and path.suffix.lower() == ".csv":
        return _from_csv(path.resolve(), what)
    if path.is_file():
        return [ImageItem(path.name, str(path.resolve()))]
    if path.is_dir():
        found = sorted(p for p in path.resolve().iterdir() if _is_image(p))
        if not found:
            raise ImageSetError(f"{what} {text}: the folder holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return [ImageItem(p.name, str(p)) for p in found]
    if GLOB_CHARACTERS & set(text):
        found = sorted({Path(p).resolve() for p in glob.glob(os.path.expanduser(text), recursive=True)
                        if _is_image(Path(p))})
        if not found:
            raise ImageSetError(f"{what} {text}: the pattern matches no image files")
        return _named_under(found)
    raise ImageSetError(f"{what} {text}: no such file or folder (expected an image, a folder, a glob or a CSV)")


def pair_references(images: list[ImageItem], ref: str | Path | None, what: str = "-r/--ref") -> list[ImageItem]:
    """``images`` with their references: ``ref`` a file (every image's), a folder (matched by name), or None
    (the references a CSV named, if any). Images without one are listed in one error."""
    if ref is None:
        with_ref = [i for i in images if i.ref_path is not None]
        if with_ref and len(with_ref) < len(images):
            lacking = [i.name for i in images if i.ref_path is None]
            raise ImageSetError(f"the CSV gives references to {len(with_ref)} of {len(images)} image(s); these have "
                                f"none: {_listed(lacking)}")
        return images
    path = Path(ref).expanduser()
    if path.is_file():
        return [ImageItem(i.name, i.path, str(path.resolve())) for i in images]
    if not path.is_dir():
        raise ImageSetError(f"{what} {ref}: no such file or folder (expected a reference image or a folder of them)")
    root = path.resolve()
    paired = [ImageItem(i.name, i.path, str(root / i.name)) for i in images]
    missing = [i.name for i in paired if not Path(i.ref_path).is_file()]
    if missing:
        raise ImageSetError(f"{what} {ref}: {len(missing)} of {len(images)} image(s) have no reference of the same "
                            f"file name there: {_listed(missing)}")
    return paired


def image_set_manifest(images: list[ImageItem], name: str = "images", source: str = "iqabench score", *,
                       hash_cache: str | Path | bool = True) -> Manifest:
    """The manifest of ``images`` (references for all of them, or for none): an FR set or an NR set."""
    if not images:
        raise ImageSetError("no images to score")
    full_reference = images[0].ref_path is not None
    if any((i.ref_path is not None) != full_reference for i in images):
        raise ImageSetError("either every image has a reference or none has")
    root = os.path.commonpath([str(Path(i.path).parent) for i in images])
    spec = DatasetSpec(key=name, name=name, type="GeneralFRDataset" if full_reference else "GeneralNRDataset",
                       dataroot_target=root, meta_info_file="", source=source)
    n = len(images)
    table = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "dist_name": pa.array([i.name for i in images], pa.string()),
        "ref_name": pa.array([Path(i.ref_path).name if i.ref_path else None for i in images], pa.string()),
        "dist_path": pa.array([i.path for i in images], pa.string()),
        "ref_path": pa.array([i.ref_path for i in images], pa.string()),
        "mos": pa.array([math.nan] * n, pa.float64()),
        "split": pa.array([None] * n, pa.string()),
    }, schema=manifest_schema(spec))
    return manifest_of(spec, table, hash_cache=hash_cache)
