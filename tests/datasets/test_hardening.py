"""Issue #16 (hardening), the dataset part: each test builds the attack, asserts the one-line refusal (or the
correct outcome) and that nothing outside the intended folder changed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets_io.decode import ImageDecodeError, decode_bytes, decode_image, im2uint8
from datasets_io.download import LOCK_FILE, DownloadError, ensure_downloaded
from datasets_io.extract import (
    GIB,
    ArchiveFormatError,
    ArchiveLayout,
    ExtractLimits,
    ForeignEntryError,
    UnsafeArchiveError,
    extract_archive,
)
from datasets_io.meta import MAX_META_INFO_BYTES, MetaInfoError, rows_for
from datasets_io.options import MAX_OPTION_FILE_BYTES, builtin_options, load_options_file
from datasets_io.spec import DatasetOptionError
from datasets_io.splits import (
    MAX_SPLIT_FILE_BYTES,
    SplitFileError,
    load_split_file,
    max_file_bytes,
    split_rows,
)
from tests._helpers.builders import (
    DATASETS_REPO,
    png,
    split_pickle,
    symlink_chain_escape_tar,
    tar_with,
    tgz,
    zip_bomb,
)

MIB = 1 << 20
#: What a download of csiq may change under the data root besides its image folder.
CSIQ_OWN = (".downloads", ".iqabench-download.lock", LOCK_FILE, "meta_info/meta_info_CSIQDataset.csv",
            *(f"meta_info/.cache/huggingface/download/meta_info_CSIQDataset.csv.{s}" for s in ("lock", "metadata")))


# ------------------------------------------------------------------------------------------------- helpers
def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder`` (links not followed): kind, and a file's size, mtime and digest (of its
    contents up to 16 MiB: the sparse stand-ins for huge files are compared by size and mtime) or a link's target."""
    tree: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, folder)
            if os.path.islink(full):
                tree[rel] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                tree[rel] = ("dir",)
            else:
                info = os.stat(full)
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read(16 * MIB)).hexdigest()
                tree[rel] = ("file", info.st_size, info.st_mtime_ns, digest)
    return tree


def outside(tree: dict[str, tuple], *intended: str) -> dict[str, tuple]:
    """``tree`` without the entries at or under the ``intended`` relative paths."""
    return {k: v for k, v in tree.items() if not any(k == i or k.startswith(i + os.sep) for i in intended)}


def one_line(exc: pytest.ExceptionInfo, *needles: str) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _sparse(path: Path, size: int) -> Path:
    """A file that reports ``size`` bytes without writing them (a hole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)
    return path


# ----------------------------------------------------------------------------- 1. symlink-chain archive escape
def test_symlink_chain_escape_tar_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """CVE-2025-4517 pattern: with tarfile's data filter alone (Python 3.11.7) this overwrote victim/keep.txt."""
    root = tmp_path / "data"
    _write(tmp_path / "victim" / "keep.txt", b"original")
    archive = _write(tmp_path / "evil.tar", symlink_chain_escape_tar("victim", "keep.txt", b"owned", levels_up=2))
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError) as exc:
        extract_archive(archive, root)
    one_line(exc, "evil.tar", "is a symbolic link", "outside")
    assert snapshot(tmp_path) == {**before, "data": ("dir",)}  # only the (empty) root itself was made
    assert list(root.iterdir()) == []
    assert (tmp_path / "victim" / "keep.txt").read_bytes() == b"original"


def test_symlink_chain_escape_from_the_hub_is_refused(hub, tmp_path: Path) -> None:
    root = tmp_path / "data"
    _write(tmp_path / "victim" / "keep.txt", b"original")
    evil = symlink_chain_escape_tar("victim", "keep.txt", b"owned", levels_up=3, prefix="CSIQ/")
    hub.add(DATASETS_REPO, "csiq.tgz", evil)
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError) as exc:
        ensure_downloaded("csiq", root, progress=False)
    one_line(exc, "csiq.tgz", "CSIQ/a", "symbolic link")
    assert isinstance(exc.value, DownloadError)  # what `bench --download` reports as one line per dataset
    assert outside(snapshot(tmp_path), "data") == outside(before, "data")
    assert not (root / "CSIQ").exists() and not list(root.glob(".extract-*"))


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_links_are_refused_in_tar_even_pointing_inside(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "root"
    link = tarfile.TarInfo("A/link.png")
    link.type, link.linkname = (tarfile.LNKTYPE, "A/ok.png") if kind == "hardlink" else (tarfile.SYMTYPE, "ok.png")
    ok = tarfile.TarInfo("A/ok.png")
    archive = _write(tmp_path / "a.tar", tar_with([ok, link], {"A/ok.png": b"1"}))
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError) as exc:
        extract_archive(archive, root)
    one_line(exc, "'A/link.png'", "link")
    assert snapshot(tmp_path) == {**before, "root": ("dir",)}


