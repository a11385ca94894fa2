"""``iqabench datasets {list,download,verify}``: what is on disk, fetch from the hub, check every image.

- ``list``: every dataset key with present/missing, image files and size on disk, and where it lives.
- ``download NAME... [--root DIR] [--max-extract-gb G] [--max-members N] [--max-ratio R]``: meta-info and
  archive from the hub (see :mod:`datasets_io.download`); the flags bound the extraction
  (:class:`datasets_io.extract.ExtractLimits`).
- ``verify NAME... [--root DIR]``: every image named in the meta-info (all rows, every split) exists and
  decodes (:func:`datasets_io.verify.verify_dataset`); prints the counts, including how many images are
  16-bit (scaled to 8 bits).

Failures exit non-zero with a one-line ``iqabench datasets: error: ...`` message (details, such as the list of
missing images, follow on the next lines), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from jobs.entry import standalone

HELP = "list, download and verify benchmark datasets"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", "--data_root", dest="root", type=Path,
                        help="data root replacing ./datasets/ (default: $IQABENCH_DATA_ROOT, else ./datasets)")
    parser.add_argument("--data_opt", type=Path, help="pyiqa dataset option YAML overriding the built-in entries")
    parser.add_argument("--format", dest="fmt", choices=("current", "2024"), default="current",
                        help="built-in option file: pyiqa's current one (split columns) or the 2024 one (pickles)")


def _positive(kind: type) -> "Callable[[str], float]":
    """An argparse type: a positive ``kind`` (int or float)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be positive")
        return value

    return parse


def _limit_flags(parser: argparse.ArgumentParser) -> None:
    from datasets_io.extract import GIB, ExtractLimits

    defaults = ExtractLimits()
    parser.add_argument("--max-extract-gb", dest="max_extract_gb", type=_positive(float),
                        help=f"refuse archives that extract to more than this many GiB "
                             f"(default {defaults.max_total_bytes / GIB:g})")
    parser.add_argument("--max-members", dest="max_members", type=_positive(int),
                        help=f"refuse archives with more members (default {defaults.max_members})")
    parser.add_argument("--max-ratio", dest="max_ratio", type=_positive(float),
                        help=f"refuse archives (or zip members) that expand more than this many times "
                             f"(default {defaults.max_ratio:g})")


def _limits(args: argparse.Namespace):
    """The extraction limits from the download flags (defaults where a flag is not given)."""
    from datasets_io.extract import GIB, ExtractLimits

    given = {
        "max_total_bytes": int(args.max_extract_gb * GIB) if args.max_extract_gb is not None else None,
        "max_members": args.max_members,
        "max_ratio": args.max_ratio,
    }
    return ExtractLimits(**{k: v for k, v in given.items() if v is not None})


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
    _limit_flags(p)
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
                         progress=args.progress, limits=_limits(args))
        count, size = directory_usage(spec.dataroot_target, spec.dataroot_ref)
        print(f"{key}: present, {count} files, {_human(size)} in {spec.dataroot_target}")
    return 0


def _verify_one(args: argparse.Namespace, key: str) -> None:
    from datasets_io.verify import verify_dataset

    report = verify_dataset(_spec(args, key), _root(args), workers=args.workers)
    problem = report.problem()
    if problem is not None:
        raise _Failure(*problem)
    print(report.summary())


def _verify(args: argparse.Namespace) -> int:
    for key in args.names:
        _verify_one(args, key)
    return 0


def run(args: argparse.Namespace) -> int:
    from datasets_io.catalog import UnknownDatasetError
    from datasets_io.decode import ImageDecodeError
    from datasets_io.download import DownloadError, MissingDatasetError  # extraction errors are DownloadErrors
    from datasets_io.meta import MetaInfoError
    from datasets_io.spec import DatasetOptionError
    from datasets_io.splits import SplitFileError

    handled = (
        _Failure, UnknownDatasetError, DownloadError, MissingDatasetError, MetaInfoError, DatasetOptionError,
        SplitFileError, ImageDecodeError, OSError,
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
