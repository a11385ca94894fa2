"""Property-based: malformed option YAML, meta-info CSV and CLI arguments get a clear error naming the file and
field, never a traceback from deep inside."""

from __future__ import annotations

import io
import os
import pickle
import string
import tarfile
import zipfile

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasets_io.extract import ArchiveFormatError, UnsafeArchiveError, extract_archive
from datasets_io.meta import MetaInfoError, rows_for
from datasets_io.options import parse_options_text
from datasets_io.spec import DATASET_KINDS, DatasetOptionError, DatasetSpec
from datasets_io.splits import SplitFileError, loads_split_dict
from jobs.cli import main

FIELDS = ["name", "type", "dataroot_target", "dataroot_ref", "meta_info_file", "split_index", "split_file", "phase",
          "mos_range", "lower_better", "mos_normalize", "augment", "bogus_field"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
    st.text(string.printable, max_size=12),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
entries = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)
valid_core = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(DATASET_KINDS)), "dataroot_target": st.just("./datasets/x"),
     "meta_info_file": st.just("./datasets/meta.csv")}
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(string.ascii_lowercase, min_size=1, max_size=6), st.one_of(entries, values), max_size=3))
def test_option_yaml_errors_name_file_and_field(document):
    text = yaml.safe_dump(document)
    try:
        specs = parse_options_text(text, "opts.yml")
    except DatasetOptionError as exc:
        message = str(exc)
        assert message.startswith("opts.yml")
        if isinstance(document, dict) and any(isinstance(v, dict) for v in document.values()):
            assert "dataset" in message or "field" in message or "mapping" in message
        return
    for key, spec in specs.items():
        assert spec.key == key and spec.type in DATASET_KINDS


@settings(max_examples=100, deadline=None)
@given(valid_core, entries)
def test_option_entries_with_one_bad_field(core, extra):
    document = {"ds": {**extra, **core}}
    try:
        parse_options_text(yaml.safe_dump(document), "opts.yml")
    except DatasetOptionError as exc:
        assert "opts.yml" in str(exc) and "'ds'" in str(exc)


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_yaml_text_is_refused_cleanly(text):
    try:
        parse_options_text(text, "opts.yml")
    except DatasetOptionError as exc:
        assert str(exc).startswith("opts.yml")


cells = st.one_of(st.text(string.printable.replace("\n", "").replace("\r", ""), max_size=8),
                  st.floats(allow_nan=False, allow_infinity=False).map(str), st.integers().map(str))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cells, min_size=0, max_size=5), max_size=6), fr=st.booleans(),
       split=st.sampled_from([None, "official_split"]))
def test_meta_csv_errors_name_the_file(tmp_path_factory, rows, fr, split):
    folder = tmp_path_factory.mktemp("meta")
    path = folder / "meta.csv"
    header = ["ref_name", "dist_name", "mos"] if fr else ["dist_name", "mos"]
    lines = [",".join(header + (["official_split"] if split else []))] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    spec = DatasetSpec(key="t", name="t", type="GeneralFRDataset" if fr else "GeneralNRDataset",
                       dataroot_target=str(folder), meta_info_file=str(path), split_index=split, phase="test")
    try:
        table = rows_for(spec)
    except (MetaInfoError, DatasetOptionError) as exc:
        assert str(path) in str(exc) or "'t'" in str(exc)
        return
    assert {"dist_name", "ref_name", "mos"} <= set(table.columns)
    assert table["mos"].notna().all()


