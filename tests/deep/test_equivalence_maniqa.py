"""MANIQA (``maniqa``, ``maniqa-pipal``, ``maniqa-kadid``) equals pyiqa 0.1.16 on identical random weights.

Test-time crops: MANIQA's authors score random crops, but pyiqa 0.1.16 takes its ``test_sample`` (20) crops on a
regular grid (``arch_util.uniform_crop``), so there is no random sampling to seed. The tests show it: the
reference's random-crop function (its training path) is replaced by one that fails the test, so every compared
score came from grid crops; our crops are pyiqa's at the default 20 (pure tensor code, many sizes); and the networks
are compared on fewer crops (``crops``/``test_sample`` set alike on both sides): one 224-px crop costs about
130 GFLOP in ViT-B/8, and two cores must run the suite.

Stand-in keeping the reference offline: it builds its ViT with ``timm.create_model('vit_base_patch8_224',
pretrained=True)`` (an ImageNet download that the MANIQA checkpoint then overwrites in full, strict load); the test
builds it with ``pretrained=False``.
"""

from __future__ import annotations

import pytest
import torch

import metrics
from metrics.deep.maniqa import VARIANTS
from metrics.deep.nets import uniform_crops
from metrics.deep.weights import weight_files
from tests._helpers.equivalence import RTOL, calibration_case, max_relative_difference, random_cases


@pytest.fixture()
def reference(monkeypatch):
    """A factory of pyiqa's metric by name (and options), offline."""
    timm = pytest.importorskip("timm")
    pytest.importorskip("pyiqa")
    real = timm.create_model
    monkeypatch.setattr(timm, "create_model", lambda name, pretrained=False, **kw: real(name, pretrained=False, **kw))

    def no_random_crops(*args, **kwargs):
        pytest.fail("pyiqa's MANIQA took random crops")

    monkeypatch.setattr("pyiqa.archs.maniqa_arch.random_crop", no_random_crops)

    def make(name: str, **options):
        import pyiqa

        return pyiqa.create_metric(name, device="cpu", **options)

    return make


def _compare(name: str, deep_env, reference, cases, crops: int) -> float:
    deep_env.ensure(*[wf.name for wf in weight_files(name)])
    ours = metrics.create(name, crops=crops)
    theirs = reference(name, test_sample=crops)
    assert set(ours.weight_sha256) == {wf.name for wf in weight_files(name)}
    worst, scores = 0.0, []
    for label, dist, _ in cases:
        with torch.inference_mode():
            got = ours(dist)
            want = theirs(dist).flatten()
        assert got.shape == want.shape == (dist.shape[0],), label
        assert torch.isfinite(got).all() and (got > 0).all(), (label, got.tolist())
        scores += got.tolist()
        diff = max_relative_difference(got, want)
        worst = max(worst, diff)
        assert diff <= RTOL, f"{name} on {label}: ours {got.tolist()} vs pyiqa {want.tolist()}"
    assert len(set(scores)) == len(scores), f"degenerate scores {scores}"
    print(f"\n{name} ({crops} crops): max relative difference vs pyiqa 0.1.16 = {worst:.2e}")
    return worst


def test_maniqa_same_function_as_reference(deep_env, tid_pairs, reference):
    """An image larger than a crop (2 grid crops: the second one shifted), one smaller than a crop on one side
    (enlarged first, odd size) and a calibration image."""
    cases = random_cases([(1, 232, 251), (1, 150, 237)]) + [calibration_case(tid_pairs, 0.5, count=1)]
    _compare("maniqa", deep_env, reference, cases, crops=2)


@pytest.mark.parametrize("name", ["maniqa-pipal", "maniqa-kadid"])
def test_other_checkpoints_same_function(name, deep_env, reference):
    """The same network with the PIPAL (layer scale 0.13) and KADID (0.8) settings, one crop each."""
    _compare(name, deep_env, reference, random_cases([(1, 240, 230)], seed=11), crops=1)


@pytest.mark.parametrize("size", [(224, 224), (225, 300), (237, 1080), (800, 1080), (100, 61)])
def test_default_crops_are_pyiqas(size):
    """Our 20 test crops are pyiqa's, position for position (including the enlargement of images whose shorter
    side is at most 224)."""
    pytest.importorskip("pyiqa")
    from pyiqa.archs.arch_util import uniform_crop

    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(sum(size)))
    ours = uniform_crops(x, 224, 20)
    theirs = uniform_crop([x], 224, 20)
    assert ours.shape == theirs.shape == (40, 3, 224, 224)
    assert torch.equal(ours, theirs)


def test_checkpoint_files_are_pyiqas():
    pytest.importorskip("pyiqa")
    from pyiqa.archs.maniqa_arch import default_model_urls

    published = {"maniqa": "koniq", "maniqa-pipal": "pipal", "maniqa-kadid": "kadid"}
    for name, dataset in published.items():
        assert default_model_urls[dataset].endswith("/" + VARIANTS[name][0].filename)


def test_options_are_checked(deep_env):
    with pytest.raises(ValueError, match="variant must be one of"):
        metrics.create("maniqa", variant="maniqa-live")
    with pytest.raises(ValueError, match="crops must be at least 1"):
        metrics.create("maniqa", crops=0)
