"""Properties every registered metric must have: shapes, ideal score, batch invariance, clear input errors; and for
every classical metric: more noise gives a worse score, odd sizes and batches work."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import metrics
from metrics import MetricInputError
from metrics.calibration_cases import is_classical
from metrics.registry import Calibration

#: Metrics that cannot run on this machine (``MetricSpec.unavailable``: Q-Align's 8-bit and 4-bit variants need
#: CUDA and bitsandbytes): their specs are checked, and building one must say why it cannot run.
UNAVAILABLE = {n: reason for n in metrics.available()
               if (check := metrics.get_spec(n).unavailable) and (reason := check())}
ALL = [n for n in metrics.available() if n not in UNAVAILABLE]


def _score(model, dist, ref):
    with torch.inference_mode():
        return model(dist, ref) if model.spec.mode == "FR" else model(dist)


@pytest.mark.parametrize("name", sorted(UNAVAILABLE))
def test_an_unavailable_metric_says_why_when_built(name):
    spec = metrics.get_spec(name)
    assert spec.paper and isinstance(spec.calibration, Calibration) and spec.calibration_detail
    with pytest.raises(RuntimeError, match=f"{name} cannot run here: {UNAVAILABLE[name]}"):
        metrics.create(name)


@pytest.mark.parametrize("name", ALL)
def test_spec_is_complete(name):
    spec = metrics.get_spec(name)
    assert spec.name == name
    assert spec.paper and isinstance(spec.calibration, Calibration) and spec.calibration_detail
    if spec.calibration is Calibration.CALIBRATED:  # test_calibration.py compares it with the official row
        assert spec.calibration_key and not _is_deep(name)
    if spec.calibration is Calibration.EQUIVALENT:  # tests/deep compare it with pyiqa on identical weights
        assert _is_deep(name)
    assert spec.score_range[0] < spec.score_range[1]
    model = metrics.create(name)
    doc = type(model).__module__ and __import__(type(model).__module__, fromlist=["_"]).__doc__
    assert doc and "alibrat" in doc, f"{name}: the module docstring must state the calibration result"


def _crop(pairs, height: int, width: int):
    dist, ref = pairs
    top, left = (dist.shape[-2] - height) // 2, (dist.shape[-1] - width) // 2
    window = (..., slice(top, top + height), slice(left, left + width))
    return dist[window].contiguous(), ref[window].contiguous()


def _is_deep(name: str) -> bool:
    from metrics.deep.weights import weight_files

    return bool(weight_files(name))


@pytest.fixture(scope="module")
def small_pairs(tid_pairs):
    """Centre crops of the calibration pairs: 192×256 (big enough for every classical metric, multi-scale ones
    included); the deep networks, whose cost grows with the image, get three pairs at 96×128 (their batching is
    also proved against pyiqa in tests/deep)."""
    dist, ref = _crop(tid_pairs, 96, 128)
    return {"classical": _crop(tid_pairs, 192, 256), "deep": (dist[:3], ref[:3]), "tid": tid_pairs}


def _pairs_for(name: str, small_pairs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The small pairs of the metric's kind; a deep metric that needs more than 96 pixels a side (DMM: 121) gets
    three centre crops of its minimum height instead."""
    if is_classical(name):
        return small_pairs["classical"]
    min_size = getattr(metrics.get_spec(name).factory, "min_size", 1)
    if min_size <= 96:
        return small_pairs["deep"]
    dist, ref = _crop(small_pairs["tid"], min_size, min_size + 32)
    return dist[:3], ref[:3]


#: Metrics that score an image against its caption (``score_captions``; batch-tested in their equivalence tests).
CAPTIONED = {n for n in ALL if metrics.get_spec(n).needs_captions}


#: Options that keep a costly metric's batch check short without changing its code path: TReS scores 50 crops of a
#: ResNet-50 and a 3840-wide transformer per image (minutes here); 2 crops run the same code. MANIQA and AHIQ score
#: 20 crops of 224 px whatever the image size (130 GFLOP a crop in ViT-B/8): one crop here (the crop grid is
#: compared with pyiqa's at 20 in tests/deep).
REDUCED_COST = {"tres": {"crops": 2}, "tres-flive": {"crops": 2}, "maniqa": {"crops": 1}, "ahiq": {"crops": 1}}
#: Checkpoints of one network that differ from another registered metric only by a constant or weights file.
SAME_NETWORK_AS = {"maniqa-pipal": "maniqa", "maniqa-kadid": "maniqa"}


