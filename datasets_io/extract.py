"""Safe, bounded, atomic extraction of dataset archives (tar, tar.gz/tgz, tar.bz2, tar.xz, zip).

Design (the same for tar and zip, and independent of the Python version's tarfile filters):

- **Only plain folders and regular files.** Dataset archives need nothing else, so symbolic links, hard links,
  device files, FIFOs and any other member type are refused outright, as are absolute names, drive letters,
  ``..`` components and NUL bytes. Refusing links altogether (rather than checking where they point) is what
  makes extraction safe against link-chain tricks such as CVE-2025-4517, where a chain of symlinks whose
  resolved path exceeds PATH_MAX stops ``os.path.realpath`` from resolving it, so a link that really points
  outside looks inside; tarfile's ``filter='data'`` is bypassable that way on Python < 3.11.13.
- **Everything is checked before anything is written.** A first pass reads only the member headers (names,
  types, declared sizes, member count, compression ratio, the :class:`ArchiveLayout` of the dataset) and the
  free disk space; only then is any byte written.
- **Extraction is done here, member by member**: each member's data stream is copied into a file created with
  ``O_CREAT | O_EXCL | O_NOFOLLOW`` under a fresh staging folder, after checking that the file's real parent
  folder lies inside the staging folder. No tarfile extraction API (``extract``/``extractall``) is used; were
  one ever used, it would be with ``filter='data'``.
- **Bounded.** :class:`ExtractLimits` bounds the total extracted size, the member count and the compression
  ratio (per zip member and over the whole archive). The bytes are counted while they stream, the headers are
  not trusted alone; for tar the decompressed stream itself is capped, so not even header parsing can run away.
- **Atomic.** Extraction goes to a ``.extract-*`` folder inside the destination; :func:`extract_archive` then
  renames the finished top-level entries into place. A killed extraction leaves only that folder, which
  :func:`remove_stale_staging` deletes at the start of the next download.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterable, Iterator

from datasets_io.errors import DownloadError

_COPY_CHUNK = 1 << 20
GIB = 1 << 30
#: Extracted bytes that never count against the compression-ratio limit (small, very compressible files such
#: as a README or a CSV are fine even at a high ratio).
RATIO_FLOOR_BYTES = 1 << 20
#: Decompressed tar bytes allowed per member beyond its data: header block, GNU long-name/pax records, padding.
TAR_OVERHEAD_PER_MEMBER = 4096
#: Prefixes of the temporary folders an extraction makes inside the destination.
STAGING_PREFIX = ".extract-"
REPLACED_PREFIX = ".replaced-"
MARKER_PREFIX = ".extracting-"
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


class UnsafeArchiveError(DownloadError, ValueError):
    """An archive with a member that is not a plain file/folder, lands outside, or exceeds a limit."""


class ForeignEntryError(UnsafeArchiveError):
    """An archive entry that the dataset it is downloaded for may not create (see :class:`ArchiveLayout`)."""


class ArchiveFormatError(DownloadError, ValueError):
    """A file that is not a readable tar or zip archive."""


@dataclass(frozen=True)
class ExtractLimits:
    """Bounds on one extraction; the defaults are far above any pyiqa dataset (AVA, the largest, is ~32 GB)."""

    #: Total bytes of all extracted files.
    max_total_bytes: int = 256 * GIB
    #: Number of members (files and folders).
    max_members: int = 2_000_000
    #: Extracted bytes per compressed byte, per zip member and over the whole archive (above RATIO_FLOOR_BYTES).
    max_ratio: float = 200.0

    def __post_init__(self) -> None:
        for name in ("max_total_bytes", "max_members", "max_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"extraction limit {name} must be a positive number, got {value!r}")

    def ratio_allowance(self, compressed: int) -> int:
        """The most bytes that ``compressed`` bytes may expand to."""
        return max(int(self.max_ratio * compressed), RATIO_FLOOR_BYTES)

    def total_allowance(self, archive_size: int) -> int:
        """The most bytes the whole archive may extract to (size and overall-ratio limits together)."""
        return min(self.max_total_bytes, self.ratio_allowance(archive_size))


@dataclass(frozen=True)
class ArchiveLayout:
    """What one dataset's archive may create under the data root.

    ``folders``: top-level folders it may create or replace as a whole (the dataset's image folders, as its
    options name them). ``files``: root-relative paths of single files it may create (its own meta-info files;
    one already there is kept, the lock-checked copy from the meta-info repo is authoritative). Anything else,
    such as ``meta_info/`` as a whole, another dataset's folder or the lock file, is refused.
    """

    owner: str
    folders: frozenset[str]
    files: frozenset[str] = field(default_factory=frozenset)

    def check(self, archive: str, rel: PurePosixPath, is_dir: bool) -> None:
        """Raise :class:`ForeignEntryError` unless member ``rel`` is one this dataset may create."""
        path = rel.as_posix()
        if rel.parts[0] in self.folders or (not is_dir and path in self.files):
            return
        if is_dir and any(f.startswith(path + "/") for f in self.files):
            return
        allowed = ", ".join(sorted(self.folders | self.files)) or "nothing under the data root"
        raise ForeignEntryError(
            f"{archive}: entry {path!r} is not dataset {self.owner!r}'s to create; the options expect only: {allowed}"
        )


@dataclass(frozen=True)
class _Member:
    """A checked archive member: where it goes, what it is, and how to read its data."""

    rel: PurePosixPath
    name: str
    is_dir: bool
    size: int
    #: Compressed size (zip members) or None (tar: compression spans the whole stream).
    compressed: int | None
    open: Callable[[], IO[bytes]]


# ---------------------------------------------------------------------------------------------- member checks
def _check_name(archive: str, name: str) -> PurePosixPath:
    """The member's relative path; absolute names, drive letters, ``..`` and NUL bytes are refused."""
    normalised = name.replace("\\", "/")
    if "\x00" in normalised:
        raise UnsafeArchiveError(f"{archive}: member {name!r} has a NUL byte in its name")
    p = PurePosixPath(normalised)
    if not normalised or p.is_absolute() or (len(normalised) > 1 and normalised[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    if ".." in p.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'")
    return p


def _refuse_type(archive: str, name: str, what: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{archive}: member {name!r} is {what}; dataset archives may hold only files and folders (links could "
        f"point outside the data root)"
    )


def _tar_type_error(archive: str, info: tarfile.TarInfo) -> UnsafeArchiveError | None:
    if info.issym():
        return _refuse_type(archive, info.name, f"a symbolic link (→ {info.linkname!r})")
    if info.islnk():
        return _refuse_type(archive, info.name, f"a hard link (→ {info.linkname!r})")
    if info.isdev():
        return _refuse_type(archive, info.name, "a device file or FIFO")
    if not (info.isfile() or info.isdir()):
        return _refuse_type(archive, info.name, f"of unsupported type {info.type!r}")
    return None


def _zip_type_error(archive: str, info: zipfile.ZipInfo) -> UnsafeArchiveError | None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return _refuse_type(archive, info.filename, "a symbolic link")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return _refuse_type(archive, info.filename, "not a file or folder")
    if info.flag_bits & 0x1:
        return UnsafeArchiveError(f"{archive}: member {info.filename!r} is encrypted")
    if info.compress_type not in _ZIP_METHODS:
        return UnsafeArchiveError(f"{archive}: member {info.filename!r} uses unsupported compression "
                                  f"method {info.compress_type}")
    return None


class _Checker:
    """The first pass: every member's name, type, size and layout, the member count and the declared total."""

    def __init__(self, archive: str, limits: ExtractLimits, layout: ArchiveLayout | None) -> None:
        self.archive = archive
        self.limits = limits
        self.layout = layout
        self.allowance = limits.total_allowance(os.path.getsize(archive))
        self.members: list[_Member] = []
        self.declared = 0
        self.seen = 0
        self._files: set[PurePosixPath] = set()

    def add(self, name: str, type_error: UnsafeArchiveError | None, is_dir: bool, size: int,
            compressed: int | None, opener: Callable[[], IO[bytes]]) -> None:
        """Check one member (its header only) and keep it for the second pass."""
        self.seen += 1
        if self.seen > self.limits.max_members:
            raise UnsafeArchiveError(f"{self.archive}: more than {self.limits.max_members} members (limit max_members)")
        rel = _check_name(self.archive, name)
        if type_error is not None:
            raise type_error
        if not rel.parts:
            if is_dir:  # "./": the destination itself
                return
            raise UnsafeArchiveError(f"{self.archive}: member {name!r} has an empty path")
        if self.layout is not None:
            self.layout.check(self.archive, rel, is_dir)
        if not is_dir:
            if rel in self._files:
                raise UnsafeArchiveError(f"{self.archive}: member {name!r} appears twice")
            self._files.add(rel)
            if compressed is not None and size > self.limits.ratio_allowance(compressed):
                raise UnsafeArchiveError(
                    f"{self.archive}: member {name!r} declares {size} bytes from {compressed} compressed (ratio "
                    f"above max_ratio {self.limits.max_ratio:g})"
                )
            self.declared += size
            if self.declared > self.allowance:
                raise _too_large(self.archive, self.limits, self.allowance)
        self.members.append(_Member(rel, name, is_dir, size, compressed, opener))


def _too_large(archive: str, limits: ExtractLimits, allowance: int) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{archive}: extracts to more than {allowance} bytes (limits: max_total_bytes {limits.max_total_bytes}, "
        f"max_ratio {limits.max_ratio:g} × the archive's size)"
    )


# ------------------------------------------------------------------------------------------- bounded reading
class _BoundedReader:
    """A read-only stream that refuses to go past ``cap`` bytes and reports read failures as format errors."""

    def __init__(self, raw: IO[bytes], cap: int, archive: str, what: str) -> None:
        self.raw, self.cap, self.archive, self.what = raw, cap, archive, what
        self.position = 0

    def __enter__(self) -> "_BoundedReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _guard(self, call: Callable[[], object]) -> object:
        try:
            return call()
        except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, NotImplementedError) as exc:
            raise ArchiveFormatError(f"{self.archive}: not a readable {self.what} ({exc})") from exc

    def _beyond_cap(self) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"{self.archive}: decompresses to more than {self.cap} bytes")

    def read(self, n: int | None = -1) -> bytes:
        """At most ``n`` bytes; reading a byte past the cap is an error (so one more than the cap is asked for)."""
        room = self.cap - self.position + 1
        want = room if n is None or n < 0 else min(n, room)
        data = self._guard(lambda: self.raw.read(want))
        self.position += len(data)
        if self.position > self.cap:
            raise self._beyond_cap()
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence not in (os.SEEK_SET, os.SEEK_CUR):
            raise OSError(f"{self.archive}: seeking relative to the end is not supported")
        target = offset if whence == os.SEEK_SET else self.position + offset
        if target > self.cap:
            raise self._beyond_cap()
        self.position = self._guard(lambda: self.raw.seek(target))
        return self.position

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        self.raw.close()


def _decompressed(archive: str) -> IO[bytes]:
    """``archive``'s tar stream: gzip, bzip2 and xz are recognised by their magic bytes, else read as is."""
    with open(archive, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(archive, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(archive, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(archive, "rb")
    return open(archive, "rb")


# ---------------------------------------------------------------------------------------------------- writing
def _inside(base: str, target: str) -> bool:
    base = os.path.realpath(base)
    return os.path.commonpath([base, os.path.realpath(target)]) == base


def _make_folder(archive: str, staging: str, rel: PurePosixPath, name: str) -> str:
    """Create ``staging/rel`` folder by folder (each a real folder, never a link); return its path."""
    path = staging
    for part in rel.parts:
        path = os.path.join(path, part)
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise UnsafeArchiveError(
                    f"{archive}: member {name!r} needs a folder {part!r} where the archive has a file"
                ) from None
    if not _inside(staging, path):
        raise UnsafeArchiveError(f"{archive}: member {name!r} would land outside the archive")
    return path


@dataclass
class _Budget:
    """The bytes an extraction may still write (total size and overall ratio), counted while streaming."""

    archive: str
    limits: ExtractLimits
    allowance: int
    spent: int = 0

    def spend(self, n: int) -> None:
        self.spent += n
        if self.spent > self.allowance:
            raise _too_large(self.archive, self.limits, self.allowance)


def _copy_member(archive: str, member: _Member, target: str, budget: _Budget) -> None:
    """Copy the member's data into a new file at ``target``, counting the bytes as they stream."""
    cap = member.size
    if member.compressed is not None:
        cap = min(cap, budget.limits.ratio_allowance(member.compressed))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError as exc:
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} is written twice") from exc
    written = 0
    with os.fdopen(fd, "wb") as dst, member.open() as src:
        while chunk := src.read(_COPY_CHUNK):
            written += len(chunk)
            if written > cap:
                raise UnsafeArchiveError(
                    f"{archive}: member {member.name!r} yields more than the {cap} bytes it declares or may expand to"
                )
            budget.spend(len(chunk))
            dst.write(chunk)


def _write_members(checker: _Checker, staging: str, progress: bool) -> None:
    """The second pass: folders and files under ``staging``, in archive order."""
    archive = checker.archive
    budget = _Budget(archive, checker.limits, checker.allowance)
    for member in _progress(checker.members, progress, "extracting", lambda m: m.size):
        if member.is_dir:
            _make_folder(archive, staging, member.rel, member.name)
            continue
        parent = _make_folder(archive, staging, member.rel.parent, member.name)
        _copy_member(archive, member, os.path.join(parent, member.rel.name), budget)


def _check_free_space(archive: str, staging: str, needed: int) -> None:
    free = shutil.disk_usage(staging).free
    if needed > free:
        raise UnsafeArchiveError(
            f"{archive}: extracting needs {needed} bytes but only {free} are free under {os.path.dirname(staging)}"
        )


# --------------------------------------------------------------------------------------------- tar and zip
def _scan_tar(archive: str, tar: tarfile.TarFile, checker: _Checker) -> None:
    """The first pass over a tar: headers only, one at a time (so a refusal comes before reading the rest)."""
    while (info := tar.next()) is not None:
        checker.add(info.name, _tar_type_error(archive, info), info.isdir(), info.size if info.isfile() else 0,
                    None, partial(tar.extractfile, info))


def _open_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: str) -> _BoundedReader:
    """A zip member's data, read errors reported as format errors, never more than its declared size."""
    return _BoundedReader(zf.open(info), info.file_size, archive, "zip archive")


def _extract_tar(
    archive: str, staging: str, limits: ExtractLimits, layout: ArchiveLayout | None, progress: bool
) -> None:
    cap = limits.max_total_bytes + limits.max_members * TAR_OVERHEAD_PER_MEMBER
    stream = _BoundedReader(_decompressed(archive), cap, archive, "tar archive")
    try:
        with tarfile.open(fileobj=stream, mode="r:") as tar:
            checker = _Checker(archive, limits, layout)
            _scan_tar(archive, tar, checker)
            _check_free_space(archive, staging, checker.declared)
            _write_members(checker, staging, progress)
    except tarfile.TarError as exc:
        raise ArchiveFormatError(f"{archive}: not a readable tar archive ({exc})") from exc
    finally:
        stream.close()


def _extract_zip(
    archive: str, staging: str, limits: ExtractLimits, layout: ArchiveLayout | None, progress: bool
) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            checker = _Checker(archive, limits, layout)
            for info in zf.infolist():
                checker.add(info.filename, _zip_type_error(archive, info), info.is_dir(),
                            0 if info.is_dir() else info.file_size, info.compress_size,
                            partial(_open_zip_member, zf, info, archive))
            _check_free_space(archive, staging, checker.declared)
            _write_members(checker, staging, progress)
    except zipfile.BadZipFile as exc:
        raise ArchiveFormatError(f"{archive}: not a readable zip archive ({exc})") from exc


def _progress(items: list, enabled: bool, desc: str, size: Callable[[object], int]) -> Iterator:
    if not enabled:
        yield from items
        return
    from tqdm.auto import tqdm

    with tqdm(total=sum(size(i) for i in items), unit="B", unit_scale=True, desc=desc) as bar:
        for item in items:
            yield item
            bar.update(size(item))


# ----------------------------------------------------------------------------------------------------- public
def extract_to_staging(
    archive: str | Path,
    parent: str | Path,
    progress: bool = False,
    *,
    limits: ExtractLimits | None = None,
    layout: ArchiveLayout | None = None,
) -> Path:
    """Extract ``archive`` into a new ``.extract-*`` folder inside ``parent``; return it (caller moves or deletes).

    Every member is checked (see the module docstring) before anything is written; on any failure the staging
    folder is removed and the error (one line naming the archive and member) is raised.
    """
    archive = str(archive)
    limits = limits or ExtractLimits()
    Path(parent).mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, staging, limits, layout, progress)
        else:
            _extract_tar(archive, staging, limits, layout, progress)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # best effort; the original error is what matters
        raise
    return Path(staging)


def _replace_entry(root: Path, entry: Path) -> Path:
    """Move staged top-level ``entry`` to ``root``, replacing an older copy; return its final path."""
    final = root / entry.name
    if final.exists() or final.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=REPLACED_PREFIX, dir=root)) / entry.name
        os.replace(final, old)
        os.replace(entry, final)
        shutil.rmtree(old.parent, ignore_errors=True)  # a leftover is removed by the next remove_stale_staging
    else:
        os.replace(entry, final)
    return final


