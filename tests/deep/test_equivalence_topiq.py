"""TOPIQ (FR and NR, ResNet-50) equals pyiqa 0.1.16 on identical random weights (the reference built offline by
``tests/_helpers/topiq_reference.py``)."""

from __future__ import annotations

import pytest
import torch

import metrics
from metrics.deep.weights import weight_files
from tests._helpers.equivalence import RTOL, calibration_case, check_equivalence, max_relative_difference, random_cases
from tests._helpers.topiq_reference import offline_topiq_reference


@pytest.fixture()
def reference(monkeypatch):
    """A factory of pyiqa's metric by name, offline."""
    return offline_topiq_reference(monkeypatch)


def _cases(tid_pairs):
    # 96×128: whole stride-32 maps; 83×117: not a multiple of 32 (uneven adaptive pooling of every level)
    return random_cases([(2, 96, 128), (1, 83, 117)]) + [calibration_case(tid_pairs, 0.25)]


@pytest.mark.parametrize("name", ["topiq_fr", "topiq_nr"])
def test_topiq_same_function_as_reference(name, deep_env, tid_pairs, reference):
    check_equivalence(name, deep_env, _cases(tid_pairs), make_reference=reference(name))


@pytest.mark.parametrize("name", ["topiq_fr-pipal", "topiq_nr-spaq"])
def test_other_checkpoints_same_function(name, deep_env, reference):
    check_equivalence(name, deep_env, random_cases([(2, 64, 96)], seed=11), make_reference=reference(name))


@pytest.mark.parametrize("name", ["topiq_nr-flive", "topiq_iaa_res50"])
def test_resized_checkpoints_same_function(name, deep_env, reference):
    """These two resize the shorter side to 384 px first: a small image is enlarged, a larger one reduced (its
    longer side truncated, 400·384/391 = 392.8 → 392) and one already at 384 is scored as it is. The aesthetic
    checkpoint (D = 512, 8 heads) scores the expected rating of its softmax over 1…10."""
    cases = random_cases([(2, 64, 96), (1, 400, 391), (1, 384, 397)], seed=13)
    check_equivalence(name, deep_env, cases, make_reference=reference(name))


@pytest.mark.parametrize("name", ["topiq_fr", "topiq_nr"])
def test_tiny_and_thin_inputs(name, deep_env, reference):
    """Every stride-2 layer pads, so any size works (minimum 1×1), as in the reference. An 8×200 image keeps
    stages 2 and 3 at 1×25 and 1×13 tokens (wider but not taller than stage 4's 1×7: not pooled)."""
    deep_env.ensure(*[wf.filename for wf in weight_files(name)])
    ours, theirs = metrics.create(name), reference(name)()
    gen = torch.Generator().manual_seed(3)
    fr = name == "topiq_fr"
    worst = 0.0
    for h, w in ((1, 1), (8, 200), (31, 33)):
        dist, ref = torch.rand(2, 3, h, w, generator=gen), torch.rand(2, 3, h, w, generator=gen)
        with torch.inference_mode():
            got = ours(dist, ref) if fr else ours(dist)
            want = (theirs(dist, ref) if fr else theirs(dist)).flatten()
        assert torch.isfinite(got).all()
        diff = max_relative_difference(got, want)
        worst = max(worst, diff)
        assert diff <= RTOL, (h, w, got.tolist(), want.tolist())
    assert ours.min_size == 1
    print(f"\n{name} tiny/thin inputs: max relative difference vs pyiqa 0.1.16 = {worst:.2e}")


def test_checkpoint_option_is_checked(deep_env):
    with pytest.raises(ValueError, match="checkpoint must be one of"):
        metrics.create("topiq_nr", checkpoint="topiq_nr-koniq")


@pytest.mark.parametrize("precision", ["bfloat16"])
def test_reduced_precision_is_close(precision, deep_env):
    deep_env.ensure("cfanet_nr_koniq_res50-9a73138b.pth")
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        full = metrics.create("topiq_nr")(x)
        low = metrics.create("topiq_nr", precision=precision)(x)
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    assert torch.allclose(low, full, rtol=0.1, atol=0.05), (low.tolist(), full.tolist())
