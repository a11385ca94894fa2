"""Proof without the published weights: ours and pyiqa 0.1.16 load the same random files and agree.

For each metric, random weight files of the published layout are written under the published names into the
caches both implementations read (see ``random_weights.py``); both are run on random images, an odd size and
the five calibration pairs (down-scaled by 4: VGG-16 trunks take ~15 s per full-size pair on one loaded CPU core), and must agree to a relative difference
of 1e-4 (float32). pyiqa is a test-only dependency, imported only here.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import metrics
from metrics.deep.weights import weight_files

RTOL = 1e-4
METRICS = ["lpips", "lpips-vgg", "lpips+", "lpips-vgg+", "dists"]
#: files the reference implementation reads on top of ours (it builds a backbone that the checkpoint overwrites).
REFERENCE_ONLY_FILES: dict[str, list[str]] = {}


def _inputs(tid_pairs: tuple[torch.Tensor, torch.Tensor]) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(7)
    dist, ref = tid_pairs
    small_dist = F.interpolate(dist, scale_factor=0.25, mode="area")
    small_ref = F.interpolate(ref, scale_factor=0.25, mode="area")
    noisy = (torch.rand(2, 3, 64, 80, generator=gen) * 0.2 + torch.rand(2, 3, 1, 1, generator=gen) * 0.8)
    return [
        ("random 64x80", torch.rand(2, 3, 64, 80, generator=gen), torch.rand(2, 3, 64, 80, generator=gen)),
        ("odd 67x93", torch.rand(1, 3, 67, 93, generator=gen), torch.rand(1, 3, 67, 93, generator=gen)),
        ("related 64x80", noisy.clamp(0, 1), (noisy + 0.05 * torch.randn(2, 3, 64, 80, generator=gen)).clamp(0, 1)),
        ("calibration pairs /4", small_dist, small_ref),
    ]


def max_relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float(((ours - theirs).abs() / theirs.abs().clamp_min(1e-12)).max())


@pytest.mark.parametrize("name", METRICS)
def test_same_function_as_reference(name, deep_env, tid_pairs):
    deep_env.ensure(*[wf.filename for wf in weight_files(name)], *REFERENCE_ONLY_FILES.get(name, []))
    pyiqa = pytest.importorskip("pyiqa")
    theirs_model = pyiqa.create_metric(name, device="cpu")
    ours_model = metrics.create(name)
    assert set(ours_model.weight_sha256) == {wf.filename for wf in weight_files(name)}
    worst = 0.0
    for label, dist, ref in _inputs(tid_pairs):
        with torch.inference_mode():
            ours = ours_model(dist, ref) if ours_model.spec.mode == "FR" else ours_model(dist)
            theirs = (theirs_model(dist, ref) if ours_model.spec.mode == "FR" else theirs_model(dist)).flatten()
        assert ours.shape == theirs.shape == (dist.shape[0],), label
        assert torch.isfinite(ours).all(), label
        assert ours.numel() == 1 or ours.std() > 0, f"{label}: degenerate scores {ours.tolist()}"
        diff = max_relative_difference(ours, theirs.float())
        worst = max(worst, diff)
        assert diff <= RTOL, f"{name} on {label}: ours {ours.tolist()} vs pyiqa {theirs.tolist()}"
    print(f"\n{name}: max relative difference vs pyiqa 0.1.16 = {worst:.2e}")
