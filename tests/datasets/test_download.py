"""Downloads through the real code path (huggingface_hub → fake hub on 127.0.0.1), extraction, lock, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from datasets_io.catalog import resolve_dataset
from datasets_io.download import (
    LOCK_FILE,
    ChecksumMismatchError,
    DownloadError,
    MissingDatasetError,
    dataset_status,
    download_dataset,
    ensure_downloaded,
)
from datasets_io.extract import UnsafeArchiveError
from datasets_io.manifest import MissingImagesError, build_manifest
from tests._helpers.builders import AVA_VOTES, DATASETS_REPO, png, tar_with, tgz

REPO_ROOT = Path(__file__).resolve().parents[2]


def _gets(hub) -> list[str]:
    return [path for method, path in hub.requests if method == "GET" and "/resolve/" in path]


def _visible(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()}


def test_fr_nr_livec_ava_download_and_manifest(hub, tmp_path: Path) -> None:
    root = tmp_path / "data"
    csiq = ensure_downloaded("csiq", root, progress=False)
    koniq = ensure_downloaded("koniq10k", root, progress=False)
    livec = ensure_downloaded("livec", root, progress=False)
    ava = ensure_downloaded("ava", root, progress=False)
    assert {"CSIQ", "koniq10k", "LIVEC", "AVA_dataset", "meta_info"} <= _visible(root)
    assert not list(root.glob(".extract-*")) and not list(root.glob(".extracting-*"))
    assert not (root / ".downloads" / "csiq.tgz").exists()  # archives are removed once extracted

    m = build_manifest(csiq)
    assert m.num_rows == 6 and m.table["ref_name"].to_pylist()[0] == "ref0.png"
    assert all(Path(p).is_file() for p in m.table["ref_path"].to_pylist())
    assert m.table["mos"].to_pylist()[:3] == [0.1, 0.2, 0.3]

    m = build_manifest(koniq)  # official_split column, phase test
    assert m.table["dist_name"].to_pylist() == ["k3.png", "k4.png"]
    assert m.table["ref_path"].null_count == 2 and set(m.table["split"].to_pylist()) == {"test"}

    m = build_manifest(livec)  # the 7 training images are excluded
    assert m.table["dist_name"].to_pylist() == ["Images/7.png", "Images/8.png", "Images/9.png"]

    m = build_manifest(ava)
    votes = np.array(AVA_VOTES[1:], dtype=float)
    assert m.table["vote_dist"].to_pylist() == votes.tolist()
    np.testing.assert_allclose(m.table["mos"].to_numpy(), votes @ np.arange(1, 11) / votes.sum(1))

    lock = json.loads((root / LOCK_FILE).read_text())["files"]
    assert {"archives/csiq.tgz", "archives/koniq10k.tgz", "meta_info/meta_info_CSIQDataset.csv"} <= set(lock)
    before = len(_gets(hub))
    assert ensure_downloaded("csiq", root, progress=False) == csiq  # present: no request
    assert len(_gets(hub)) == before


def test_2024_format_split_pickle_download(hub, tmp_path: Path) -> None:
    root = tmp_path / "data"
    spec = resolve_dataset("koniq10k", data_root=str(root), fmt="2024")
    download_dataset(spec, root, progress=False)
    assert (root / "meta_info" / "koniq10k_official.pkl").is_file()
    m = build_manifest(spec)
    assert m.table["dist_name"].to_pylist() == ["k3.png", "k4.png"]


def test_changed_archive_fails_the_lock_and_leaves_nothing(hub, tmp_path: Path) -> None:
    root = tmp_path / "data"
    spec = ensure_downloaded("csiq", root, progress=False)
    import shutil

    shutil.rmtree(root / "CSIQ")
    hub.add(DATASETS_REPO, "csiq.tgz", tgz({"CSIQ/dst_imgs/evil.png": png(1), "CSIQ/src_imgs/x.png": png(2)}))
    with pytest.raises(ChecksumMismatchError, match="does not match"):
        ensure_downloaded("csiq", root, progress=False)
    assert not (root / "CSIQ").exists() and not (root / ".downloads" / "csiq.tgz").exists()
    assert not dataset_status(spec, root).present


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../escape.png"),
        tarfile.TarInfo("/tmp/absolute-escape.png"),
    ],
    ids=["dotdot", "absolute"],
)
def test_hostile_archive_from_hub_is_refused(hub, tmp_path: Path, member: tarfile.TarInfo) -> None:
    root = tmp_path / "data"
    ok = tarfile.TarInfo("CSIQ/dst_imgs/ref0_d0.png")
    hub.add(DATASETS_REPO, "csiq.tgz", tar_with([ok, member], {ok.name: png(1), member.name: b"x"}))
    with pytest.raises(UnsafeArchiveError):
        ensure_downloaded("csiq", root, progress=False)
    assert _visible(root) <= {"meta_info", ".downloads", LOCK_FILE, ".iqabench-download.lock"}
    assert not (tmp_path / "escape.png").exists()


def test_symlink_out_of_root_from_hub_is_refused(hub, tmp_path: Path) -> None:
    root = tmp_path / "data"
    link = tarfile.TarInfo("CSIQ/dst_imgs/link.png")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
    hub.add(DATASETS_REPO, "csiq.tgz", tar_with([link]))
    with pytest.raises(UnsafeArchiveError, match="outside"):
        ensure_downloaded("csiq", root, progress=False)
    assert not (root / "CSIQ").exists()


def test_offline_missing_dataset_says_how_to_download(hub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingDatasetError, match="iqabench datasets download csiq"):
        ensure_downloaded("csiq", tmp_path / "data", progress=False)
    assert hub.requests == []
    with pytest.raises(MissingDatasetError, match="bench --download"):
        ensure_downloaded("csiq", tmp_path / "data", download=False)


def test_archive_with_wrong_layout_is_an_error(hub, tmp_path: Path) -> None:
    hub.add(DATASETS_REPO, "csiq.tgz", tgz({"csiq_wrong/a.png": png(1)}))
    with pytest.raises(DownloadError, match="expect"):
        ensure_downloaded("csiq", tmp_path / "data", progress=False)


def test_meta_info_naming_a_missing_image(hub, tmp_path: Path) -> None:
    root = tmp_path / "data"
    spec = ensure_downloaded("csiq", root, progress=False)
    os.remove(root / "CSIQ" / "dst_imgs" / "ref1_d2.png")
    with pytest.raises(MissingImagesError, match="ref1_d2.png"):
        build_manifest(spec)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs.cli", "datasets", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_download_list_verify(hub, tmp_path: Path) -> None:
    root = tmp_path / "data"
    env = {**os.environ, "HF_ENDPOINT": hub.url}  # set before huggingface_hub is imported in the child
    r = _cli(["download", "csiq", "ava", "--root", str(root), "--no-progress"], env)
    assert r.returncode == 0, r.stderr
    assert "csiq: present" in r.stdout and "ava: present" in r.stdout

    r = _cli(["list", "--root", str(root)], env)
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines()[2:]}
    assert len(lines) == 18
    assert "present" in lines["csiq"] and " 8 " in lines["csiq"] and "missing" in lines["tid2013"]

    r = _cli(["verify", "csiq", "ava", "--root", str(root)], env)
    assert r.returncode == 0, r.stderr
    assert "csiq: ok: 6 meta-info rows, 8 distinct images" in r.stdout
    assert "ava: ok: 4 meta-info rows, 4 distinct images" in r.stdout

    (root / "CSIQ" / "dst_imgs" / "ref0_d1.png").unlink()
    (root / "AVA_dataset" / "ava_images" / "2.jpg").write_bytes(b"not an image")
    r = _cli(["verify", "csiq", "--root", str(root)], env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[0].startswith("iqabench datasets: error: csiq: 1 of 8 image(s)")
    assert "ref0_d1.png" in r.stderr
    r = _cli(["verify", "ava", "--root", str(root)], env)
    assert r.returncode == 1 and "do not decode" in r.stderr and "2.jpg" in r.stderr and "Traceback" not in r.stderr

    r = _cli(["download", "tid2013", "--root", str(root), "--no-progress"], env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("iqabench datasets: error: cannot download meta_info_TID2013Dataset.csv")


def test_cli_unknown_dataset_type_in_data_opt(tmp_path: Path) -> None:
    opt = tmp_path / "opt.yml"
    opt.write_text("mine:\n  type: MysteryDataset\n  dataroot_target: ./datasets/x\n  meta_info_file: ./m.csv\n")
    r = _cli(["list", "--data_opt", str(opt)], dict(os.environ))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "unknown dataset type 'MysteryDataset'" in r.stderr.splitlines()[0]