def _place_files(root: Path, staging: Path, files: Iterable[str]) -> list[Path]:
    """Move the staged single files (meta-info) that are not already at ``root``; return those moved."""
    placed = []
    for rel in sorted(files):
        staged, final = staging / rel, root / rel
        if not staged.is_file() or final.exists():
            continue
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        placed.append(final)
    return placed


def extract_archive(
    archive: str | Path,
    root: str | Path,
    progress: bool = False,
    *,
    limits: ExtractLimits | None = None,
    layout: ArchiveLayout | None = None,
) -> list[Path]:
    """Extract ``archive`` so that its top-level entries appear under ``root``; return what was placed.

    With a ``layout`` only the entries it names are accepted (checked before anything is written): its folders
    replace older copies as a whole, its files are created where missing. Without one every top-level entry is
    placed (for callers that own ``root``). Each folder is moved into place by a rename from the staging folder;
    a marker file lists the moves while they run, and :func:`pending_extraction` reports it, so an interrupted
    extraction is never mistaken for a complete one.
    """
    root = Path(root)
    staging = extract_to_staging(archive, root, progress, limits=limits, layout=layout)
    marker = root / f"{MARKER_PREFIX}{Path(archive).name}"
    try:
        entries = sorted(staging.iterdir())
        if not entries:
            raise ArchiveFormatError(f"{archive}: empty archive")
        folders = [e for e in entries if layout is None or e.name in layout.folders]
        marker.write_text("\n".join(e.name for e in folders), encoding="utf-8")
        placed = [_replace_entry(root, entry) for entry in folders]
        marker.unlink()
        if layout is not None:
            placed += _place_files(root, staging, layout.files)
        return placed
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # what is left is unused; a failure here is cleaned next time


def remove_stale_staging(root: str | Path) -> list[Path]:
    """Delete the ``.extract-*`` and ``.replaced-*`` folders under ``root`` that killed extractions left behind.

    Call it only while holding the root's download lock (as :func:`datasets_io.download.download_dataset`
    does): every extraction into the root runs under that lock, so any such folder found then is stale.
    """
    removed = []
    for prefix in (STAGING_PREFIX, REPLACED_PREFIX):
        for folder in Path(root).glob(f"{prefix}*"):
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder)
                removed.append(folder)
    return removed


def pending_extraction(root: str | Path) -> list[str]:
    """Top-level entries of ``root`` that an interrupted extraction may have left half-replaced."""
    names: list[str] = []
    for marker in Path(root).glob(f"{MARKER_PREFIX}*"):
        names.extend(line for line in marker.read_text(encoding="utf-8").splitlines() if line)
    return names
