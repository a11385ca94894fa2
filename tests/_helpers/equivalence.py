"""Shared driver of the per-metric equivalence tests: ours and pyiqa 0.1.16 on identical random weight files.

pyiqa is a test-only dependency, imported only by these tests.
"""

from __future__ import annotations

from typing import Callable, Iterable

import pytest
import torch
import torch.nn.functional as F

import metrics
from metrics.deep.weights import weight_files

RTOL = 1e-4
Case = tuple[str, torch.Tensor, torch.Tensor]


def max_relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float(((ours - theirs).abs() / theirs.abs().clamp_min(1e-12)).max())


def random_cases(sizes: Iterable[tuple[int, int, int]], seed: int = 7) -> list[Case]:
    """(label, dist, ref) per (n, h, w): a random image and a noisy copy of it as its reference."""
    gen = torch.Generator().manual_seed(seed)
    cases = []
    for n, h, w in sizes:
        base = torch.rand(n, 3, h, w, generator=gen) * 0.6 + torch.rand(n, 3, 1, 1, generator=gen) * 0.4
        noisy = (base + 0.08 * torch.randn(n, 3, h, w, generator=gen)).clamp(0, 1)
        cases.append((f"random {n}x{h}x{w}", noisy, base))
    return cases


def calibration_case(tid_pairs: tuple[torch.Tensor, torch.Tensor], scale: float = 1.0, count: int = 5) -> Case:
    dist, ref = (t[:count] for t in tid_pairs)
    if scale != 1.0:
        dist = F.interpolate(dist, scale_factor=scale, mode="area")
        ref = F.interpolate(ref, scale_factor=scale, mode="area")
    return (f"calibration pairs x{scale:g}", dist, ref)


def check_equivalence(
    name: str,
    deep_env,
    cases: list[Case],
    reference_only_files: tuple[str, ...] = (),
    make_reference: Callable[[], torch.nn.Module] | None = None,
    options: dict | None = None,
    atol: float = 0.0,
) -> float:
    """Assert that metric ``name`` (built with ``options``) and pyiqa's agree to :data:`RTOL` on every case, or, per
    score, to ``atol`` absolutely (for a score computed as 1 − x in float32, whose resolution near 0 is a rounding
    step of 1, not of the score); returns the largest relative difference."""
    deep_env.ensure(*[wf.name for wf in weight_files(name)], *reference_only_files)
    pyiqa = pytest.importorskip("pyiqa")
    theirs_model = make_reference() if make_reference else pyiqa.create_metric(name, device="cpu")
    ours_model = metrics.create(name, **(options or {}))
    assert set(ours_model.weight_sha256) == {wf.name for wf in weight_files(name)}
    fr = ours_model.spec.mode == "FR"
    worst = worst_abs = 0.0
    for label, dist, ref in cases:
        with torch.inference_mode():
            ours = ours_model(dist, ref) if fr else ours_model(dist)
            theirs = (theirs_model(dist, ref) if fr else theirs_model(dist)).flatten().float()
        assert ours.shape == theirs.shape == (dist.shape[0],), label
        assert torch.isfinite(ours).all(), label
        assert ours.numel() == 1 or ours.std() > 0, f"{label}: degenerate scores {ours.tolist()}"
        diff = max_relative_difference(ours, theirs)
        worst = max(worst, diff)
        close = (ours - theirs).abs() <= torch.maximum(RTOL * theirs.abs(), torch.tensor(atol))
        assert bool(close.all()), f"{name} on {label}: ours {ours.tolist()} vs pyiqa {theirs.tolist()}"
        worst_abs = max(worst_abs, float((ours - theirs).abs().max()))
    print(f"\n{name}: max relative difference vs pyiqa 0.1.16 = {worst:.2e} (max absolute {worst_abs:.2e})")
    return worst