# -------------------------------------------------------------------------- 2. archives replacing other data
@pytest.mark.parametrize(
    "entry, data",
    [
        ("meta_info/meta_info_KonIQ10kDataset.csv", b"image_name,mos\nk0.png,1\n"),
        ("koniq10k/512x384/k0.png", png(1)),
        (LOCK_FILE, b'{"version": 1, "files": {}}\n'),
    ],
    ids=["meta_info", "other-dataset", "lock-file"],
)
def test_archive_may_not_replace_other_data(hub, tmp_path: Path, entry: str, data: bytes) -> None:
    root = tmp_path / "data"
    ensure_downloaded("koniq10k", root, progress=False)
    lock_before = json.loads((root / LOCK_FILE).read_text())["files"]
    before = snapshot(tmp_path)
    hub.add(DATASETS_REPO, "csiq.tgz", tgz({"CSIQ/dst_imgs/ref0_d0.png": png(1), "CSIQ/src_imgs/ref0.png": png(2),
                                            entry: data}))
    with pytest.raises(DownloadError) as exc:
        ensure_downloaded("csiq", root, progress=False)
    one_line(exc, "csiq.tgz", repr(entry), "'csiq'", "expect")
    own = [os.path.join("data", *p.split("/")) for p in CSIQ_OWN]
    assert outside(snapshot(tmp_path), *own) == outside(before, *own)
    assert not (root / "CSIQ").exists()
    lock_after = json.loads((root / LOCK_FILE).read_text())["files"]
    assert {k: lock_after[k] for k in lock_before} == lock_before  # the lock still holds KonIQ's checksums


def test_archive_creates_only_its_own_meta_info_file(tmp_path: Path) -> None:
    """Its own meta-info file is created file by file (the meta_info folder is never replaced)."""
    root = tmp_path / "root"
    _write(root / "meta_info" / "other.csv", b"other dataset\n")
    layout = ArchiveLayout("mine", frozenset({"Mine"}), frozenset({"meta_info/mine.csv"}))
    archive = _write(tmp_path / "a.tgz", tgz({"Mine/x.png": png(1), "meta_info/mine.csv": b"a,b\n"}))
    before = snapshot(root)
    placed = extract_archive(archive, root, layout=layout)
    assert sorted(p.relative_to(root).as_posix() for p in placed) == ["Mine", "meta_info/mine.csv"]
    after = snapshot(root)
    assert outside(after, "Mine", os.path.join("meta_info", "mine.csv")) == before
    assert (root / "meta_info" / "mine.csv").read_bytes() == b"a,b\n"
    with pytest.raises(ForeignEntryError) as exc:  # any other file under meta_info/ is refused
        extract_archive(_write(tmp_path / "b.tgz", tgz({"meta_info/other.csv": b"x"})), root, layout=layout)
    one_line(exc, "'meta_info/other.csv'", "'mine'")
    assert snapshot(root) == after


# ---------------------------------------------------------------------------- 3. bombs and leftover staging
def test_zip_bomb_is_refused_by_its_declared_ratio_before_writing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    archive = _write(tmp_path / "bomb.zip", zip_bomb("A/zeros.png", 64 * MIB))  # ~64 KB on disk
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError) as exc:
        extract_archive(archive, root)  # default limits: ratio 200
    one_line(exc, "bomb.zip", "'A/zeros.png'", "ratio")
    with pytest.raises(UnsafeArchiveError) as exc:  # a high ratio allowed, but a small size limit
        extract_archive(archive, root, limits=ExtractLimits(max_total_bytes=8 * MIB, max_ratio=1e6))
    one_line(exc, "bomb.zip", "extracts to more than")
    assert snapshot(tmp_path) == {**before, "root": ("dir",)}


