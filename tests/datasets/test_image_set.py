"""Image sets for ``iqabench score``: a file, a folder, a glob or a CSV of paths; references by file name."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from datasets_io.image_set import (MAX_LISTED, ImageSetError, collect_images, image_set_manifest,
                                   pair_references)


def _png(path, seed: int = 0, size: int = 8):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture()
def folders(tmp_path):
    for i, name in enumerate(["b.png", "a.jpg", "c.bmp"]):
        _png(tmp_path / "dist" / name, i)
        _png(tmp_path / "ref" / name, 10 + i)
    (tmp_path / "dist" / "notes.txt").write_text("not an image")
    (tmp_path / "dist" / ".hidden.png").write_bytes(b"")
    _png(tmp_path / "dist" / "sub" / "deeper.png", 5)
    return tmp_path


def test_a_folder_gives_its_image_files_sorted(folders):
    images = collect_images(folders / "dist")
    assert [i.name for i in images] == ["a.jpg", "b.png", "c.bmp"]
    assert all(i.path == str((folders / "dist" / i.name).resolve()) and i.ref_path is None for i in images)


def test_one_file(folders):
    (image,) = collect_images(folders / "dist" / "b.png")
    assert image.name == "b.png" and image.path == str((folders / "dist" / "b.png").resolve())


def test_a_glob_names_images_under_the_folder_they_share(folders):
    images = collect_images(str(folders / "dist" / "**" / "*.png"))
    assert [i.name for i in images] == ["b.png", "sub/deeper.png"]
    with pytest.raises(ImageSetError, match="matches no image files"):
        collect_images(str(folders / "dist" / "*.tif"))


def test_a_csv_with_a_header_and_references(folders):
    csv = folders / "list.csv"
    csv.write_text("image,ref_path\ndist/b.png,ref/b.png\n" + f"{folders / 'dist' / 'a.jpg'},ref/a.jpg\n")
    images = pair_references(collect_images(csv), None)
    assert [i.name for i in images] == ["dist/b.png", str(folders / "dist" / "a.jpg")]
    assert [i.ref_path for i in images] == [str(folders / "ref" / "b.png"), str(folders / "ref" / "a.jpg")]


def test_a_csv_without_a_header(folders):
    csv = folders / "plain.csv"
    csv.write_text("dist/c.bmp\ndist/a.jpg\n")
    assert [i.path for i in collect_images(csv)] == [str(folders / "dist" / n) for n in ("c.bmp", "a.jpg")]


def test_files_a_csv_names_that_do_not_exist_are_all_listed(folders):
    csv = folders / "bad.csv"
    csv.write_text("path\ndist/a.jpg\ndist/gone1.png\ndist/gone2.png\n")
    with pytest.raises(ImageSetError) as err:
        collect_images(csv)
    message = str(err.value)
    assert "2 file(s)" in message and "gone1.png" in message and "gone2.png" in message
    assert len(message.splitlines()) == 1


def test_a_reference_file_pairs_with_every_image(folders):
    images = pair_references(collect_images(folders / "dist"), folders / "ref" / "a.jpg")
    assert {i.ref_path for i in images} == {str((folders / "ref" / "a.jpg").resolve())}


def test_references_are_matched_by_file_name_and_every_mismatch_is_listed(folders, tmp_path):
    images = pair_references(collect_images(folders / "dist"), folders / "ref")
    assert [i.ref_path for i in images] == [str((folders / "ref" / i.name).resolve()) for i in images]
    for name in ["x1.png", "x2.png"]:
        _png(folders / "dist" / name)
    with pytest.raises(ImageSetError) as err:
        pair_references(collect_images(folders / "dist"), folders / "ref")
    message = str(err.value)
    assert "2 of 5 image(s) have no reference of the same file name" in message
    assert "x1.png, x2.png" in message and len(message.splitlines()) == 1


def test_long_mismatch_lists_are_cut_and_counted(tmp_path):
    for i in range(MAX_LISTED + 5):
        _png(tmp_path / "dist" / f"{i:03d}.png", i)
    (tmp_path / "ref").mkdir()
    with pytest.raises(ImageSetError, match=r"\.\.\. and 5 more"):
        pair_references(collect_images(tmp_path / "dist"), tmp_path / "ref")


def test_what_cannot_be_an_image_set_is_said_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageSetError, match="holds no image files"):
        collect_images(tmp_path / "empty")
    with pytest.raises(ImageSetError, match="no such file or folder"):
        collect_images(tmp_path / "nothing-here")
    with pytest.raises(ImageSetError, match="no such file or folder"):
        pair_references(collect_images(_png(tmp_path / "one.png")), tmp_path / "no-refs")


def test_the_manifest_is_the_benchmarks_and_its_digest_follows_the_pixels(folders):
    images = pair_references(collect_images(folders / "dist"), folders / "ref")
    manifest = image_set_manifest(images, "mine", hash_cache=False)
    assert manifest.spec.mode == "FR" and manifest.spec.key == "mine"
    table = manifest.table
    assert table["id"].to_pylist() == [0, 1, 2] and table["dist_name"].to_pylist() == ["a.jpg", "b.png", "c.bmp"]
    assert all(math.isnan(m) for m in table["mos"].to_pylist())
    nr = image_set_manifest(collect_images(folders / "dist"), "mine", hash_cache=False)
    assert nr.spec.mode == "NR" and nr.digest != manifest.digest
    again = image_set_manifest(images, "mine", hash_cache=False)
    assert again.digest == manifest.digest
    _png(folders / "ref" / "b.png", 99)  # same name, other pixels
    assert image_set_manifest(images, "mine", hash_cache=False).digest != manifest.digest
