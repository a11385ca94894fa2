"""The embedded ``demo`` dataset: four CC0/public-domain photographs, each distorted 4 ways at 5 severities.

Written on first use in pyiqa's full-reference layout::

    <root>/ref/<photo>.png
    <root>/dist/<photo>_<distortion>_<level>.png
    <root>/meta_info_demo.csv          ref_name,dist_name,mos

Its "MOS" is the designed severity ladder (level 1 → 5.0 … level 5 → 1.0, higher is better), not human
opinion: it shows that the pipeline works and ranks metrics by how well they follow a monotone distortion
ladder, nothing more. Generation is deterministic (seeded noise, fixed JPEG encoder settings) and atomic
(written to a temporary folder, then renamed); a version stamp regenerates it when the recipe changes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from datasets_io.spec import DatasetSpec

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
LEVELS = 5
#: Severity parameters per distortion, level 1 (mild) to level 5 (strong).
DISTORTIONS: dict[str, tuple[float, ...]] = {
    "gblur": (0.6, 1.2, 2.0, 3.0, 4.5),  # Gaussian blur sigma (pixels)
    "wnoise": (0.01, 0.025, 0.05, 0.08, 0.12),  # white noise std (fraction of 255)
    "jpeg": (50, 30, 18, 10, 5),  # JPEG quality
    "contrast": (0.85, 0.70, 0.55, 0.40, 0.28),  # contrast factor around the mean grey level
}
RECIPE_VERSION = "1"
META_FILE = "meta_info_demo.csv"
STAMP_FILE = ".demo_version.json"


def default_root() -> Path:
    base = os.environ.get("IQABENCH_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "iqabench")
    return Path(base) / "datasets" / "demo"


def _asset_bytes(photo: str) -> bytes:
    return resources.files("datasets_io").joinpath("assets", f"{photo}.png").read_bytes()


def _stamp() -> dict[str, str]:
    assets = hashlib.sha256(b"".join(hashlib.sha256(_asset_bytes(p)).digest() for p in PHOTOS)).hexdigest()
    return {"recipe": RECIPE_VERSION, "assets": assets, "distortions": json.dumps(DISTORTIONS, sort_keys=True)}


def distort(image: np.ndarray, kind: str, level: int, seed: int) -> np.ndarray:
    """Apply distortion ``kind`` at ``level`` (1..5) to a uint8 H×W×3 image."""
    value = DISTORTIONS[kind][level - 1]
    if kind == "gblur":
        return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=value)), dtype=np.uint8)
    if kind == "wnoise":
        noise = np.random.default_rng(seed).normal(0.0, value * 255.0, size=image.shape)
        return np.clip(np.round(image.astype(np.float64) + noise), 0, 255).astype(np.uint8)
    if kind == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=int(value), subsampling=2, optimize=False)
        return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.uint8)
    if kind == "contrast":
        mean = image.astype(np.float64).mean()
        return np.clip(np.round(mean + value * (image.astype(np.float64) - mean)), 0, 255).astype(np.uint8)
    raise ValueError(f"unknown demo distortion {kind!r}")


def _write(root: Path) -> None:
    (root / "ref").mkdir(parents=True)
    (root / "dist").mkdir()
    rows = []
    for p_index, photo in enumerate(PHOTOS):
        ref = np.asarray(Image.open(io.BytesIO(_asset_bytes(photo))).convert("RGB"), dtype=np.uint8)
        Image.fromarray(ref).save(root / "ref" / f"{photo}.png")
        for d_index, kind in enumerate(DISTORTIONS):
            for level in range(1, LEVELS + 1):
                seed = 1000 * p_index + 10 * d_index + level
                name = f"{photo}_{kind}_{level}.png"
                Image.fromarray(distort(ref, kind, level, seed)).save(root / "dist" / name)
                rows.append((f"{photo}.png", name, float(LEVELS + 1 - level)))
    with open(root / META_FILE, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ref_name", "dist_name", "mos"])
        writer.writerows(rows)
    (root / STAMP_FILE).write_text(json.dumps(_stamp(), sort_keys=True), encoding="utf-8")


def _read_stamp(path: Path) -> dict | None:
    """The stamp of a generated copy; ``None`` when absent or damaged (the copy is then regenerated)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def ensure_demo(root: str | Path | None = None) -> Path:
    """Generate the demo dataset under ``root`` unless an up-to-date copy is there; return the root."""
    root = Path(root) if root is not None else default_root()
    if _read_stamp(root / STAMP_FILE) == _stamp():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".demo-", dir=root.parent))
    try:
        _write(staging / "demo")
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging / "demo", root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def demo_spec(root: str | Path | None = None) -> DatasetSpec:
    """The demo's dataset entry (generating the images if needed)."""
    root = ensure_demo(root)
    return DatasetSpec(
        key="demo",
        name="demo",
        type="GeneralFRDataset",
        dataroot_target=str(root / "dist"),
        dataroot_ref=str(root / "ref"),
        meta_info_file=str(root / META_FILE),
        mos_range=(1.0, 5.0),
        lower_better=False,
        source="builtin demo",
    )
