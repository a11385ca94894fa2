"""``iqabench datasets {list,download,verify}``: what is on disk, fetch from the hub, check every image.

- ``list``: every dataset key with present/missing, image files and size on disk, and where it lives.
- ``download NAME... [--root DIR]``: meta-info and archive from the hub (see :mod:`datasets_io.download`).
- ``verify NAME... [--root DIR]``: every image named in the meta-info (all rows, every split) exists and
  decodes with :func:`datasets_io.decode.read_image`; prints the counts.

Failures exit non-zero with a one-line ``iqabench datasets: error: ...`` message (details, such as the list of
missing images, follow on the next lines), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jobs.entry import standalone

HELP = "list, download and verify benchmark datasets"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", "--data_root", dest="root", type=Path,
                        help="data root replacing ./datasets/ (default: $IQABENCH_DATA_ROOT, else ./datasets)")
    parser.add_argument("--data_opt", type=Path, help="pyiqa dataset option YAML overriding the built-in entries")
    parser.add_argument("--format", dest="fmt", choices=("current", "2024"), default="current",
                        help="built-in option file: pyiqa's current one (split columns) or the 2024 one (pickles)")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="each dataset: present or missing, image files, size on disk, where")
    _common(p)
    p = sub.add_parser("download", help="download datasets (meta-info and images) from the Hugging Face hub")
    p.add_argument("names", nargs="+", metavar="NAME")
    _common(p)
    p.add_argument("--repo", help="dataset repo with the archives (default: $IQABENCH_DATASETS_REPO or "
                                  "chaofengc/IQA-Toolbox-Datasets)")
    p.add_argument("--meta-repo", dest="meta_repo", help="dataset repo with the meta-info files (default: "
                                                          "$IQABENCH_METAINFO_REPO or chaofengc/IQA-Toolbox-Datasets-metainfo)")
    p.add_argument("--revision", help="hub revision (branch, tag or commit; default: main)")
    p.add_argument("--force", action="store_true", help="download and extract again even if present")
    p.add_argument("--keep-archive", dest="keep_archive", action="store_true", help="keep the archive after extraction")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no extraction progress bar")
    p = sub.add_parser("verify", help="check that every image in the meta-info exists and decodes")
    p.add_argument("names", nargs="+", metavar="NAME")
    _common(p)
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="decoding threads")


class _Failure(Exception):
    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _root(args: argparse.Namespace) -> Path:
    from datasets_io.download import default_root

    return args.root if args.root is not None else default_root()


def _spec(args: argparse.Namespace, key: str):
    from datasets_io.catalog import resolve_dataset

    return resolve_dataset(key, data_opt=args.data_opt, data_root=str(_root(args)), fmt=args.fmt)


def _list(args: argparse.Namespace) -> int:
    from datasets_io.download import dataset_status, directory_usage
    from datasets_io.options import dataset_options

    root = _root(args)
    specs = dataset_options(args.data_opt, str(root), args.fmt)
    print(f"data root: {root}")
    print(f"{'dataset':<14} {'status':<8} {'images':>8} {'size':>10}  where")
    for key in sorted(specs):
        spec = specs[key]
        status = dataset_status(spec, root)
        count, size = directory_usage(spec.dataroot_target, spec.dataroot_ref)
        state = "present" if status.present else "missing"
        where = spec.dataroot_target + (f" (+ {spec.dataroot_ref})" if spec.dataroot_ref else "")
        note = "" if status.present else f"  [{status.reason}]"
        print(f"{key:<14} {state:<8} {count:>8} {_human(size):>10}  {where}{note}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from datasets_io.download import HubSource, directory_usage, download_dataset

    root = _root(args)
    source = HubSource(datasets_repo=args.repo, metainfo_repo=args.meta_repo, revision=args.revision)
    for key in args.names:
        spec = _spec(args, key)
        if key == "demo":
            print("demo: generated locally, nothing to download")
            continue
        download_dataset(spec, root, source=source, force=args.force, keep_archive=args.keep_archive,
                         progress=args.progress)
        count, size = directory_usage(spec.dataroot_target, spec.dataroot_ref)
        print(f"{key}: present, {count} files, {_human(size)} in {spec.dataroot_target}")
    return 0


def _verify_one(args: argparse.Namespace, key: str) -> None:
    from datasets_io.decode import ImageDecodeError, read_image
    from datasets_io.download import dataset_status, missing_message
    from datasets_io.meta import rows_for

    spec = _spec(args, key)
    status = dataset_status(spec, _root(args))
    if not status.present:
        raise _Failure(missing_message(key, status.reason))
    rows = rows_for(spec, all_rows=True)
    target = Path(spec.dataroot_target)
    ref_root = Path(spec.dataroot_ref) if spec.dataroot_ref else target
    paths: set[str] = {str(target / n) for n in rows["dist_name"]}
    paths |= {str(ref_root / n) for n in rows["ref_name"] if isinstance(n, str)}
    if "dist_b_name" in rows:
        paths |= {str(target / n) for n in rows["dist_b_name"]}
    ordered = sorted(paths)
    missing = [p for p in ordered if not os.path.isfile(p)]
    if missing:
        raise _Failure(
            f"{key}: {len(missing)} of {len(ordered)} image(s) named in {spec.meta_info_file} are missing",
            missing[:50] + ([f"... and {len(missing) - 50} more"] if len(missing) > 50 else []),
        )

    def decode(path: str) -> str | None:
        try:
            read_image(path)
        except ImageDecodeError as exc:
            return str(exc)
        return None

    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        errors = [e for e in pool.map(decode, ordered) if e is not None]
    if errors:
        raise _Failure(f"{key}: {len(errors)} of {len(ordered)} image(s) do not decode", errors[:50])
    decoded = len(ordered) - len(errors)
    if decoded != len(paths):
        raise _Failure(f"{key}: decoded {decoded} images, the meta-info names {len(paths)}")
    print(f"{key}: ok: {len(rows)} meta-info rows, {len(ordered)} distinct images, all exist and decode")


def _verify(args: argparse.Namespace) -> int:
    for key in args.names:
        _verify_one(args, key)
    return 0


def run(args: argparse.Namespace) -> int:
    from datasets_io.catalog import UnknownDatasetError
    from datasets_io.decode import ImageDecodeError
    from datasets_io.download import DownloadError, MissingDatasetError
    from datasets_io.extract import ArchiveFormatError, UnsafeArchiveError
    from datasets_io.meta import MetaInfoError
    from datasets_io.spec import DatasetOptionError
    from datasets_io.splits import SplitFileError

    handled = (
        _Failure, UnknownDatasetError, DownloadError, MissingDatasetError, ArchiveFormatError, UnsafeArchiveError,
        MetaInfoError, DatasetOptionError, SplitFileError, ImageDecodeError, OSError,
    )  # fmt: skip
    actions = {"list": _list, "download": _download, "verify": _verify}
    try:
        return actions[args.action](args)
    except handled as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        details = getattr(exc, "details", []) or lines[1:]
        print(f"iqabench datasets: error: {lines[0]}", file=sys.stderr)
        for line in details:
            print(f"  {line.strip()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("iqabench datasets: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return standalone("python -m jobs.datasets", HELP, configure, run, argv)


if __name__ == "__main__":
    sys.exit(main())
