"""Tiny archives, meta-info files and images for the dataset tests."""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile

import numpy as np
from PIL import Image


def png(seed: int, size: tuple[int, int] = (12, 10)) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def tgz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_with(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    """An uncompressed tar of hand-made members (for hostile archives)."""
    data = data or {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info in members:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return buffer.getvalue()


def csv_text(header: list[str], rows: list[list[object]]) -> bytes:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def split_pickle(splits: dict) -> bytes:
    return pickle.dumps(splits, protocol=4)


# ------------------------------------------------------------------------------------- the four test datasets
DATASETS_REPO = "chaofengc/IQA-Toolbox-Datasets"
META_REPO = "chaofengc/IQA-Toolbox-Datasets-metainfo"


def csiq_files() -> tuple[bytes, bytes]:
    """(csiq.tgz, meta_info_CSIQDataset.csv): FR, 2 references × 3 distortions."""
    files, rows = {}, []
    for r in range(2):
        files[f"CSIQ/src_imgs/ref{r}.png"] = png(100 + r)
        for d in range(3):
            files[f"CSIQ/dst_imgs/ref{r}_d{d}.png"] = png(10 * r + d)
            rows.append([f"ref{r}.png", f"ref{r}_d{d}.png", round(0.1 * (d + 1) + 0.01 * r, 4)])
    return tgz(files), csv_text(["ref_name", "dist_name", "dmos"], rows)


def koniq_files() -> tuple[bytes, bytes, bytes]:
    """(koniq10k.tgz, meta CSV with an official_split column, 2024 split pickle): NR, 6 images."""
    files, rows = {}, []
    phases = ["train", "train", "val", "test", "test", "train"]
    for i, phase in enumerate(phases):
        files[f"koniq10k/512x384/k{i}.png"] = png(200 + i)
        rows.append([f"k{i}.png", 10.0 * (i + 1), phase])
    pkl = split_pickle({1: {"train": [0, 1, 5], "val": [2], "test": [3, 4]}})
    return tgz(files), csv_text(["image_name", "mos", "official_split"], rows), pkl


def livec_files() -> tuple[bytes, bytes]:
    """(live_challenge.tgz, meta CSV): 7 training rows (excluded) + 3 scored rows."""
    files, rows = {}, []
    for i in range(10):
        name = f"trainingImages/t{i}.png" if i < 7 else f"Images/{i}.png"
        files[f"LIVEC/{name}"] = png(300 + i)
        rows.append([name, 5.0 * i])
    return tgz(files), csv_text(["image", "mos"], rows)


AVA_VOTES = [[0, 1, 2, 3, 4, 5, 4, 3, 2, 1], [10, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 7], [1] * 10]


def ava_files() -> tuple[bytes, bytes]:
    """(ava.tgz, meta CSV: name, MOS, 10 vote counts, official_split)."""
    files, rows = {}, []
    for i, votes in enumerate(AVA_VOTES):
        files[f"AVA_dataset/ava_images/{i}.jpg"] = png(400 + i)
        mean = sum((k + 1) * v for k, v in enumerate(votes)) / sum(votes)
        rows.append([f"{i}.jpg", round(mean, 3), *votes, "test" if i else "train"])
    header = ["img_name", "MOS", *[f"c{k}" for k in range(1, 11)], "official_split"]
    return tgz(files), csv_text(header, rows)


def populate(hub) -> None:
    """Put the four datasets (and the KonIQ split pickle) on the fake hub."""
    archive, meta = csiq_files()
    hub.add(DATASETS_REPO, "csiq.tgz", archive)
    hub.add(META_REPO, "meta_info_CSIQDataset.csv", meta)
    archive, meta, pkl = koniq_files()
    hub.add(DATASETS_REPO, "koniq10k.tgz", archive)
    hub.add(META_REPO, "meta_info_KonIQ10kDataset.csv", meta)
    hub.add(META_REPO, "koniq10k_official.pkl", pkl)
    archive, meta = livec_files()
    hub.add(DATASETS_REPO, "live_challenge.tgz", archive)
    hub.add(META_REPO, "meta_info_LIVEChallengeDataset.csv", meta)
    archive, meta = ava_files()
    hub.add(DATASETS_REPO, "ava.tgz", archive)
    hub.add(META_REPO, "meta_info_AVADataset.csv", meta)


# ------------------------------------------------------------------------------------------ hostile archives
def symlink_chain_escape_tar(victim: str, payload_name: str, payload: bytes, levels_up: int, prefix: str = "") -> bytes:
    """A tar in the CVE-2025-4517 pattern: symlinks whose resolved path outgrows PATH_MAX, then one that escapes.

    Folders with 247-character names are nested sixteen deep, each reachable through a one-letter symlink
    (``a`` → ``ddd…``, ``ddd…/b`` → ``ddd…``, …), so ``a/b/…/p`` really resolves to a path of ~4000
    characters. A link ``a/b/…/p/lll…`` → ``../`` × 16 leads back to the top; beyond PATH_MAX
    ``os.path.realpath`` stops resolving and treats the rest lexically, so a last link ``escape`` →
    ``a/b/…/p/lll…/`` + ``../`` × ``levels_up`` + ``victim`` looks as if it stayed inside while the kernel
    follows it ``levels_up`` folders above the folder holding it. ``escape/<payload_name>`` then writes there.
    Every member name starts with ``prefix`` (for example ``CSIQ/``, to pass a dataset's layout check).
    """
    component, steps = "d" * 247, "abcdefghijklmnop"
    members, path = [], prefix
    for step in steps:
        folder = tarfile.TarInfo(f"{path}{component}")
        folder.type = tarfile.DIRTYPE
        link = tarfile.TarInfo(f"{path}{step}")
        link.type, link.linkname = tarfile.SYMTYPE, component
        members += [folder, link]
        path = f"{path}{component}/"
    chain = "/".join(steps)
    long_link = tarfile.TarInfo(f"{prefix}{chain}/{'l' * 254}")
    long_link.type, long_link.linkname = tarfile.SYMTYPE, "../" * len(steps)
    escape = tarfile.TarInfo(f"{prefix}escape")
    escape.type, escape.linkname = tarfile.SYMTYPE, f"{chain}/{'l' * 254}/{'../' * levels_up}{victim}"
    written = tarfile.TarInfo(f"{prefix}escape/{payload_name}")
    written.mode = 0o644
    return tar_with([*members, long_link, escape, written], {written.name: payload})


def zip_bomb(name: str, size: int) -> bytes:
    """A zip with one deflated member of ``size`` zero bytes (about a thousandth of that compressed)."""
    buffer = io.BytesIO()
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w") as zf:
        with zf.open(info, "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(size // len(chunk)):
                member.write(chunk)
            member.write(bytes(size % len(chunk)))
    return buffer.getvalue()


def fr_files(folder: str, dist_dir: str, ref_dir: str | None, refs: int = 2, dists: int = 3,
             seed: int = 500) -> tuple[bytes, bytes]:
    """(archive, meta CSV) of a small FR dataset under ``folder``: ``refs`` references × ``dists`` distortions,
    references in ``ref_dir`` (None: next to the distorted images, as LIVE keeps them)."""
    files, rows = {}, []
    for r in range(refs):
        ref_name = f"ref{r}.png" if ref_dir else f"refimgs/ref{r}.png"
        files[f"{folder}/{ref_dir + '/' if ref_dir else ''}{ref_name}"] = png(seed + r, (16, 16))
        for d in range(dists):
            dist_name = f"r{r}_d{d}.png" if ref_dir else f"wn/r{r}_d{d}.png"
            files[f"{folder}/{dist_dir + '/' if dist_dir else ''}{dist_name}"] = png(seed + 10 * (r + 1) + d, (16, 16))
            rows.append([ref_name, dist_name, round(1.0 + d + 0.1 * r, 3)])
    return tgz(files), csv_text(["ref_name", "dist_name", "mos"], rows)


def populate_fr_table(hub) -> None:
    """The four datasets of pyiqa's FR table (CSIQ, LIVE, TID2008, TID2013), small and made up, on the fake hub."""
    for key, folder, dist_dir, ref_dir, meta_name, seed in (
            ("csiq", "CSIQ", "dst_imgs", "src_imgs", "CSIQ", 500),
            ("tid2008", "tid2008", "distorted_images", "reference_images", "TID2008", 600),
            ("tid2013", "tid2013", "distorted_images", "reference_images", "TID2013", 700)):
        archive, meta = fr_files(folder, dist_dir, ref_dir, seed=seed)
        hub.add(DATASETS_REPO, f"{key}.tgz", archive)
        hub.add(META_REPO, f"meta_info_{meta_name}Dataset.csv", meta)
    archive, meta = fr_files("LIVEIQA_release2", "", None, seed=800)
    hub.add(DATASETS_REPO, "live.tgz", archive)
    hub.add(META_REPO, "meta_info_LIVEIQADataset.csv", meta)
