"""The one image decoder: encoded bytes or a path → uint8 H×W×3 RGB array."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

#: Guard against decompression bombs: larger images are refused rather than decoded.
MAX_PIXELS = 200_000_000


class ImageDecodeError(ValueError):
    """An image that is missing, unreadable or not a decodable picture.

    ``str()`` names the file; ``reason`` is the same message without it (for grouping failures).
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def decode_bytes(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode one image (any format Pillow reads) to a contiguous uint8 H×W×3 RGB array."""
    if not data:
        raise ImageDecodeError(name, "empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageDecodeError(name, f"{image.width}×{image.height} exceeds {MAX_PIXELS} pixels")
            image.load()
            # An RGB image is read as it is: ``convert("RGB")`` would only copy it (a sixth of the decode time).
            rgb = image if image.mode == "RGB" else image.convert("RGB")
            array = np.asarray(rgb, dtype=np.uint8)
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(name, "cannot decode (not a recognised image format)") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(name, f"cannot decode ({type(exc).__name__}: {exc})") from exc
    return np.ascontiguousarray(array)


def read_image(path: str | Path) -> np.ndarray:
    """Read and decode the image at ``path`` (a missing file is an :class:`ImageDecodeError`)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageDecodeError(str(p), f"cannot read ({exc.strerror or exc})") from exc
    return decode_bytes(data, str(p))


def resize_shorter_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so that the shorter side is ``size`` pixels (bicubic, as pyiqa's ``augment: {resize: N}``)."""
    h, w = image.shape[:2]
    if min(h, w) == size:
        return image
    scale = size / min(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.uint8)
