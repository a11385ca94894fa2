"""pyiqa's two public example option files, verbatim, and a made-up LIVE dataset laid out as the data file expects.

``EXAMPLE_METRIC_OPTS`` is ``options/example_benchmark_metric_opts.yml`` and ``EXAMPLE_DATA_OPTS``
``options/example_benchmark_data_opts.yml`` of chaofengc/IQA-PyTorch, character for character (no newline at the
end of the metric file, as published). The metric file's ``custom_metric`` entry is a template (its
``[other possible options]`` line is not YAML), so tests replace that entry with a real one
(:func:`metric_opts_with_custom`), keeping the ``psnr-y`` entry unchanged.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLE_METRIC_OPTS = """# for example, psnr with y channel
psnr-y:
  metric_opts:
    type: PSNR
    test_y_channel: true
  metric_mode: FR

custom_metric:
  metric_opts:
    type: CustomModel
    pretrained: false
    pretrained_model_path: /path/to/pretrained_model.pth
    [other possible options]
  metric_mode: FR"""

EXAMPLE_DATA_OPTS = """# live split 1 test
live-split1:
  name: LIVE
  type: GeneralFRDataset
  dataroot_target: './datasets/LIVEIQA_release2'
  meta_info_file: './datasets/meta_info/meta_info_LIVEIQADataset.csv'
  split_file: './datasets/meta_info/live_123.pkl'
  split_index: 1
  phase: val
  dmos_max: 100
"""

#: The published file's ``custom_metric`` entry (everything after the psnr-y entry).
_CUSTOM_ENTRY = EXAMPLE_METRIC_OPTS[EXAMPLE_METRIC_OPTS.index("custom_metric:"):]


def metric_opts_with_custom(custom_entry: str) -> str:
    """The published metric file with its template ``custom_metric`` entry replaced by ``custom_entry``."""
    return EXAMPLE_METRIC_OPTS.replace(_CUSTOM_ENTRY, custom_entry)


#: The made-up LIVE: reference names, distortion folders and noise levels (σ in grey levels) of its rows.
LIVE_REFS = ("bikes.bmp", "house.bmp", "parrots.bmp", "sailing.bmp")
LIVE_NOISE = (("wn", 4.0), ("wn", 12.0), ("gblur", 24.0), ("wn", 40.0))
#: Rows of split 1 per phase (0-based rows of the meta-info, as pyiqa's split pickles hold them).
LIVE_SPLIT = {1: {"train": list(range(0, 8)), "val": list(range(8, 14)), "test": [14, 15]},
              2: {"train": list(range(8, 16)), "val": list(range(0, 6)), "test": [6, 7]}}


def make_live(root: Path, size: int = 40) -> list[tuple[str, str, float]]:
    """A made-up LIVE under ``root/datasets`` at the example file's paths: 4 references and 16 distorted images
    (Gaussian noise of growing σ), meta-info ``ref_name,dist_name,dmos`` (DMOS grows with σ) and the split pickle
    :data:`LIVE_SPLIT`. Returns the meta-info rows."""
    rng = np.random.default_rng(7)
    base = root / "datasets" / "LIVEIQA_release2"
    (base / "refimgs").mkdir(parents=True)
    rows: list[tuple[str, str, float]] = []
    for r, ref_name in enumerate(LIVE_REFS):
        y, x = np.mgrid[0:size, 0:size]
        ref = np.stack([(x * (3 + r) + y * 2) % 256, (y * (5 - r) + 40 * r) % 256, (x + y + 30 * r) % 256], -1)
        ref = ref.astype(np.uint8)
        Image.fromarray(ref).save(base / "refimgs" / ref_name)
        for d, (folder, sigma) in enumerate(LIVE_NOISE):
            noisy = np.clip(ref + rng.normal(0, sigma, ref.shape), 0, 255).astype(np.uint8)
            (base / folder).mkdir(exist_ok=True)
            dist_name = f"{folder}/img{r * len(LIVE_NOISE) + d + 1}.bmp"
            Image.fromarray(noisy).save(base / dist_name)
            rows.append((f"refimgs/{ref_name}", dist_name, round(sigma * 1.5 + r * 0.7 + d * 0.3, 3)))
    meta = root / "datasets" / "meta_info"
    meta.mkdir(parents=True)
    lines = ["ref_name,dist_name,dmos"] + [f"{a},{b},{c}" for a, b, c in rows]
    (meta / "meta_info_LIVEIQADataset.csv").write_text("\n".join(lines) + "\n")
    (meta / "live_123.pkl").write_bytes(pickle.dumps(LIVE_SPLIT))
    return rows
