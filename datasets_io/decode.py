"""The one image decoder: encoded bytes or a path → uint8 H×W×3 RGB array.

16-bit images (greyscale ``I;16``/``I;16B``/``I`` and the like) are scaled to 8 bits as MATLAB's ``im2uint8``
does, ``round(v * 255 / 65535)``, not clipped to 255 as Pillow's ``convert("RGB")`` would. Pillow itself reduces
16-bit RGB(A) and grey+alpha images to 8 bits when it reads them (keeping each sample's high byte, within one
level of ``im2uint8``); those are reported as 16-bit too (:attr:`DecodedImage.source_bits`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

#: Guard against decompression bombs: larger images are refused rather than decoded.
MAX_PIXELS = 200_000_000


#: Modes in which Pillow hands over 16-bit samples (``I`` is read as 16-bit data: values 0..65535).
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I;16S", "I;16BS", "I;16LS", "I"})
_UINT16_MAX = 65535
#: Raw-mode endings of 16 bits per sample (``RGB;16B`` and the like; ``BGR;16`` is 16 bits per *pixel*).
_SIXTEEN_BIT_RAW_SUFFIXES = (";16B", ";16L", ";16N")


class ImageDecodeError(ValueError):
    """An image that is missing, unreadable or not a decodable picture.

    ``str()`` names the file; ``reason`` is the same message without it (for grouping failures).
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class DecodedImage:
    """A decoded picture and the sample depth of its file."""

    #: Contiguous uint8 H×W×3 RGB.
    pixels: np.ndarray
    #: Bits per sample in the file: 16 for 16-bit images (scaled to 8 bits), else 8.
    source_bits: int


def im2uint8(values: np.ndarray) -> np.ndarray:
    """16-bit samples → 8 bits as MATLAB's ``im2uint8``: ``round(v * 255 / 65535)``, i.e. ``round(v / 257)``.

    65535 = 255 × 257, and ``v / 257`` is never halfway between two integers (257 is odd), so the integer form
    ``(v + 128) // 257`` is exact; ``v8 * 257`` maps back to ``v8``.
    """
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _rawmodes(image: Image.Image) -> list[str]:
    """The raw modes of the image's tiles (read before ``load()``, which clears them)."""
    modes = []
    for tile in image.tile:
        args = tile.args if hasattr(tile, "args") else tile[3]
        modes.append(args if isinstance(args, str) else str(args[0]) if args else "")
    return modes


def _sixteen_bit_rgb(image: Image.Image, name: str) -> np.ndarray:
    """A 16-bit single-channel image as 8-bit RGB (grey replicated); values must lie in 0..65535."""
    values = np.asarray(image)
    if values.size and (int(values.min()) < 0 or int(values.max()) > _UINT16_MAX):
        raise ImageDecodeError(name, f"mode {image.mode} samples outside 0..{_UINT16_MAX} (not a 16-bit image)")
    return np.repeat(im2uint8(values)[..., None], 3, axis=2)


def pixels_of(image: Image.Image, name: str = "<image>") -> np.ndarray:
    """A loaded Pillow image as uint8 H×W×3 RGB: 16-bit single-channel samples scaled as ``im2uint8``, every other
    mode converted by Pillow (the conversion :func:`decode_image` applies to every file)."""
    if image.mode in SIXTEEN_BIT_MODES:
        return _sixteen_bit_rgb(image, name)
    # An RGB image is read as it is: ``convert("RGB")`` would only copy it (a sixth of the decode time).
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.asarray(rgb, dtype=np.uint8)


def decode_image(data: bytes, name: str = "<bytes>") -> DecodedImage:
    """Decode one image (any format Pillow reads) to 8-bit RGB, noting whether its file held 16-bit samples."""
    if not data:
        raise ImageDecodeError(name, "empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageDecodeError(name, f"{image.width}×{image.height} exceeds {MAX_PIXELS} pixels")
            rawmodes = _rawmodes(image)
            sixteen = image.mode in SIXTEEN_BIT_MODES or any(m.endswith(_SIXTEEN_BIT_RAW_SUFFIXES) for m in rawmodes)
            image.load()
            array = pixels_of(image, name)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(name, "cannot decode (not a recognised image format)") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(name, f"cannot decode ({type(exc).__name__}: {exc})") from exc
    return DecodedImage(np.ascontiguousarray(array), 16 if sixteen else 8)


def decode_bytes(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode one image (any format Pillow reads) to a contiguous uint8 H×W×3 RGB array.

    Every image a benchmark reads, local or remote, is decoded through this function.
    """
    return decode_image(data, name).pixels


def _file_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageDecodeError(str(path), f"cannot read ({exc.strerror or exc})") from exc


def read_image(path: str | Path) -> np.ndarray:
    """Read and decode the image at ``path`` (a missing file is an :class:`ImageDecodeError`)."""
    p = Path(path)
    return decode_bytes(_file_bytes(p), str(p))


def read_decoded(path: str | Path) -> DecodedImage:
    """:func:`read_image` with the file's sample depth (for ``iqabench datasets verify``)."""
    p = Path(path)
    return decode_image(_file_bytes(p), str(p))


#: How :func:`resize_shorter_side` resamples, as pyiqa's ``augment: {resize: N}`` does (torchvision's ``Resize(N)``
#: on a PIL image): Pillow's antialiased bilinear filter, the longer side truncated (``int(N * long / short)``).
#: Part of every cell key of a resized dataset (:func:`pixel_transforms`): a change here must change the text.
RESIZE_METHOD = "pillow-bilinear, longer side int(size * long / short)"


def shorter_side_size(width: int, height: int, size: int) -> tuple[int, int]:
    """``(new_width, new_height)`` with the shorter side ``size`` and the longer one truncated, as torchvision's
    ``Resize(size)`` computes them (the order of operations, ``size * long / short``, kept)."""
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / short)
    return (size, new_long) if width <= height else (new_long, size)


def resize_shorter_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so that the shorter side is ``size`` pixels, exactly as pyiqa's ``augment: {resize: N}`` does (see
    :data:`RESIZE_METHOD`); an image already of that size is returned as it is (torchvision skips it too)."""
    h, w = image.shape[:2]
    new_w, new_h = shorter_side_size(w, h, size)
    if (new_w, new_h) == (w, h):
        return image
    resized = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def pixel_transforms(resize: int | None) -> dict[str, object]:
    """What is done to the decoded pixels before scoring (for the cell key): empty when they are scored as
    decoded, else the resize with its method, so that a change of method never reuses cells of the old one."""
    return {"resize": resize, "method": RESIZE_METHOD} if resize else {}
