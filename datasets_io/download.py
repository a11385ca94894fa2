"""Dataset downloads from the Hugging Face hub: archives, meta-info, a sha256 lock, safe atomic extraction.

Archives come from the dataset repo ``chaofengc/IQA-Toolbox-Datasets`` and meta-info files (CSVs and, for the
2024 option format, split pickles) from ``chaofengc/IQA-Toolbox-Datasets-metainfo``; both repo ids can be
changed (arguments, or ``$IQABENCH_DATASETS_REPO`` / ``$IQABENCH_METAINFO_REPO``), and ``$HF_ENDPOINT`` is read
at call time. Files are fetched with ``huggingface_hub.hf_hub_download`` (progress bar, resumable partial
downloads kept under ``<root>/.downloads``). With ``$HF_HUB_OFFLINE`` set nothing is fetched: a dataset that is
not already present is a :class:`MissingDatasetError`.

Layout: archives extract into the data root exactly as pyiqa's ``./datasets/`` (for example ``csiq.tgz`` →
``<root>/CSIQ/...``), meta-info files go where the option entry's ``meta_info_file``/``split_file`` point
(``<root>/meta_info/...``). The sha256 of every downloaded file is recorded in ``<root>/iqabench-datasets.lock
.json`` the first time and checked on every later download. Archives are extracted by
:mod:`datasets_io.extract` (refusing links and other unsafe members, bounded by :class:`ExtractLimits`) into a
staging folder and renamed into place; an archive may create only its own dataset's image folders and meta-info
files (:func:`archive_layout`), never ``meta_info/`` as a whole, another dataset's folder or the lock file.
Staging folders left by a killed download are removed when the next download into the root starts.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from datasets_io.catalog import resolve_dataset
from datasets_io.errors import DownloadError
from datasets_io.extract import (
    ArchiveLayout,
    ExtractLimits,
    extract_archive,
    pending_extraction,
    remove_stale_staging,
)
from datasets_io.hashcache import file_sha256
from datasets_io.options import DEFAULT_PREFIX, effective_data_root
from datasets_io.spec import DatasetSpec

DEFAULT_DATASETS_REPO = "chaofengc/IQA-Toolbox-Datasets"
DEFAULT_METAINFO_REPO = "chaofengc/IQA-Toolbox-Datasets-metainfo"
DATASETS_REPO_ENV = "IQABENCH_DATASETS_REPO"
METAINFO_REPO_ENV = "IQABENCH_METAINFO_REPO"
LOCK_FILE = "iqabench-datasets.lock.json"
DOWNLOADS_DIR = ".downloads"

#: dataset key → archive in the dataset repo (the three KonIQ entries share one archive).
ARCHIVES: dict[str, str] = {
    "csiq": "csiq.tgz",
    "tid2008": "tid2008.tgz",
    "tid2013": "tid2013.tgz",
    "live": "live.tgz",
    "livem": "livem.tgz",
    "livec": "live_challenge.tgz",
    "koniq10k": "koniq10k.tgz",
    "koniq10k-1024": "koniq10k.tgz",
    "koniq10k++": "koniq10k.tgz",
    "kadid10k": "kadid10k.tgz",
    "spaq": "spaq.tgz",
    "ava": "ava.tgz",
    "pipal": "pipal.tar",
    "flive": "flive.tgz",
    "pieapp": "pieapp.tgz",
    "bapps": "bapps.tgz",
    "gfiqa": "gfiqa-20k.tgz",
    "cgfiqa": "CGFIQA.zip",
}


class ChecksumMismatchError(DownloadError):
    """A downloaded file whose sha256 differs from the one recorded in the lock file."""


class MissingDatasetError(FileNotFoundError):
    """A dataset that is not on disk (and was not to be downloaded); the message says how to get it."""


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def default_root() -> Path:
    """The data root when none is given: ``$IQABENCH_DATA_ROOT``, else ``./datasets`` (pyiqa's layout)."""
    return Path(effective_data_root(None) or DEFAULT_PREFIX)


@dataclass(frozen=True)
class HubSource:
    """Where files come from; None fields fall back to the environment, then the defaults."""

    datasets_repo: str | None = None
    metainfo_repo: str | None = None
    revision: str | None = None
    endpoint: str | None = None

    def datasets(self) -> str:
        return self.datasets_repo or os.environ.get(DATASETS_REPO_ENV) or DEFAULT_DATASETS_REPO

    def metainfo(self) -> str:
        return self.metainfo_repo or os.environ.get(METAINFO_REPO_ENV) or DEFAULT_METAINFO_REPO

    def endpoint_url(self) -> str | None:
        return self.endpoint or os.environ.get("HF_ENDPOINT") or None


@dataclass(frozen=True)
class DatasetStatus:
    key: str
    present: bool
    #: Why it is not present (empty when present).
    reason: str
    spec: DatasetSpec


# ----------------------------------------------------------------------------------------------------- lock file
class LockFile:
    """``<root>/iqabench-datasets.lock.json``: {"files": {"archives/csiq.tgz": {"sha256", "size", "repo", ...}}}."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_FILE

    def read(self) -> dict[str, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DownloadError(f"{self.path}: damaged lock file ({exc}); fix or delete it") from exc
        files = document.get("files") if isinstance(document, dict) else None
        if not isinstance(files, dict):
            raise DownloadError(f"{self.path}: damaged lock file (no 'files' mapping); fix or delete it")
        return files

    def check_or_record(self, entry: str, path: Path, repo: str) -> str:
        """Verify ``path`` against the lock (recording it the first time); return its sha256."""
        sha = file_sha256(path)
        files = self.read()
        known = files.get(entry)
        if known is not None:
            if known.get("sha256") != sha:
                raise ChecksumMismatchError(
                    f"{entry}: sha256 {sha} does not match {known.get('sha256')} recorded in {self.path}; the "
                    f"file changed upstream or was corrupted (delete the entry from the lock file to accept it)"
                )
            return sha
        files[entry] = {
            "sha256": sha,
            "size": path.stat().st_size,
            "repo": repo,
            "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"version": 1, "files": files}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
        return sha


# ------------------------------------------------------------------------------------------------------- status
def _under_root(root: Path, path: str) -> Path | None:
    """``path`` relative to ``root``, or None when it lies outside."""
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        return None


def _top_entry(root: Path, path: str) -> str | None:
    rel = _under_root(root, path)
    return rel.parts[0] if rel is not None and rel.parts else None


def archive_layout(spec: DatasetSpec, root: Path) -> ArchiveLayout:
    """What ``spec``'s archive may create under ``root``: its image folders' top-level entries (never the
    meta-info folder, the lock file, the downloads folder or a hidden entry) and its own meta-info files."""
    meta_files = [f for f in (spec.meta_info_file, spec.split_file) if f]
    reserved = {LOCK_FILE, DOWNLOADS_DIR} | {_top_entry(root, f) for f in meta_files}
    folders = {_top_entry(root, f) for f in (spec.dataroot_target, spec.dataroot_ref) if f}
    files = {rel.as_posix() for f in meta_files if (rel := _under_root(root, f)) is not None and rel.parts}
    return ArchiveLayout(
        owner=spec.key,
        folders=frozenset(n for n in folders - reserved if n is not None and not n.startswith(".")),
        files=frozenset(files),
    )


def dataset_status(spec: DatasetSpec, root: str | Path | None = None) -> DatasetStatus:
    """Whether ``spec``'s meta-info, split file and image folders are all on disk and not half-extracted."""
    root = Path(root) if root is not None else default_root()

    def missing(reason: str) -> DatasetStatus:
        return DatasetStatus(spec.key, False, reason, spec)

    if not Path(spec.meta_info_file).is_file():
        return missing(f"meta-info {spec.meta_info_file} not found")
    if spec.split_file and not Path(spec.split_file).is_file():
        return missing(f"split file {spec.split_file} not found")
    for folder in (spec.dataroot_target, spec.dataroot_ref):
        if folder and not Path(folder).is_dir():
            return missing(f"image folder {folder} not found")
    if root.is_dir():
        pending = set(pending_extraction(root))
        for folder in (spec.dataroot_target, spec.dataroot_ref):
            if folder and _top_entry(root, folder) in pending:
                return missing(f"an extraction into {folder} was interrupted")
    return DatasetStatus(spec.key, True, "", spec)


def missing_message(key: str, reason: str) -> str:
    return (
        f"dataset {key!r} is not available ({reason}); download it with `iqabench datasets download {key}` "
        f"or run the benchmark with `bench --download`"
    )


# ---------------------------------------------------------------------------------------------------- downloads
def _hub_download(repo: str, filename: str, local_dir: Path, source: HubSource) -> Path:
    from huggingface_hub import hf_hub_download
    import httpx2
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, OfflineModeIsEnabled

    try:
        path = hf_hub_download(
            repo_id=repo,
            filename=filename,
            repo_type="dataset",
            revision=source.revision,
            local_dir=local_dir,
            endpoint=source.endpoint_url(),
            local_files_only=offline(),
        )
    except (HfHubHTTPError, EntryNotFoundError, OfflineModeIsEnabled, httpx2.HTTPError, OSError) as exc:
        if isinstance(exc, EntryNotFoundError):
            first_line = "no such file in the repo"
        else:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = source.endpoint_url() or "the Hugging Face hub"
        raise DownloadError(f"cannot download {filename} from dataset repo {repo} at {where}: {first_line}") from exc
    return Path(path)


def _fetch_meta(spec: DatasetSpec, root: Path, lock: LockFile, source: HubSource) -> None:
    for path in (spec.meta_info_file, spec.split_file):
        if path is None or Path(path).is_file():
            continue
        target = Path(path)
        fetched = _hub_download(source.metainfo(), target.name, target.parent, source)
        if fetched.resolve() != target.resolve():
            raise DownloadError(f"meta-info {target.name} landed at {fetched}, expected {target}")
        try:
            lock.check_or_record(f"meta_info/{target.name}", target, source.metainfo())
        except ChecksumMismatchError:
            target.unlink()
            raise


def _fetch_archive(
    spec: DatasetSpec, root: Path, lock: LockFile, source: HubSource, keep: bool, progress: bool, limits: ExtractLimits
) -> None:
    archive = ARCHIVES.get(spec.key)
    if archive is None:
        raise DownloadError(
            f"dataset {spec.key!r} has no archive on the hub (downloadable: {', '.join(sorted(ARCHIVES))}); "
            f"place its images under {spec.dataroot_target} yourself"
        )
    downloads = root / DOWNLOADS_DIR
    path = _hub_download(source.datasets(), archive, downloads, source)
    try:
        lock.check_or_record(f"archives/{archive}", path, source.datasets())
    except ChecksumMismatchError:
        path.unlink()
        raise
    extract_archive(path, root, progress, limits=limits, layout=archive_layout(spec, root))
    if not keep:
        path.unlink()
    for folder in (spec.dataroot_target, spec.dataroot_ref):
        if folder and not Path(folder).is_dir():
            raise DownloadError(
                f"{archive} was extracted into {root} but the options of {spec.key!r} expect {folder}; check "
                f"the data root and the entry's paths"
            )


def download_dataset(
    spec: DatasetSpec,
    root: str | Path | None = None,
    *,
    source: HubSource | None = None,
    force: bool = False,
    keep_archive: bool = False,
    progress: bool = True,
    limits: ExtractLimits | None = None,
) -> DatasetStatus:
    """Fetch what ``spec`` lacks (meta-info, split file, images) into ``root``; verify; return the new status.

    ``limits`` bounds the extraction (default :class:`ExtractLimits`). Staging folders left in ``root`` by a
    killed download are removed first (under the root's download lock, so none of them can be in use).
    """
    root = Path(root) if root is not None else default_root()
    source = source or HubSource()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".iqabench-download.lock")):
        remove_stale_staging(root)
        lock = LockFile(root)
        status = dataset_status(spec, root)
        if status.present and not force:
            return status
        if offline():
            raise MissingDatasetError(missing_message(spec.key, f"{status.reason}; HF_HUB_OFFLINE is set"))
        _fetch_meta(spec, root, lock, source)
        images_there = all(Path(f).is_dir() for f in (spec.dataroot_target, spec.dataroot_ref) if f)
        pending = {e for f in (spec.dataroot_target, spec.dataroot_ref) if f for e in [_top_entry(root, f)]}
        if force or not images_there or pending & set(pending_extraction(root)):
            _fetch_archive(spec, root, lock, source, keep_archive, progress, limits or ExtractLimits())
        status = dataset_status(spec, root)
        if not status.present:
            raise DownloadError(f"dataset {spec.key!r} still incomplete after download: {status.reason}")
        return status


