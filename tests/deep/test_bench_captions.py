"""clipscore in a benchmark: captions from a dataset's meta-info column or a ``--metric_opt`` caption file.

A tiny made-up NR dataset (three random images, a ``caption`` column) and the seeded random CLIP ViT-B/32. The
plan tests run in-process (no Ray); one test runs ``iqabench bench`` end to end and checks each image was scored
against its own caption.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

import metrics
from metrics.base import images_to_tensor
from orchestrator.run.plan import PlanError, build_plan
from orchestrator.run.request import BenchmarkRequest
from tests._helpers.random_weights import offline_env

REPO = Path(__file__).resolve().parents[2]
NAMES = ("a.png", "b.png", "c.png")
CANDIDATES = ("a dog on grass", "a city street at night", "two parrots on a branch", "a red car", "houses by a lake",
              "a bowl of fruit", "snow on mountains", "a crowded beach", "an old wooden door", "a plate of pasta",
              "children playing football", "a sailing boat", "a cat asleep on a sofa", "a bridge over a river",
              "a bicycle against a wall", "a lighthouse in the fog")


@pytest.fixture()
def candidate_images(tid_pairs) -> list[np.ndarray]:
    """The calibration images (distorted and reference) at a quarter of their size (96×128), uint8 H×W×3."""
    small = torch.nn.functional.interpolate(torch.cat(tid_pairs), scale_factor=0.25, mode="area")
    return [(image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy() for image in small]


def _captioned_images(candidates: list[np.ndarray]) -> tuple[list[np.ndarray], dict[str, str]]:
    """Three images and a caption for each, chosen among candidates so that each image scores clearly above 0 with
    its own caption, each caption its best remaining one (random weights put most cosines near 0, where the score
    is clipped): a caption handed to the wrong image shows."""
    model = metrics.create("clipscore")
    with torch.inference_mode():
        table = torch.stack([model.score_captions(images_to_tensor([image] * len(CANDIDATES)), list(CANDIDATES))
                             for image in candidates])
    images: list[np.ndarray] = []
    chosen: list[int] = []
    for image, row in zip(candidates, table):
        best = max((c for c in range(len(CANDIDATES)) if c not in chosen), key=lambda c: float(row[c]))
        if row[best] > 0.01 and len(images) < len(NAMES):
            images.append(image)
            chosen.append(best)
    assert len(images) == len(NAMES), table
    return images, {name: CANDIDATES[c] for name, c in zip(NAMES, chosen)}


def _dataset(root: Path, captions: dict[str, str], caption_column: str | None = "caption",
             images: list[np.ndarray] | None = None) -> Path:
    """The dataset under ``root`` (meta-info columns image, mos, caption) and its option file."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["image,mos,caption"]
    gen = np.random.default_rng(5)
    images = images or [(gen.random((60 + 4 * i, 72, 3)) * 255).astype(np.uint8) for i in range(len(NAMES))]
    for i, (name, image) in enumerate(zip(NAMES, images)):
        Image.fromarray(image).save(root / name)
        rows.append(f"{name},{i + 1},{captions.get(name, '')}")
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    entry = {"type": "GeneralNRDataset", "dataroot_target": str(root), "meta_info_file": str(root / "meta.csv")}
    if caption_column:
        entry["caption_column"] = caption_column
    opt = root / "data_opt.yml"
    opt.write_text(yaml.safe_dump({"tiny": entry}))
    return opt


def _plan(tmp_path: Path, opt: Path, metric_opt: Path | None = None, names=("clipscore", "entropy")):
    return build_plan(BenchmarkRequest(metrics=names, datasets=("tiny",), data_opt=opt, metric_opt=metric_opt,
                                       out=tmp_path / "out"))


def test_a_dataset_without_captions_is_refused_when_planned(tmp_path, deep_env):
    opt = _dataset(tmp_path / "tiny", {}, caption_column=None)
    with pytest.raises(PlanError) as raised:
        _plan(tmp_path, opt)
    lines = [line for line in str(raised.value).splitlines() if "clipscore" in line]
    assert len(lines) == 1 and "dataset 'tiny' has none" in lines[0] and "caption_column" in lines[0], raised.value


