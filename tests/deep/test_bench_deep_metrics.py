"""Every deep metric runs in ``iqabench bench -d demo`` from pyiqa-format weight files (random, seeded offline).

A real ``iqabench bench`` process (its own local Ray cluster) with the caches seeded by ``random_weights``:
the deep metrics' actors load the files from the Hugging Face cache layout and torchvision's cache, score demo
pairs, and every cell is filled. Their memory reservations do not all fit this machine at once, so the run
also goes through the planner's waves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import metrics
from metrics.registry import module_of

REPO = Path(__file__).resolve().parents[2]
#: Metrics that score many test crops of each image (option ``crops``).
CROP_SAMPLING = ("maniqa", "maniqa-pipal", "maniqa-kadid", "ahiq")
#: Metrics averaging a fixed grid of test crops (TReS: 50 ResNet-50 crops an image), run on one crop here too.
CROP_GRID = ("tres", "tres-flive")


def deep_metric_names() -> list[str]:
    """Every deep metric a benchmark can run here: those that need a caption per image, and those that cannot run
    on this machine (``MetricSpec.unavailable``: Q-Align's 8-bit and 4-bit variants without CUDA and
    bitsandbytes), are refused when planned."""
    return [name for name in metrics.available()
            if module_of(name).startswith("metrics.deep.") and not metrics.get_spec(name).needs_captions
            and not (metrics.get_spec(name).unavailable and metrics.get_spec(name).unavailable())]


#: The seeded Q-Align and Compare2Score repos are reduced models (tests/_helpers/random_weights_qalign.py,
#: random_weights_compare2score.py); the registry reserves the host memory the 7B checkpoints need, more than this
#: machine has, so this run reserves what the reduced ones need.
RESOURCE_OVERRIDES = "".join(f"{name}:\n  resources: {{memory_mb: 2000}}\n" for name in ("qalign", "compare2score"))


@pytest.mark.timeout(900)
def test_every_deep_metric_fills_its_cells_in_bench(tmp_path, deep_env):
    names = deep_metric_names()
    assert {"lpips", "dists", "topiq_fr", "topiq_nr", "musiq", "hyperiqa", "clipiqa", "clipiqa+_vitL14_512",
            "liqe_mix", *CROP_SAMPLING, "laion_aes"} <= set(names)
    env = {**os.environ, **deep_env.ensure_all()}
    env.pop("RAY_ADDRESS", None)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "out"
    # The crop metrics run one test crop instead of 20 (50 for TReS): the path through bench is the same, the
    # compute (ViT-B/8 at 130 GFLOP a crop) 20 times smaller.
    few_crops = "".join(f"{name}: {{crops: 1}}\n" for name in names if name in CROP_SAMPLING + CROP_GRID)
    options = tmp_path / "resources.yml"
    options.write_text(RESOURCE_OVERRIDES + few_crops)
    command = [sys.executable, "-m", "jobs.cli", "bench", "-m", *names, "--metric_opt", str(options),
               "-d", "demo", "--limit", "2",
               "--num_workers", "1", "--batch_size", "2", "--bootstrap_resamples", "20", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=850)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["metric"]) == sorted(names)
    assert (summary["n"] == 2).all(), summary[["metric", "n", "n_failed", "failure_reasons"]].to_string()
    assert (summary["n_failed"] == 0).all(), summary[["metric", "failure_reasons"]].to_string()
    for name in names:
        scores = pd.read_parquet(out / "scores" / "demo" / f"{name}.parquet")
        assert scores["score"].notna().all() and len(scores) == 2, name


def test_a_metric_that_needs_captions_is_refused_when_planned(tmp_path, deep_env):
    """clipscore needs a caption per image, which the demo dataset does not have: one line says so, and the run
    stops before any weights or images are touched."""
    env = dict(os.environ)  # offline, with no CLIP weights cached
    env.pop("RAY_ADDRESS", None)
    command = [sys.executable, "-m", "jobs.cli", "bench", "-m", "clipscore", "psnr", "-d", "demo", "--limit", "2",
               "--out", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "clipscore" in line]
    assert len(lines) == 1 and "caption" in lines[0], done.stdout[-2000:] + done.stderr[-2000:]
    assert not (tmp_path / "out" / "summary.csv").exists()
