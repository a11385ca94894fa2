"""The comparison loop of the third-tranche equivalence tests: ours and pyiqa 0.1.16 on identical random weights."""

from __future__ import annotations

import pytest
import torch

import metrics
from metrics.deep.weights import weight_files

RTOL = 1e-4


def max_relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float(((ours - theirs).abs() / theirs.abs().clamp_min(1e-12)).max())


def compare_with_reference(
    name: str, deep_env, inputs: list[tuple[str, torch.Tensor, torch.Tensor | None]], reference_only: tuple[str, ...] = ()
) -> float:
    """Run ours and pyiqa's ``name`` on every (label, dist, ref) input; assert agreement; the worst difference."""
    deep_env.ensure(*[wf.filename for wf in weight_files(name)], *reference_only)
    pyiqa = pytest.importorskip("pyiqa")
    theirs_model = pyiqa.create_metric(name, device="cpu")
    ours_model = metrics.create(name)
    assert set(ours_model.weight_sha256) == {wf.filename for wf in weight_files(name)}
    fr = ours_model.spec.mode == "FR"
    worst = 0.0
    for label, dist, ref in inputs:
        with torch.inference_mode():
            ours = ours_model(dist, ref) if fr else ours_model(dist)
            theirs = (theirs_model(dist, ref) if fr else theirs_model(dist)).flatten().float()
        assert ours.shape == theirs.shape == (dist.shape[0],), label
        assert torch.isfinite(ours).all(), label
        assert ours.numel() == 1 or ours.std() > 0, f"{label}: degenerate scores {ours.tolist()}"
        diff = max_relative_difference(ours, theirs)
        worst = max(worst, diff)
        assert diff <= RTOL, f"{name} on {label}: ours {ours.tolist()} vs pyiqa {theirs.tolist()}"
    print(f"\n{name}: max relative difference vs pyiqa 0.1.16 = {worst:.2e}")
    return worst
