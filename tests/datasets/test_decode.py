"""The image decoder: RGB as stored, 8-bit modes converted as Pillow converts them, 16-bit ones scaled as
MATLAB's im2uint8 (see also test_hardening), and its errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from datasets_io.decode import ImageDecodeError, decode_bytes, im2uint8, read_image


def _encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _pixels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (17, 23, 3), dtype=np.uint8)


def test_rgb_png_round_trips_as_a_contiguous_array():
    pixels = _pixels()
    got = decode_bytes(_encoded(Image.fromarray(pixels)))
    assert got.dtype == np.uint8 and got.shape == (17, 23, 3) and got.flags.c_contiguous
    assert np.array_equal(got, pixels)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK"])
def test_other_modes_are_converted_like_pillow(mode):
    image = Image.fromarray(_pixels(1)).convert(mode)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    data = _encoded(image, fmt)
    with Image.open(io.BytesIO(data)) as reopened:
        want = np.asarray(reopened.convert("RGB"))
    got = decode_bytes(data)
    assert got.shape == (17, 23, 3) and np.array_equal(got, want)


def test_16_bit_mode_is_scaled_not_clipped():
    """8-bit values stored in a 16-bit image are dark (v / 257), not clipped to themselves as convert("RGB") does."""
    grey = np.asarray(Image.fromarray(_pixels(1)).convert("L"))
    got = decode_bytes(_encoded(Image.fromarray(grey.astype(np.uint16)), "TIFF"))
    assert np.array_equal(got, np.repeat(im2uint8(grey)[..., None], 3, axis=2)) and got.max() <= 1


def test_errors_name_the_file(tmp_path):
    with pytest.raises(ImageDecodeError, match="missing.png: cannot read") as missing:
        read_image(tmp_path / "missing.png")
    assert missing.value.reason.startswith("cannot read")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty.png: empty file"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "text.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageDecodeError, match="not a recognised image format"):
        read_image(tmp_path / "text.png")
    (tmp_path / "cut.png").write_bytes(_encoded(Image.fromarray(_pixels(2)))[:200])
    with pytest.raises(ImageDecodeError, match=r"cut.png: cannot decode \("):
        read_image(tmp_path / "cut.png")