def test_captions_travel_with_the_cell_and_enter_its_key(tmp_path, deep_env):
    deep_env.ensure("ViT-B-32.pt")
    captions = {"a.png": "one", "b.png": "two", "c.png": "three"}
    plan = _plan(tmp_path, _dataset(tmp_path / "tiny", captions))
    cells = {cell.metric: cell for cell in plan.cells}
    assert cells["clipscore"].captions == ("one", "two", "three") and cells["entropy"].captions is None

    changed = _plan(tmp_path, _dataset(tmp_path / "tiny", {**captions, "b.png": "two changed"}))
    changed_cells = {cell.metric: cell for cell in changed.cells}
    assert changed_cells["clipscore"].key != cells["clipscore"].key  # other captions: scored again
    assert changed_cells["entropy"].key == cells["entropy"].key  # a metric without captions is not

    # a caption file in --metric_opt takes the place of the column
    caption_file = tmp_path / "captions.yml"
    caption_file.write_text(yaml.safe_dump({"c.png": "gamma", "a.png": "alpha", "b.png": "beta"}))
    metric_opt = tmp_path / "metric_opt.yml"
    metric_opt.write_text(yaml.safe_dump({"clipscore": {"captions": str(caption_file)}}))
    from_file = {c.metric: c for c in _plan(tmp_path, _dataset(tmp_path / "tiny", captions), metric_opt).cells}
    assert from_file["clipscore"].captions == ("alpha", "beta", "gamma")
    assert from_file["clipscore"].options == cells["clipscore"].options  # captions: is not a metric option


def test_images_without_a_caption_are_named_when_planned(tmp_path, deep_env):
    deep_env.ensure("ViT-B-32.pt")
    with pytest.raises(PlanError, match=r"2 image\(s\) without a caption in column 'caption': 'a.png', 'c.png'"):
        _plan(tmp_path, _dataset(tmp_path / "tiny", {"b.png": "two"}))
    caption_file = tmp_path / "captions.yml"
    caption_file.write_text(yaml.safe_dump({"a.png": "alpha"}))
    metric_opt = tmp_path / "metric_opt.yml"
    metric_opt.write_text(yaml.safe_dump({"clipscore": {"captions": str(caption_file)}}))
    with pytest.raises(PlanError, match="2 image\\(s\\) without a caption in its caption file: 'b.png', 'c.png'"):
        _plan(tmp_path, _dataset(tmp_path / "tiny", {}, caption_column=None), metric_opt)
    metric_opt.write_text(yaml.safe_dump({"entropy": {"captions": str(caption_file)}}))
    with pytest.raises(PlanError, match="metric 'entropy' takes no captions"):
        _plan(tmp_path, _dataset(tmp_path / "tiny", {}, caption_column=None), metric_opt)


@pytest.mark.timeout(600)
def test_bench_scores_each_image_against_its_caption(tmp_path, deep_env, candidate_images):
    deep_env.ensure("ViT-B-32.pt")
    images, assigned_captions = _captioned_images(candidate_images)
    opt = _dataset(tmp_path / "tiny", assigned_captions, images=images)
    env = {**os.environ, **offline_env(deep_env.torch_home, deep_env.hf_cache)}
    env.pop("RAY_ADDRESS", None)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "out"
    command = [sys.executable, "-m", "jobs.cli", "bench", "-m", "clipscore", "-d", "tiny", "--data_opt", str(opt),
               "--num_workers", "1", "--batch_size", "2", "--bootstrap_resamples", "20", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=550)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    scores = pd.read_parquet(out / "scores" / "tiny" / "clipscore.parquet").set_index("dist_name")
    assert sorted(scores.index) == list(NAMES) and scores["error"].isna().all(), scores

    model = metrics.create("clipscore")
    for name, image in zip(NAMES, images):
        with torch.inference_mode():
            own = float(model.score_captions(images_to_tensor([image]), [assigned_captions[name]])[0])
            others = [float(model.score_captions(images_to_tensor([image]), [caption])[0])
                      for other, caption in assigned_captions.items() if other != name]
        assert scores.loc[name, "score"] == pytest.approx(own, rel=1e-5, abs=1e-7), name
        assert own > 0.01 and all(abs(own - other) > 1e-4 for other in others), (name, own, others)


def test_score_takes_captions_from_a_caption_file_only(tmp_path, deep_env):
    """``iqabench score`` reads a folder (no meta-info): a caption file gives the captions, else one line refuses."""
    from orchestrator.run.request import ScoreRequest
    from orchestrator.run.score_plan import build_score_plan

    deep_env.ensure("ViT-B-32.pt")
    folder = tmp_path / "tiny"
    _dataset(folder, {})
    request = {"target": str(folder), "metrics": ("clipscore",), "out": tmp_path / "out"}
    with pytest.raises(PlanError) as raised:
        build_score_plan(ScoreRequest(**request))
    lines = [line for line in str(raised.value).splitlines() if "clipscore" in line]
    assert len(lines) == 1 and "dataset 'images' has none" in lines[0], raised.value

    caption_file = tmp_path / "captions.yml"
    caption_file.write_text(yaml.safe_dump({"b.png": "beta", "a.png": "alpha", "c.png": "gamma"}))
    metric_opt = tmp_path / "metric_opt.yml"
    metric_opt.write_text(yaml.safe_dump({"clipscore": {"captions": str(caption_file)}}))
    plan = build_score_plan(ScoreRequest(**request, metric_opt=metric_opt))
    (cell,) = plan.cells
    names = plan.passes[0].manifest.table["dist_name"].to_pylist()
    assert dict(zip(names, cell.captions)) == {"a.png": "alpha", "b.png": "beta", "c.png": "gamma"}
