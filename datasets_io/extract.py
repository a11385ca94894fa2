"""Safe, atomic extraction of dataset archives (tar, tar.gz/tgz, zip).

Refused: absolute member names, ``..`` components, drive letters, device files and FIFOs, links that point
outside the destination (tar; zip symlinks are refused outright). Tar members are checked here and then
extracted with tarfile's ``filter='data'``; zip members are written one by one to paths checked to lie inside
the destination. Extraction goes to a temporary folder next to the target, so nothing partial is ever left at
the destination; the caller moves the finished tree into place (:func:`extract_archive`).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator

_COPY_CHUNK = 1 << 20


class UnsafeArchiveError(ValueError):
    """An archive with a member that would land outside its destination, or is not a plain file/folder."""


class ArchiveFormatError(ValueError):
    """A file that is not a readable tar or zip archive."""


def _check_name(archive: str, name: str) -> PurePosixPath:
    normalised = name.replace("\\", "/")
    p = PurePosixPath(normalised)
    if not normalised or p.is_absolute() or normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    if ".." in p.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'")
    return p


def _inside(base: str, target: str) -> bool:
    base = os.path.realpath(base)
    return os.path.commonpath([base, os.path.realpath(target)]) == base


def _check_tar(archive: str, tar: tarfile.TarFile, dest: str) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        rel = _check_name(archive, m.name)
        if m.ischr() or m.isblk() or m.isfifo() or m.isdev():
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device file or FIFO")
        if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} has an unsupported type")
        if m.issym():
            link = m.linkname.replace("\\", "/")
            if link.startswith("/") or not _inside(dest, os.path.join(dest, str(rel.parent), link)):
                raise UnsafeArchiveError(f"{archive}: symlink {m.name!r} → {m.linkname!r} points outside the archive")
        if m.islnk():
            _check_name(archive, m.linkname)
    return members


def _extract_tar(archive: str, dest: str, progress: bool) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _check_tar(archive, tar, dest)
            for m in _progress(members, progress, "extracting", lambda m: m.size):
                tar.extract(m, dest, filter="data")
    except tarfile.FilterError as exc:
        raise UnsafeArchiveError(f"{archive}: {exc}") from exc
    except (tarfile.ReadError, tarfile.CompressionError, EOFError) as exc:
        raise ArchiveFormatError(f"{archive}: not a readable tar archive ({exc})") from exc


def _extract_zip(archive: str, dest: str, progress: bool) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_name(archive, info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link")
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is not a file or folder")
            for info in _progress(infos, progress, "extracting", lambda i: i.file_size):
                target = os.path.join(dest, *PurePosixPath(info.filename.replace("\\", "/")).parts)
                if not _inside(dest, target):
                    raise UnsafeArchiveError(f"{archive}: member {info.filename!r} would land outside the archive")
                if info.is_dir():
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as dst:
                    shutil.copyfileobj(src, dst, _COPY_CHUNK)
    except zipfile.BadZipFile as exc:
        raise ArchiveFormatError(f"{archive}: not a readable zip archive ({exc})") from exc
    except FileExistsError as exc:
        raise UnsafeArchiveError(f"{archive}: member written twice ({exc.filename})") from exc


def _progress(items: list, enabled: bool, desc: str, size) -> Iterator:
    if not enabled:
        yield from items
        return
    from tqdm.auto import tqdm

    with tqdm(total=sum(size(i) for i in items), unit="B", unit_scale=True, desc=desc) as bar:
        for item in items:
            yield item
            bar.update(size(item))


def extract_to_staging(archive: str | Path, parent: str | Path, progress: bool = False) -> Path:
    """Extract ``archive`` into a new temporary folder inside ``parent``; return it (caller moves or deletes)."""
    archive = str(archive)
    Path(parent).mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".extract-", dir=parent)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, staging, progress)
        else:
            _extract_tar(archive, staging, progress)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Path(staging)


def extract_archive(archive: str | Path, root: str | Path, progress: bool = False) -> list[Path]:
    """Extract ``archive`` so that its top-level entries appear under ``root``; return those entries.

    Each top-level entry is moved into place by a rename from a staging folder inside ``root``, replacing an
    older copy; a marker file lists the moves while they run, and :func:`pending_extraction` reports it, so an
    interrupted extraction is never mistaken for a complete one.
    """
    root = Path(root)
    staging = extract_to_staging(archive, root, progress)
    marker = root / f".extracting-{Path(archive).name}"
    try:
        entries = sorted(staging.iterdir())
        if not entries:
            raise ArchiveFormatError(f"{archive}: empty archive")
        marker.write_text("\n".join(e.name for e in entries), encoding="utf-8")
        placed = []
        for entry in entries:
            final = root / entry.name
            if final.exists() or final.is_symlink():
                old = Path(tempfile.mkdtemp(prefix=".replaced-", dir=root)) / entry.name
                os.replace(final, old)
                os.replace(entry, final)
                shutil.rmtree(old.parent, ignore_errors=True)
            else:
                os.replace(entry, final)
            placed.append(final)
        marker.unlink()
        return placed
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def pending_extraction(root: str | Path) -> list[str]:
    """Top-level entries of ``root`` that an interrupted extraction may have left half-replaced."""
    names: list[str] = []
    for marker in Path(root).glob(".extracting-*"):
        names.extend(line for line in marker.read_text(encoding="utf-8").splitlines() if line)
    return names