@pytest.mark.parametrize("name", [n for n in ALL if n not in CAPTIONED and n not in SAME_NETWORK_AS])
def test_batch_invariance(name, small_pairs):
    dist, ref = _pairs_for(name, small_pairs)
    model = metrics.create(name, **REDUCED_COST.get(name, {}))
    together = _score(model, dist, ref)
    assert together.shape == (dist.shape[0],)
    for i in range(dist.shape[0]):
        alone = _score(model, dist[i : i + 1], ref[i : i + 1])
        assert alone.item() == pytest.approx(together[i].item(), abs=1e-5, rel=1e-5)


CLASSICAL = [n for n in ALL if not _is_deep(n)]
#: Classical metrics that do not measure damage to an image, so more noise need not give a worse score.
NOT_NOISE_MONOTONE = {"entropy": "noise adds information: the grey-level entropy grows with it"}


@pytest.mark.parametrize("name", [n for n in CLASSICAL if n not in NOT_NOISE_MONOTONE])
def test_more_noise_worsens_the_score(name, tid_pairs):
    """One reference (a 192×256 crop), one noise pattern at four strengths: the scores worsen strictly, in the
    direction of the spec's ``lower_better`` (deep metrics run random weights here, so are not ranked)."""
    _, ref = _crop(tid_pairs, 192, 256)
    clean = ref[1:2].repeat(4, 1, 1, 1)
    noise = torch.randn(clean.shape[1:], generator=torch.Generator().manual_seed(7))
    noisy = torch.stack([(c + s * noise).clamp(0, 1) for c, s in zip(clean, (0.01, 0.03, 0.08, 0.2))])
    scores = _score(metrics.create(name), noisy, clean).tolist()
    low, high = metrics.get_spec(name).score_range
    assert all(low <= v <= high for v in scores), scores
    if metrics.get_spec(name).lower_better:
        scores = [-v for v in scores]
    assert all(math.isfinite(v) for v in scores) and all(a > b for a, b in zip(scores, scores[1:])), scores


@pytest.mark.parametrize("name", CLASSICAL)
def test_odd_sizes_and_batch(name, tid_pairs):
    """Two pairs at an odd size (odd height and width, twice the metric's minimum or more), the distorted images
    with a little noise: finite scores, each equal to the score of its pair alone."""
    model = metrics.create(name)
    height = max(67, (2 * model.min_size) | 1)
    dist, ref = _crop(tid_pairs, height, height + 26)
    noise = torch.randn(dist[:2].shape, generator=torch.Generator().manual_seed(5))
    dist, ref = (dist[:2] + 0.02 * noise).clamp(0, 1), ref[:2]
    together = _score(model, dist, ref)
    assert together.shape == (2,) and torch.isfinite(together).all()
    for i in range(2):
        alone = _score(model, dist[i : i + 1], ref[i : i + 1])
        assert alone.item() == pytest.approx(together[i].item(), abs=1e-6, rel=1e-5)


@pytest.mark.parametrize("name", [n for n in ALL if metrics.get_spec(n).ideal_score is not None])
def test_identical_inputs_give_ideal_score(name, small_pairs):
    _, ref = _pairs_for(name, small_pairs)
    spec = metrics.get_spec(name)
    got = _score(metrics.create(name), ref[:2], ref[:2])
    for value in got.tolist():
        if math.isinf(spec.ideal_score):
            assert value == spec.ideal_score
        else:
            assert value == pytest.approx(spec.ideal_score, abs=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_bad_inputs_raise_clear_errors(name):
    model = metrics.create(name)
    good = torch.rand(1, 3, 64, 64)
    with pytest.raises(MetricInputError, match="N×3×H×W"):
        model(torch.rand(3, 64, 64), torch.rand(3, 64, 64))
    with pytest.raises(MetricInputError, match="NaN"):
        bad = good.clone()
        bad[0, 0, 0, 0] = float("nan")
        model(bad, good)
    with pytest.raises(MetricInputError, match=r"\[0, 1\]"):
        model(good * 2, good)


def test_unknown_metric_and_option_are_named():
    with pytest.raises(metrics.UnknownMetricError, match="no_such_metric"):
        metrics.create("no_such_metric")
    with pytest.raises(ValueError, match="bogus"):
        metrics.create("psnr", bogus=1)


def test_calibration_is_one_of_three_states():
    spec = metrics.get_spec("psnr")
    assert dataclasses.replace(spec, calibration="equivalent").calibration is Calibration.EQUIVALENT
    with pytest.raises(ValueError, match="calibrated, equivalent, unverified"):
        dataclasses.replace(spec, calibration="checked against its definition")
    assert spec.describe_calibration() == f"calibrated ({spec.calibration_detail})"
