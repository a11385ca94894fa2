"""Option files (both pyiqa formats), the 18 dataset keys, meta-info kinds and manifest columns/digest."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from datasets_io.catalog import UnknownDatasetError, resolve_dataset
from datasets_io.download import ARCHIVES
from datasets_io.manifest import MANIFEST_SCHEMA, build_manifest
from datasets_io.meta import MetaInfoError, rows_for
from datasets_io.options import builtin_options, load_options_file
from datasets_io.spec import DatasetOptionError, DatasetSpec
from tests._helpers.builders import csv_text, png, split_pickle

SHARED = Path("/work/shared/reference")

#: key → (type, kind, target under the root, reference folder or None, meta-info file)
EXPECTED = {
    "csiq": ("GeneralFRDataset", "FR", "CSIQ/dst_imgs", "CSIQ/src_imgs", "meta_info_CSIQDataset.csv"),
    "tid2008": ("GeneralFRDataset", "FR", "tid2008/distorted_images", "tid2008/reference_images",
                "meta_info_TID2008Dataset.csv"),
    "tid2013": ("GeneralFRDataset", "FR", "tid2013/distorted_images", "tid2013/reference_images",
                "meta_info_TID2013Dataset.csv"),
    "live": ("GeneralFRDataset", "FR", "LIVEIQA_release2", None, "meta_info_LIVEIQADataset.csv"),
    "livem": ("GeneralFRDataset", "FR", "LIVEmultidistortiondatabase", None, "meta_info_LIVEMDDataset.csv"),
    "livec": ("LIVEChallengeDataset", "NR", "LIVEC", None, "meta_info_LIVEChallengeDataset.csv"),
    "koniq10k": ("GeneralNRDataset", "NR", "koniq10k/512x384", None, "meta_info_KonIQ10kDataset.csv"),
    "koniq10k-1024": ("GeneralNRDataset", "NR", "koniq10k/1024x768", None, "meta_info_KonIQ10kDataset.csv"),
    "koniq10k++": ("GeneralNRDataset", "NR", "koniq10k/512x384", None, "meta_info_KonIQ10k++Dataset.csv"),
    "kadid10k": ("GeneralFRDataset", "FR", "kadid10k/images", None, "meta_info_KADID10kDataset.csv"),
    "spaq": ("GeneralNRDataset", "NR", "SPAQ/TestImage", None, "meta_info_SPAQDataset.csv"),
    "ava": ("AVADataset", "NR", "AVA_dataset/ava_images", None, "meta_info_AVADataset.csv"),
    "pipal": ("GeneralFRDataset", "FR", "PIPAL/Dist_Imgs", "PIPAL/Train_Ref", "meta_info_PIPALDataset.csv"),
    "flive": ("GeneralNRDataset", "NR", "FLIVE_Database/database", None, "meta_info_FLIVEDataset.csv"),
    "pieapp": ("PieAPPDataset", "FR", "PieAPP_dataset_CVPR_2018", None, "meta_info_PieAPPDataset.csv"),
    "bapps": ("BAPPSDataset", "2AFC", "PerceptualSimilarity/dataset", None, "meta_info_BAPPSDataset.csv"),
    "gfiqa": ("GeneralNRDataset", "NR", "GFIQA-20k/image", None, "meta_info_GFIQADataset.csv"),
    "cgfiqa": ("GeneralNRDataset", "NR", "CGFIQA", None, "meta_info_CGFIQADataset.csv"),
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_key_resolves_to_its_kind_and_paths(key: str, tmp_path: Path) -> None:
    kind_type, kind, target, ref, meta = EXPECTED[key]
    spec = resolve_dataset(key, data_root=str(tmp_path))
    assert (spec.type, spec.mode) == (kind_type, kind)
    assert Path(spec.dataroot_target) == tmp_path / target
    assert spec.dataroot_ref == (str(tmp_path / ref) if ref else None)
    assert Path(spec.meta_info_file) == tmp_path / "meta_info" / meta
    assert key in ARCHIVES


def test_builtin_defaults_details() -> None:
    specs = builtin_options()
    assert set(specs) == set(EXPECTED)
    assert specs["csiq"].dataroot_target == "./datasets/CSIQ/dst_imgs"  # no root: paths as written
    assert specs["spaq"].resize == 448 and specs["csiq"].lower_better and specs["csiq"].mos_range == (0.0, 1.0)
    assert specs["koniq10k"].split_index == "official_split" and specs["koniq10k"].split_label == "test"
    assert specs["gfiqa"].split_index == 1 and specs["live"].split_label == "all"


@pytest.mark.parametrize("name", ["pyiqa_default_dataset_configs.yml", "pyiqa_default_dataset_opt_2024.yml"])
def test_shared_option_files_load_unchanged(name: str, tmp_path: Path) -> None:
    specs = load_options_file(SHARED / name, data_root=str(tmp_path))
    assert set(EXPECTED) - {"cgfiqa"} <= set(specs)
    for key, spec in specs.items():
        if key in EXPECTED:
            assert spec.type == EXPECTED[key][0]
    if "2024" in name:
        assert specs["koniq10k"].split_file == str(tmp_path / "meta_info" / "koniq10k_official.pkl")
        assert specs["ava"].split_index == 1 and specs["piq"].type == "PIQDataset"
        with pytest.raises(DatasetOptionError, match="not scored"):
            rows_for(specs["piq"])


def test_2024_builtin_and_user_override(tmp_path: Path) -> None:
    assert resolve_dataset("koniq10k", fmt="2024").split_file.endswith("koniq10k_official.pkl")
    opt = tmp_path / "opt.yml"
    opt.write_text("csiq:\n  type: GeneralNRDataset\n  dataroot_target: ./datasets/mine\n"
                   "  meta_info_file: ./datasets/mine.csv\nextra:\n  type: GeneralNRDataset\n"
                   "  dataroot_target: /abs/x\n  meta_info_file: /abs/x.csv\n")
    spec = resolve_dataset("csiq", data_opt=opt, data_root="/r")
    assert spec.type == "GeneralNRDataset" and spec.dataroot_ref is None and spec.mos_range is None  # whole entry
    assert spec.dataroot_target == "/r/mine" and resolve_dataset("extra", data_opt=opt).dataroot_target == "/abs/x"
    assert resolve_dataset("tid2013", data_opt=opt).dataroot_ref.endswith("reference_images")
    with pytest.raises(UnknownDatasetError):
        resolve_dataset("nope", data_opt=opt)


@pytest.mark.parametrize(
    "entry, message",
    [
        ("type: MysteryDataset", "unknown dataset type"),
        ("type: GeneralNRDataset\n  colour: red", "unknown field"),
        ("type: GeneralNRDataset\n  phase: testing", "phase"),
        ("type: GeneralNRDataset\n  augment: {resize: -3}", "augment.resize"),
        ("type: GeneralNRDataset\n  augment: {hflip: true}", "unsupported augmentation"),
        ("type: GeneralNRDataset\n  mos_normalize: true", "needs mos_range"),
        ("type: GeneralNRDataset\n  mode: jnd", "only BAPPSDataset"),
    ],
)
def test_bad_option_entries_are_refused(tmp_path: Path, entry: str, message: str) -> None:
    opt = tmp_path / "opt.yml"
    opt.write_text(f"x:\n  {entry}\n  dataroot_target: ./d\n  meta_info_file: ./m.csv\n")
    with pytest.raises(DatasetOptionError, match=message):
        load_options_file(opt)


# ---------------------------------------------------------------------------------------------- meta-info kinds
def _spec(tmp_path: Path, kind: str, header: list[str], rows: list[list], **kw) -> DatasetSpec:
    meta = tmp_path / "meta.csv"
    meta.write_bytes(csv_text(header, rows))
    return DatasetSpec(key="t", name="t", type=kind, dataroot_target=str(tmp_path / "img"),
                       meta_info_file=str(meta), **kw)


def _images(tmp_path: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        p = tmp_path / "img" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(png(i))


def test_split_column_by_integer_index_and_normalisation(tmp_path: Path) -> None:
    rows = [[f"{i}.png", 20.0 * i, "test" if i % 2 else "train"] for i in range(1, 5)]
    spec = _spec(tmp_path, "GeneralNRDataset", ["n", "mos", "ratio802_seed123_split_01"], rows, split_index=1,
                 mos_range=(0.0, 100.0), mos_normalize=True, lower_better=True)
    out = rows_for(spec)
    assert out["dist_name"].tolist() == ["1.png", "3.png"]
    np.testing.assert_allclose(out["mos"], [0.8, 0.4])
    assert len(rows_for(spec, all_rows=True)) == 4
    with pytest.raises(MetaInfoError, match="no rows with"):
        rows_for(DatasetSpec(**{**spec.__dict__, "phase": "val"}))


def test_split_pickle_selects_rows_in_pickle_order(tmp_path: Path) -> None:
    (tmp_path / "s.pkl").write_bytes(split_pickle({1: {"test": [3, 0]}, 2: {"test": [1]}}))
    spec = _spec(tmp_path, "GeneralFRDataset", ["r", "d", "mos"], [["r.png", f"{i}.png", i] for i in range(4)],
                 split_file=str(tmp_path / "s.pkl"))
    assert rows_for(spec)["dist_name"].tolist() == ["3.png", "0.png"]


def test_meta_info_with_bad_mos_names_row(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "GeneralNRDataset", ["n", "mos"], [["a.png", 1], ["b.png", "oops"]])
    with pytest.raises(MetaInfoError, match="row 3.*not a number"):
        rows_for(spec)


def test_pieapp_per_image_score_deduplicated(tmp_path: Path) -> None:
    header = ["ref_img_path", "dist_imgA_path", "dist_imgB_path", "raw", "prob", "per_img score", "official_split"]
    rows = [
        ["ref/a.png", "ref/a.png", "dist/a1.png", 0.1, 0.2, 1.5, "test"],
        ["ref/a.png", "dist/a0.png", "dist/a1.png", 0.3, 0.4, 1.5, "test"],  # same B again: dropped
        ["ref/a.png", "ref/a.png", "dist/a2.png", 0.1, 0.2, 2.5, "test"],
        ["ref/a.png", "dist/a0.png", "dist/a3.png", 0.1, 0.2, "", "test"],  # no per-image score: dropped
        ["ref/b.png", "ref/b.png", "dist/b1.png", 0.1, 0.2, 0.5, "train"],
    ]
    spec = _spec(tmp_path, "PieAPPDataset", header, rows, split_index="official_split")
    _images(tmp_path, ["ref/a.png", "dist/a1.png", "dist/a2.png"])
    m = build_manifest(spec, hash_cache=False)
    assert m.table.schema == MANIFEST_SCHEMA
    assert m.table["dist_name"].to_pylist() == ["dist/a1.png", "dist/a2.png"]
    assert m.table["ref_name"].to_pylist() == ["ref/a.png"] * 2 and m.table["mos"].to_pylist() == [1.5, 2.5]


def test_bapps_manifest_columns(tmp_path: Path) -> None:
    header = ["ref", "p0", "p1", "judge", "split"]
    rows = [
        ["val/cnn/ref/0.png", "val/cnn/p0/0.png", "val/cnn/p1/0.png", 0.0, "test"],
        ["val/color/ref/1.png", "val/color/p0/1.png", "val/color/p1/1.png", 0.75, "test"],
        ["jnd", "jnd/p0/2.png", "jnd/p1/2.png", 1.0, "test"],
    ]
    spec = _spec(tmp_path, "BAPPSDataset", header, rows)
    _images(tmp_path, [n for r in rows[:2] for n in r[:3]])
    m = build_manifest(spec, hash_cache=False)
    t = m.table
    assert t.column_names == MANIFEST_SCHEMA.names + ["dist_b_name", "dist_b_path", "judge", "subset"]
    assert t["dist_name"].to_pylist() == ["val/cnn/p0/0.png", "val/color/p0/1.png"]
    assert t["dist_b_name"].to_pylist() == ["val/cnn/p1/0.png", "val/color/p1/1.png"]
    assert t["judge"].to_pylist() == [0.0, 0.75] == t["mos"].to_pylist()
    assert t["subset"].to_pylist() == ["val/cnn", "val/color"]
    assert all(Path(p).is_file() for p in t["dist_b_path"].to_pylist())
    only = DatasetSpec(**{**spec.__dict__, "val_types": ("color",)})
    assert build_manifest(only, hash_cache=False).num_rows == 1


def test_ava_manifest_vote_distribution(tmp_path: Path) -> None:
    header = ["n", "MOS", *[f"c{k}" for k in range(10)]]
    spec = _spec(tmp_path, "AVADataset", header, [["a.jpg", 9.9, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0]])
    _images(tmp_path, ["a.jpg"])
    t = build_manifest(spec, hash_cache=False).table
    assert t.schema.field("vote_dist").type == pa.list_(pa.float64())
    assert t["mos"].to_pylist() == [5.5] and t["vote_dist"].to_pylist() == [[0, 0, 0, 0, 2, 2, 0, 0, 0, 0]]
    bad = _spec(tmp_path, "AVADataset", header, [["a.jpg", 1, *([0] * 10)]])
    with pytest.raises(MetaInfoError, match="vote counts"):
        rows_for(bad)


def test_digest_follows_content_not_location_and_cache_skips_rehash(tmp_path: Path) -> None:
    from datasets_io.hashcache import HashCache

    a = tmp_path / "a"
    a.mkdir()
    spec = _spec(a, "GeneralFRDataset", ["r", "d", "mos"], [["r.png", "d.png", 1.0]])
    _images(a, ["r.png", "d.png"])
    cache_file = tmp_path / "hashes.sqlite"
    d1 = build_manifest(spec, hash_cache=cache_file).digest
    cache = HashCache(cache_file)
    cache.sizes_and_hashes([str(a / "img" / "r.png"), str(a / "img" / "d.png")])
    assert cache.last_hashed == 0  # both known by path, size and mtime
    b = tmp_path / "b"
    shutil.copytree(a, b)
    spec_b = DatasetSpec(**{**spec.__dict__, "dataroot_target": str(b / "img"), "meta_info_file": str(b / "meta.csv")})
    assert build_manifest(spec_b, hash_cache=False).digest == d1
    (b / "img" / "d.png").write_bytes(png(99))
    assert build_manifest(spec_b, hash_cache=cache_file).digest != d1
    resized = DatasetSpec(**{**spec.__dict__, "augment": {"resize": 8}})
    assert build_manifest(resized, hash_cache=False).digest != d1
