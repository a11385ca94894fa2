"""The images the efficiency job times: the demo photographs scaled to the table's size, with distorted copies.

pyiqa's efficiency table uses photographs of about 1080×800; the demo's CC0 photographs (384×256) are scaled up
(bicubic) to ``width × height`` and written as PNG references, each with two distorted versions (JPEG quality
30, and Gaussian blur + seeded noise) written as PNG. Generation is deterministic and atomic, and skipped when
the folder already holds the same recipe. Every pair has the same size, so batches stack.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from datasets_io.demo import PHOTOS

#: (width, height) of pyiqa's efficiency images.
DEFAULT_SIZE = (1080, 800)
RECIPE = "1"
STAMP = "recipe.json"


def _photo_bytes(photo: str) -> bytes:
    return resources.files("datasets_io").joinpath("assets", f"{photo}.png").read_bytes()


def _distorted(image: Image.Image, kind: str, seed: int) -> Image.Image:
    if kind == "jpeg":
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=30)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            return decoded.convert("RGB")
    blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float64)
    noise = np.random.default_rng(seed).normal(0.0, 0.03 * 255, blurred.shape)
    return Image.fromarray(np.clip(blurred + noise, 0, 255).round().astype(np.uint8))


def efficiency_pairs(root: Path, size: tuple[int, int] = DEFAULT_SIZE) -> list[tuple[Path, Path]]:
    """(distorted, reference) PNG paths under ``root/<W>x<H>``, generated on first use."""
    width, height = size
    if width < 8 or height < 8:
        raise ValueError(f"image size must be at least 8×8, got {width}×{height}")
    folder = Path(root) / f"{width}x{height}"
    stamp = {"recipe": RECIPE, "photos": list(PHOTOS), "size": [width, height]}
    names = [(f"{photo}_{kind}.png", f"{photo}.png") for photo in PHOTOS for kind in ("jpeg", "blurnoise")]
    pairs = [(folder / dist, folder / ref) for dist, ref in names]
    stamp_path = folder / STAMP
    if stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp and all(d.is_file() for d, _ in pairs):
        return pairs
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".efficiency-", dir=folder.parent))
    try:
        for index, photo in enumerate(PHOTOS):
            with Image.open(io.BytesIO(_photo_bytes(photo))) as source:
                reference = source.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
            reference.save(work / f"{photo}.png")
            for kind in ("jpeg", "blurnoise"):
                _distorted(reference, kind, seed=index).save(work / f"{photo}_{kind}.png")
        (work / STAMP).write_text(json.dumps(stamp))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(work, folder)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return pairs
