"""Pixel parity with pyiqa 0.1.16's datasets: the pixels a cell scores are the pixels pyiqa's dataset item holds.

Of the 18 entries of pyiqa's default dataset options, only SPAQ transforms its test images (``augment: {resize:
448}``); every other entry hands over the decoded image as it is. Each test builds pyiqa's own dataset class on a
made-up folder and meta-info file laid out as the option entry says, and compares its item (float in [0, 1]) with
what our decode step (``decode_batch``, with the dataset's resize) gives for the same file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch
import yaml
from PIL import Image

from datasets_io.decode import pixel_transforms, shorter_side_size
from datasets_io.manifest import Manifest, build_manifest
from datasets_io.options import builtin_options
from orchestrator.run.actors import decode_batch

# Found, not imported: pyiqa fixes its download folder when first imported, and collection runs before any test
# has pointed TORCH_HOME at the session's seeded files.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("pyiqa") is None, reason="pyiqa 0.1.16 is not installed")

REFERENCE_OPTIONS = Path(__file__).resolve().parents[2] / "datasets_io" / "data" / "default_dataset_configs.yml"

#: (width, height): landscape and portrait, sizes whose longer side truncates and rounds differently
#: (897 * 448 / 601 = 668.6), one already at 448 (left as it is), one smaller than 448 (enlarged).
SIZES = [(897, 601), (301, 467), (672, 448), (120, 97)]


def _reference_entry(key: str, root: Path) -> dict[str, Any]:
    """pyiqa's option entry for ``key`` with its ``./datasets`` prefix moved under ``root``."""
    entry = yaml.safe_load(REFERENCE_OPTIONS.read_text())[key]
    return {k: v.replace("./datasets", str(root)) if isinstance(v, str) else v for k, v in entry.items()}


def _photo_like(width: int, height: int, seed: int) -> np.ndarray:
    """Smooth gradients plus noise: resampling filters differ on both (a flat image would hide them)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = 127 + 60 * np.sin(x / 13.0)[..., None] * np.cos(y / 17.0)[..., None] * np.array([1.0, -0.7, 0.4])
    return np.clip(base + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)


def _as_pyiqa_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div(255)


def _write_nr_dataset(root: Path, entry: dict[str, Any]) -> list[str]:
    image_dir = Path(entry["dataroot_target"])
    image_dir.mkdir(parents=True)
    names = []
    for i, (w, h) in enumerate(SIZES):
        name = f"{i:05d}.png"
        Image.fromarray(_photo_like(w, h, i)).save(image_dir / name)
        names.append(name)
    meta = Path(entry["meta_info_file"])
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text("img_name,mos\n" + "".join(f"{n},{10.0 + 7 * i}\n" for i, n in enumerate(names)))
    return names


def test_spaq_resize_gives_pyiqas_pixels(tmp_path):
    from pyiqa.data.general_nr_dataset import GeneralNRDataset

    entry = _reference_entry("spaq", tmp_path)
    assert entry["augment"] == {"resize": 448}  # the case this test is about; fails if pyiqa's entry changes
    _write_nr_dataset(tmp_path, entry)
    theirs = GeneralNRDataset({**entry, "phase": "test"})

    spec = builtin_options(data_root=str(tmp_path))["spaq"]
    manifest = build_manifest(spec, hash_cache=False)
    rows = manifest.table.to_pydict()
    ours = decode_batch({"id": np.array(rows["id"]), "dist_path": np.array(rows["dist_path"], dtype=object)},
                        resize=spec.resize, with_ref=False)
    assert list(ours["decode_error"]) == [None] * len(SIZES)
    assert len(theirs) == len(SIZES)
    for i, (w, h) in enumerate(SIZES):
        item = theirs[i]
        assert Path(item["img_path"]).name == rows["dist_name"][i]
        got = ours["dist"][i]
        assert got.shape[:2] == tuple(item["img"].shape[1:]), (w, h)
        assert min(got.shape[:2]) == 448 and got.shape[1::-1] == shorter_side_size(w, h, 448)
        assert torch.equal(_as_pyiqa_tensor(got), item["img"]), f"{w}x{h}: pixels differ from pyiqa's"


def test_an_fr_resize_is_applied_to_both_images_as_pyiqa_does(tmp_path):
    """pyiqa's paired resize on an FR entry given ``augment: {resize: N}`` by a user's option file."""
    from pyiqa.data.general_fr_dataset import GeneralFRDataset

    entry = {**_reference_entry("tid2013", tmp_path), "augment": {"resize": 64}}
    ref_dir, dist_dir = Path(entry["dataroot_ref"]), Path(entry["dataroot_target"])
    ref_dir.mkdir(parents=True)
    dist_dir.mkdir(parents=True)
    Image.fromarray(_photo_like(157, 101, 1)).save(ref_dir / "r.png")
    Image.fromarray(_photo_like(157, 101, 2)).save(dist_dir / "d.png")
    Path(entry["meta_info_file"]).parent.mkdir(parents=True)
    Path(entry["meta_info_file"]).write_text("ref_name,dist_name,mos\nr.png,d.png,3.5\n")
    theirs = GeneralFRDataset({**entry, "phase": "test"})[0]

    ours = decode_batch({"id": np.array([0]), "dist_path": np.array([str(dist_dir / "d.png")], dtype=object),
                         "ref_path": np.array([str(ref_dir / "r.png")], dtype=object)}, resize=64)
    assert torch.equal(_as_pyiqa_tensor(ours["dist"][0]), theirs["img"])
    assert torch.equal(_as_pyiqa_tensor(ours["ref"][0]), theirs["ref_img"])


def test_no_other_default_entry_transforms_its_pixels():
    """The SPAQ resize is the only test-time transform in pyiqa's 18 default entries; every other is scored as
    decoded (the item is ``ToTensor`` of the decoded RGB image), so the parity above covers them all."""
    entries = yaml.safe_load(REFERENCE_OPTIONS.read_text())
    assert len(entries) == 18
    assert {key for key, entry in entries.items() if entry.get("augment")} == {"spaq"}


def test_the_resize_method_enters_the_cell_key(tmp_path, monkeypatch):
    """A resized dataset's cell key names the resize and its method, so cells scored with another method (the
    bicubic resize of earlier versions) are not reused; a dataset scored as decoded keeps its keys."""
    import datasets_io.decode as decode
    from metrics.registry import get_spec
    from orchestrator.run.plan import cell_key

    specs = builtin_options(data_root=str(tmp_path))
    psnr = get_spec("psnr")
    spaq = Manifest(specs["spaq"], pa.table({"id": [0]}), "digest")
    live = Manifest(specs["livec"], pa.table({"id": [0]}), "digest")
    spaq_key, live_key = cell_key(psnr, {}, spaq, "all"), cell_key(psnr, {}, live, "all")
    monkeypatch.setattr(decode, "RESIZE_METHOD", "pillow-bicubic, longer side rounded")
    assert cell_key(psnr, {}, spaq, "all") != spaq_key
    assert cell_key(psnr, {}, live, "all") == live_key
    assert pixel_transforms(None) == {}