def _zip_declaring(size: int, real: int) -> bytes:
    """A zip of one deflated member of ``real`` zero bytes whose central directory declares ``size`` bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("A/zeros.png", bytes(real))
    data = bytearray(buffer.getvalue())
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", size)  # uncompressed size
    return bytes(data)


@pytest.mark.parametrize(
    "declared, limits, error, needle",
    [
        (0xFFFF_FFFE, None, UnsafeArchiveError, "declares 4294967294 bytes"),  # 4 GiB from a few KB: ratio
        (0xFFFF_FFFE, ExtractLimits(max_total_bytes=GIB, max_ratio=1e9), UnsafeArchiveError, "extracts to more than"),
        (1000, None, ArchiveFormatError, "not a readable zip archive"),  # the data is more than declared
    ],
    ids=["ratio", "size", "liar"],
)
def test_zip_headers_are_checked_and_not_trusted_alone(tmp_path: Path, declared, limits, error, needle) -> None:
    root = tmp_path / "root"
    archive = _write(tmp_path / "bomb.zip", _zip_declaring(declared, real=4 * MIB))
    before = snapshot(tmp_path)
    with pytest.raises(error) as exc:
        extract_archive(archive, root, limits=limits)
    one_line(exc, "bomb.zip", needle)
    assert snapshot(tmp_path) == {**before, "root": ("dir",)}


def test_tar_bomb_header_is_counted_while_streaming(tmp_path: Path) -> None:
    """A pax header of 8 MiB (tarfile would read it whole) is cut off at the decompressed-stream cap."""
    root = tmp_path / "root"
    pax = tarfile.TarInfo("A/pax")
    pax.type = tarfile.XHDTYPE
    archive = _write(tmp_path / "bomb.tgz", tgz_of_tar(tar_with([pax], {"A/pax": b"9" * (8 * MIB)})))
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError) as exc:
        extract_archive(archive, root, limits=ExtractLimits(max_total_bytes=MIB, max_members=16))
    one_line(exc, "bomb.tgz", "decompresses to more than")
    assert snapshot(tmp_path) == {**before, "root": ("dir",)}


def tgz_of_tar(tar: bytes) -> bytes:
    import gzip

    return gzip.compress(tar)


def test_member_count_and_free_space_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    many = _write(tmp_path / "many.tgz", tgz({f"A/{i}.png": b"x" for i in range(40)}))
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError) as exc:
        extract_archive(many, root, limits=ExtractLimits(max_members=10))
    one_line(exc, "many.tgz", "more than 10 members")

    import datasets_io.extract as extract

    monkeypatch.setattr(extract.shutil, "disk_usage", lambda path: _Usage(free=3))
    with pytest.raises(UnsafeArchiveError) as exc:
        extract_archive(many, root)
    one_line(exc, "many.tgz", "needs 40 bytes but only 3 are free")
    assert snapshot(tmp_path) == {**before, "root": ("dir",)}


class _Usage:
    def __init__(self, free: int) -> None:
        self.total, self.used, self.free = free, 0, free


def test_download_flags_bound_the_extraction(hub, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from jobs.datasets import main

    root = tmp_path / "data"
    code = main(["download", "csiq", "--root", str(root), "--no-progress", "--max-extract-gb", "0.000001"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("iqabench datasets: error: ") and "csiq.tgz: extracts to more than 1073 bytes" in err
    assert {p.name for p in root.iterdir()} <= {".downloads", ".iqabench-download.lock", LOCK_FILE, "meta_info"}
    assert main(["download", "csiq", "--root", str(root), "--no-progress", "--max-members", "50",
                 "--max-ratio", "1000"]) == 0
    with pytest.raises(SystemExit):
        main(["download", "csiq", "--root", str(root), "--max-members", "0"])
    assert "must be positive" in capsys.readouterr().err


def test_leftover_staging_from_a_killed_extraction_is_removed(hub, tmp_path: Path) -> None:
    root = tmp_path / "data"
    _write(root / ".extract-k1ll3d" / "CSIQ" / "dst_imgs" / "half.png", b"half written")
    _write(root / ".replaced-k1ll3d" / "CSIQ" / "old.png", b"old copy")
    _write(root / "mine" / "keep.txt", b"not the download's")
    before = snapshot(tmp_path)
    ensure_downloaded("csiq", root, progress=False)
    assert not list(root.glob(".extract-*")) and not list(root.glob(".replaced-*"))
    own = [os.path.join("data", *p.split("/")) for p in (*CSIQ_OWN, "CSIQ", "meta_info")]
    leftovers = [os.path.join("data", p) for p in (".extract-k1ll3d", ".replaced-k1ll3d")]
    assert outside(snapshot(tmp_path), *own) == outside(before, *own, *leftovers)
    assert (root / "CSIQ" / "dst_imgs" / "ref0_d0.png").is_file()


# ---------------------------------------------------------------------------------------------- 6. split pickles
def _deep_list(depth: int) -> bytes:
    """A protocol-2 pickle of a list nested ``depth`` deep (pickle.dumps itself would recurse too deeply)."""
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def _memo_nested(depth: int) -> bytes:
    """{1: {'test': [[[...]]]}} nested ``depth`` deep through the memo, with a short unpickling stack."""
    parts = [b"\x80\x02}q\x00K\x01}q\x01X\x04\x00\x00\x00testq\x02]q\x03"]
    for k in range(3, 3 + depth):
        parts.append(b"j" + struct.pack("<I", k) + b"]r" + struct.pack("<I", k + 1) + b"a0")
    return b"".join(parts) + b"ss."


@pytest.mark.parametrize(
    "data, rows, needle",
    [
        (split_pickle({1: {"test": [5] * 1_000_000}}), 10, "exceeds the limit"),  # repeated indices: too large
        (split_pickle({1: {"test": [5] * 1_000_000}}), 5000, "more than 385536 pickle opcodes"),
        (split_pickle({1: {"test": [5] * 60_000}}), 50_000, "lists 60000 rows, the meta-info has 50000"),
        (split_pickle({i: {"test": list(range(100))} for i in range(40)}), 100, "row indices per meta-info row"),
        (_deep_list(200_000), 10_000, "nested too deep"),
        (_memo_nested(50_000), None, "got a list"),
        (b"(" * 40 + b".", None, "nested more than 32 deep"),
        (split_pickle({1: {"test": [1 << (8 * 1_000_000)]}}), None, "an integer of 8000001 bits"),
        (b"(dp0\nI1\n(dp1\nVtest\np2\n(lp3\nI" + b"9" * 100_000 + b"\na" + b"ss.", None, "not a plain-data"),
        (split_pickle({1: {"test": [0, 10]}}), 10, "row 10 is beyond the meta-info's 10 rows"),
        (split_pickle({1: {"test": [0, -1]}}), 10, "non-negative integers, got -1"),
        (b"\x80\x02]r\xff\xff\xff\x7f.", None, "memo index"),
    ],
    ids=["repeated-size", "repeated-opcodes", "repeated-phase", "shared-lists", "deep-stack", "deep-memo",
         "deep-marks", "huge-int", "huge-int-text", "index-range", "negative", "memo-index"],
)
def test_hostile_split_pickles_get_one_line_naming_the_file(tmp_path: Path, data: bytes, rows, needle: str) -> None:
    path = _write(tmp_path / "split.pkl", data)
    before = snapshot(tmp_path)
    with pytest.raises(SplitFileError) as exc:
        load_split_file(path, rows)
    message = one_line(exc, str(path), needle)
    assert len(message) < 400
    assert snapshot(tmp_path) == before


def test_oversized_split_file_is_refused_unread(tmp_path: Path) -> None:
    path = _sparse(tmp_path / "huge.pkl", MAX_SPLIT_FILE_BYTES + 1)
    with pytest.raises(SplitFileError) as exc:
        load_split_file(path)
    one_line(exc, str(path), f"of {MAX_SPLIT_FILE_BYTES + 1} bytes exceeds the limit")
    assert max_file_bytes(10) < max_file_bytes(10_000) <= MAX_SPLIT_FILE_BYTES


def test_plain_split_pickles_of_every_protocol_still_load(tmp_path: Path) -> None:
    splits = {i: {"train": list(range(0, 800)), "val": list(range(800, 900)), "test": list(range(900, 1000))}
              for i in range(1, 11)}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        path = _write(tmp_path / f"p{protocol}.pkl", pickle.dumps(splits, protocol=protocol))
        assert load_split_file(path, 1000) == splits
        assert split_rows(path, 3, "test", 1000) == list(range(900, 1000))


def test_meta_info_split_out_of_range_fails_for_all_rows_too(tmp_path: Path) -> None:
    """``verify`` (all rows) no longer skips indices beyond the meta-info silently."""
    from datasets_io.spec import DatasetSpec

    meta = _write(tmp_path / "meta.csv", b"image,mos\na.png,1\nb.png,2\n")
    split = _write(tmp_path / "split.pkl", split_pickle({1: {"train": [0], "test": [1, 2]}}))
    spec = DatasetSpec(key="t", name="t", type="GeneralNRDataset", dataroot_target=str(tmp_path),
                       meta_info_file=str(meta), split_file=str(split), split_index=1)
    with pytest.raises(MetaInfoError) as exc:
        rows_for(spec, all_rows=True)
    one_line(exc, "dataset 't'", str(split), "row 2 is beyond the meta-info's 2 rows")


# -------------------------------------------------------------------------------------- 7. 16-bit images
def _encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_16_bit_png_decodes_like_its_8_bit_original() -> None:
    v8 = np.random.default_rng(7).integers(0, 256, (19, 23), dtype=np.uint8)
    v16 = v8.astype(np.uint16) * 257
    eight = decode_bytes(_encoded(Image.fromarray(v8)))
    for fmt in ("PNG", "TIFF"):
        decoded = decode_image(_encoded(Image.fromarray(v16), fmt), f"x.{fmt}")
        assert decoded.source_bits == 16 and decoded.pixels.dtype == np.uint8
        assert np.array_equal(decoded.pixels, eight) and np.array_equal(decoded.pixels[..., 1], v8)
    as_int32 = Image.fromarray(v16.astype(np.int32))  # mode "I"
    assert as_int32.mode == "I" and np.array_equal(decode_bytes(_encoded(as_int32, "TIFF")), eight)
    assert decode_image(_encoded(Image.fromarray(v8))).source_bits == 8


def test_im2uint8_rounds_like_matlab() -> None:
    v = np.arange(65536, dtype=np.uint32)
    assert np.array_equal(im2uint8(v), np.round(v * 255 / 65535).astype(np.uint8))


def test_32_bit_values_beyond_16_bits_are_refused() -> None:
    image = Image.fromarray(np.full((4, 4), 70_000, dtype=np.int32))
    with pytest.raises(ImageDecodeError) as exc:
        decode_bytes(_encoded(image, "TIFF"), "wide.tif")
    one_line(exc, "wide.tif", "outside 0..65535")


def test_verify_reports_16_bit_images(hub, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from jobs.datasets import main

    root = tmp_path / "data"
    ensure_downloaded("csiq", root, progress=False)
    target = root / "CSIQ" / "dst_imgs" / "ref0_d0.png"
    v8 = np.asarray(Image.open(target).convert("L"))
    target.write_bytes(_encoded(Image.fromarray(v8.astype(np.uint16) * 257)))
    before = snapshot(tmp_path)
    assert main(["verify", "csiq", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "csiq: ok: 6 meta-info rows, 8 distinct images, all exist and decode; 1 16-bit image(s) scaled" in out
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------- 11. meta-info and option sizes
def test_oversized_meta_info_csv_is_refused_before_parsing(tmp_path: Path) -> None:
    spec = builtin_options(str(tmp_path / "data"))["csiq"]
    meta = _sparse(Path(spec.meta_info_file), MAX_META_INFO_BYTES + 1)
    before = snapshot(tmp_path)
    with pytest.raises(MetaInfoError) as exc:
        rows_for(spec)
    one_line(exc, str(meta), f"meta-info file of {MAX_META_INFO_BYTES + 1} bytes exceeds the limit", "256 MiB")
    assert snapshot(tmp_path) == before


def test_oversized_option_yaml_is_refused_before_parsing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from jobs.datasets import main

    opt = _sparse(tmp_path / "opt.yml", MAX_OPTION_FILE_BYTES + 1)
    before = snapshot(tmp_path)
    with pytest.raises(DatasetOptionError) as exc:
        load_options_file(opt)
    one_line(exc, str(opt), "exceeds the limit", "16 MiB")
    assert main(["list", "--data_opt", str(opt), "--root", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"iqabench datasets: error: {opt}: dataset option file of") and "Traceback" not in err
    assert snapshot(tmp_path) == before
    small = _write(tmp_path / "small.yml", b"x" * 100)
    with pytest.raises(DatasetOptionError) as exc:  # the bound is a parameter
        load_options_file(small, max_bytes=50)
    one_line(exc, str(small), "100 bytes exceeds the limit of 50 bytes")