FLAGS = st.lists(
    st.one_of(
        st.sampled_from(["-m", "-d", "--batch_size", "--limit", "--num_workers", "--metric_opt", "--data_opt",
                         "--checkpoint_every", "--bogus"]),
        st.sampled_from(["psnr", "ssim", "demo", "nope", "0", "-3", "2", "x.yml", "", "--", "-"]),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(FLAGS)
def test_cli_arguments_never_traceback(tmp_path_factory, capsys, argv):
    out = tmp_path_factory.mktemp("cli")
    try:
        code = main(["bench", *argv, "--out", str(out), "--dry-run"])
    except SystemExit as exc:  # argparse: usage error, exit status 2
        assert exc.code == 2
        assert "error:" in capsys.readouterr().err
        return
    captured = capsys.readouterr()
    assert code in (0, 2)
    if code == 2:
        assert "iqabench bench: error:" in captured.err


SPLIT_SEED = pickle.dumps({1: {"train": [0, 1, 2], "val": [3], "test": [4, 5]}, "official": {"test": [5, 0]}},
                          protocol=4)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(6)), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
       st.integers(0, 200))
def test_damaged_split_pickles_are_refused_cleanly(protocol, edits, cut):
    """Any byte-level damage to a split pickle: a valid split dict or one SplitFileError naming the source."""
    data = bytearray(pickle.dumps(pickle.loads(SPLIT_SEED), protocol=protocol))
    for position, value in edits:
        data[position % len(data)] = value
    data = bytes(data[: len(data) - cut % len(data)])
    try:
        splits = loads_split_dict(data, "s.pkl", num_rows=6)
    except SplitFileError as exc:
        assert str(exc).startswith("s.pkl: ") and "\n" not in str(exc)
        return
    for phases in splits.values():
        for rows in phases.values():
            assert all(isinstance(r, int) and 0 <= r < 6 for r in rows)


NAMES = ["A", "A/b", "A/b/c.png", "A/./d.png", "A//e.png", "./A/f.png", ".", "../x.png", "A/../../y.png",
         "/abs.png", "C:/w.png", "A\\g.png", "B/h.png", "A/b/.."]
KINDS = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE]
LINKS = ["c.png", "../x.png", "/etc/passwd", "A/b", "..", "."]
members_strategy = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(KINDS), st.sampled_from(LINKS)),
                            min_size=1, max_size=6)


def _tree(folder):
    return sorted((str(p.relative_to(folder)), p.is_symlink(), p.is_file() and p.read_bytes()) for p in folder.rglob("*"))


@pytest.mark.filterwarnings("ignore:Duplicate name")  # duplicate zip members are part of what is tried
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=members_strategy, as_zip=st.booleans())
def test_random_archives_extract_inside_or_fail_in_one_line(tmp_path_factory, members, as_zip):
    """Any mix of names and member types: regular files and folders inside the root, or one clear error; the
    folder around the root never changes."""
    base = tmp_path_factory.mktemp("arch")
    (base / "outside.txt").write_bytes(b"keep")
    archive = base / ("a.zip" if as_zip else "a.tar")
    buffer = io.BytesIO()
    if as_zip:
        with zipfile.ZipFile(buffer, "w") as zf:
            for name, kind, link in members:
                info = zipfile.ZipInfo(name + ("/" if kind == tarfile.DIRTYPE else ""))
                info.external_attr = {tarfile.SYMTYPE: 0o120777, tarfile.DIRTYPE: 0o040755}.get(kind, 0o100644) << 16
                zf.writestr(info, link.encode() if kind == tarfile.SYMTYPE else b"data")
    else:
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, kind, link in members:
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, link
                payload = b"data" if kind == tarfile.REGTYPE else b""
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    archive.write_bytes(buffer.getvalue())
    before = _tree(base)
    root = base / "root"
    try:
        extract_archive(archive, root)
    except (UnsafeArchiveError, ArchiveFormatError) as exc:
        assert str(exc).startswith(str(archive)) and "\n" not in str(exc)
        assert not root.exists() or list(root.iterdir()) == []
    else:
        for path in root.rglob("*"):
            assert not path.is_symlink() and (path.is_dir() or path.is_file())
            assert os.path.realpath(path).startswith(os.path.realpath(root) + os.sep)
    assert [e for e in _tree(base) if not e[0].startswith("root")] == before
