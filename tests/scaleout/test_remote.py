"""datasets_io.remote: URIs through pyarrow filesystems (file:// and pyarrow's in-memory mock://), no network."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from datasets_io.decode import ImageDecodeError, read_image
from datasets_io.remote import is_uri, read_bytes, read_image_uri, resolve


@pytest.fixture()
def png(tmp_path):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=(12, 17, 3), dtype=np.uint8)
    folder = tmp_path / "with space"
    folder.mkdir()
    path = folder / "a b.png"
    Image.fromarray(image).save(path)
    return path, image


def test_is_uri():
    assert is_uri("s3://bucket/key.png") and is_uri("gs://b/k") and is_uri("file:///tmp/x") and is_uri("hdfs://h:9000/x")
    assert not is_uri("/tmp/x.png") and not is_uri("datasets/x.png") and not is_uri("C:\\data\\x.png")


def test_file_uri_reads_the_same_bytes_as_the_path(png):
    path, image = png
    uri = path.as_uri()  # percent-encodes the spaces
    assert "%20" in uri
    assert read_bytes(uri) == path.read_bytes() == read_bytes(path) == read_bytes(str(path))
    np.testing.assert_array_equal(read_image_uri(uri), image)
    np.testing.assert_array_equal(read_image_uri(uri), read_image(path))


def test_missing_remote_file_is_an_error_naming_it(tmp_path):
    uri = (tmp_path / "missing.png").as_uri()
    with pytest.raises(OSError):
        read_bytes(uri)
    with pytest.raises(ImageDecodeError, match="missing.png"):
        read_image_uri(uri)


def test_garbage_bytes_are_a_decode_error(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageDecodeError, match="bad.png"):
        read_image_uri(bad.as_uri())


def test_filesystem_is_built_once_per_root_and_paths_join_like_pyarrow(png):
    """pyarrow's mock:// filesystem lives in memory: a file written through the cached instance is readable by URI."""
    path, _ = png
    fs, inner = resolve("mock://bucket/dir/a%20b.png")
    fs2, _ = resolve("mock://bucket/other.png")
    assert fs is fs2  # cached per root
    fs.create_dir(inner.rsplit("/", 1)[0])
    with fs.open_output_stream(inner) as out:
        out.write(path.read_bytes())
    assert read_bytes("mock://bucket/dir/a%20b.png") == path.read_bytes()
    _, local = resolve(path.as_uri())
    assert local == str(path)