def ensure_downloaded(
    key: str,
    root: str | Path | None = None,
    *,
    data_opt: str | Path | None = None,
    download: bool = True,
    source: HubSource | None = None,
    progress: bool = True,
    limits: ExtractLimits | None = None,
) -> DatasetSpec:
    """The spec of dataset ``key`` under ``root``, downloading it first if needed (``download=False``: raise).

    Raises :class:`MissingDatasetError` when the dataset is absent and ``download`` is false or the hub is
    offline, :class:`DownloadError` when fetching, verifying or extracting fails.
    """
    root_path = Path(root) if root is not None else default_root()
    spec = resolve_dataset(key, data_opt=data_opt, data_root=str(root_path))
    if key == "demo":
        return spec
    status = dataset_status(spec, root_path)
    if status.present:
        return spec
    if not download:
        raise MissingDatasetError(missing_message(key, status.reason))
    download_dataset(spec, root_path, source=source, progress=progress, limits=limits)
    return spec


def directory_usage(*folders: str | None) -> tuple[int, int]:
    """(file count, bytes) under the given folders, each file counted once."""
    seen: set[str] = set()
    count = size = 0
    for folder in folders:
        if not folder or not os.path.isdir(folder):
            continue
        for dirpath, _dirnames, filenames in os.walk(folder):
            for name in filenames:
                full = os.path.realpath(os.path.join(dirpath, name))
                if full in seen:
                    continue
                seen.add(full)
                try:
                    size += os.stat(full).st_size
                except OSError:
                    continue  # vanished or dangling: not part of the dataset on disk
                count += 1
    return count, size


__all__ = [
    "ARCHIVES", "DEFAULT_DATASETS_REPO", "DEFAULT_METAINFO_REPO", "ChecksumMismatchError", "DatasetStatus",
    "DownloadError", "HubSource", "LockFile", "MissingDatasetError", "dataset_status", "default_root",
    "directory_usage", "download_dataset", "ensure_downloaded", "missing_message", "offline", "ExtractLimits",
    "archive_layout",
]  # fmt: skip
