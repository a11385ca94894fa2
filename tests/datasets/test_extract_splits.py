"""Safe extraction and the restricted split unpickler."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import pytest

from datasets_io.extract import ArchiveFormatError, UnsafeArchiveError, extract_archive, pending_extraction
from datasets_io.splits import SplitFileError, load_split_file, loads_split_dict, split_rows
from tests._helpers.builders import png, split_pickle, tar_with, tgz, zip_bytes


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _assert_clean(root: Path, allowed: set[str] = frozenset()) -> None:
    assert {p.name for p in root.iterdir()} <= set(allowed), list(root.iterdir())


def test_good_tar_and_zip_extract_into_place(tmp_path: Path) -> None:
    root = tmp_path / "root"
    folder = _member("A/inner", tarfile.DIRTYPE)
    f = tarfile.TarInfo("A/x.png")
    placed = extract_archive(_write(tmp_path, "a.tar", tar_with([f, folder], {"A/x.png": png(1)})), root)
    assert [p.name for p in placed] == ["A"] and (root / "A" / "x.png").read_bytes() == png(1)
    assert (root / "A" / "inner").is_dir()
    extract_archive(_write(tmp_path, "b.zip", zip_bytes({"B/y.png": png(2), "B/sub/": b""})), root)
    assert (root / "B" / "y.png").read_bytes() == png(2)
    # a second extraction replaces the folder as a whole
    extract_archive(_write(tmp_path, "a2.tgz", tgz({"A/z.png": png(3)})), root)
    assert sorted(p.name for p in (root / "A").iterdir()) == ["z.png"]
    _assert_clean(root, {"A", "B"})


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize(
    "members",
    [
        [_member("A/../../escape.png")],
        [_member("/abs/escape.png")],
        [_member("A/link", tarfile.SYMTYPE, "/etc/passwd")],
        [_member("A/link", tarfile.SYMTYPE, "../../outside")],
        [_member("A/link", tarfile.SYMTYPE, "ok.png")],  # links are refused even when they point inside
        [_member("A/hard", tarfile.LNKTYPE, "../outside")],
        [_member("A/dev", tarfile.CHRTYPE)],
        [_member("A/fifo", tarfile.FIFOTYPE)],
    ],
    ids=["dotdot", "absolute", "symlink-abs", "symlink-out", "symlink-in", "hardlink-out", "chardev", "fifo"],
)
def test_hostile_tar_refused_nothing_left(tmp_path: Path, members: list[tarfile.TarInfo]) -> None:
    root = tmp_path / "root"
    root.mkdir()
    good = _member("A/ok.png")
    archive = _write(tmp_path, "bad.tar", tar_with([good, *members], {"A/ok.png": png(1), members[0].name: b"x"}))
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, root)
    _assert_clean(root)
    assert not (tmp_path / "escape.png").exists()


@pytest.mark.parametrize(
    "files, links",
    [({"A/ok.png": b"1", "../escape.png": b"x"}, {}), ({"/abs.png": b"x"}, {}), ({"A/ok.png": b"1"}, {"A/l": "/etc"})],
    ids=["dotdot", "absolute", "symlink"],
)
def test_hostile_zip_refused_nothing_left(tmp_path: Path, files: dict, links: dict) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UnsafeArchiveError):
        extract_archive(_write(tmp_path, "bad.zip", zip_bytes(files, links)), root)
    _assert_clean(root)


def test_corrupt_archive_is_a_format_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(ArchiveFormatError):
        extract_archive(_write(tmp_path, "x.tgz", tgz({"A/a.png": png(1)})[:40]), root)
    _assert_clean(root)


def test_interrupted_extraction_is_reported(tmp_path: Path) -> None:
    from datasets_io.download import dataset_status
    from datasets_io.options import builtin_options

    root = tmp_path / "data"
    spec = builtin_options(str(root))["csiq"]
    for d in (spec.dataroot_target, spec.dataroot_ref):
        os.makedirs(d)
    Path(spec.meta_info_file).parent.mkdir()
    Path(spec.meta_info_file).write_text("ref_name,dist_name,mos\n")
    assert dataset_status(spec, root).present
    (root / ".extracting-csiq.tgz").write_text("CSIQ\n")
    assert pending_extraction(root) == ["CSIQ"]
    status = dataset_status(spec, root)
    assert not status.present and "interrupted" in status.reason


# ---------------------------------------------------------------------------------------------------- splits
class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_plain_split_pickle_loads(tmp_path: Path) -> None:
    data = {1: {"train": [0, 2], "val": [], "test": [1, 3]}, "official": {"test": [0]}}
    p = _write(tmp_path, "s.pkl", split_pickle(data))
    assert load_split_file(p) == data
    assert split_rows(p, None, "test", 4) == [1, 3]
    with pytest.raises(SplitFileError, match="beyond"):
        split_rows(p, 1, "test", 3)
    with pytest.raises(SplitFileError, match="no split 2"):
        split_rows(p, 2, "test", 4)


def test_malicious_split_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for protocol in (0, 2, 4, 5):
        payload = pickle.dumps({1: {"test": _Evil(marker)}}, protocol=protocol)
        with pytest.raises(SplitFileError, match="refusing to load global"):
            loads_split_dict(payload)
    assert not marker.exists()


@pytest.mark.parametrize(
    "obj",
    [[0, 1], {1: [0, 1]}, {1: {"test": [0, -1]}}, {1: {"test": [0.5]}}, {1: {"test": {0, 1}}}, {(1,): {"test": [0]}}],
)
def test_wrongly_shaped_split_pickle_is_refused(obj: object) -> None:
    with pytest.raises(SplitFileError):
        loads_split_dict(pickle.dumps(obj))


def test_numpy_in_split_pickle_is_refused() -> None:
    import numpy as np

    with pytest.raises(SplitFileError, match="refusing"):
        loads_split_dict(pickle.dumps({1: {"test": np.arange(3)}}))
    with pytest.raises(SplitFileError):
        loads_split_dict(io.BytesIO(b"garbage").getvalue())
