"""``pretrained_model_path``: a deep metric built from the user's checkpoint scores as pyiqa 0.1.16 does with the
same file, without reading the published one."""

from __future__ import annotations

import hashlib

import pytest
import torch

import metrics
from tests._helpers.equivalence import RTOL, max_relative_difference, random_cases
from tests._helpers.random_weights import FILES

CNNIQA_FILE = "CNNIQA_koniq10k-e6f14c91.pth"


@pytest.fixture
def checkpoints(tmp_path):
    """Two CNNIQA checkpoints of the published layout (``params``), of different random weights."""
    first = tmp_path / "mine.pth"
    torch.save(FILES[CNNIQA_FILE][1](), first)
    second = tmp_path / "other.pth"
    state = FILES[CNNIQA_FILE][1]()
    state["params"] = {k: v * 1.5 for k, v in state["params"].items()}
    torch.save(state, second)
    return first, second


def test_a_custom_checkpoint_scores_as_pyiqa_scores_it(checkpoints, deep_env, monkeypatch):
    from metrics.deep import weights

    first, second = checkpoints

    def published_file_read(wf, *args, **kwargs):
        raise AssertionError(f"the published file was read: {wf}")

    # The session's seeded cache may hold the published file: reading it at all fails the test.
    monkeypatch.setattr(weights, "load", published_file_read)
    monkeypatch.setattr(weights, "fetch", published_file_read)
    ours = metrics.create("cnniqa", pretrained_model_path=str(first))
    assert ours.weight_sha256 == {CNNIQA_FILE: hashlib.sha256(first.read_bytes()).hexdigest()}
    pyiqa = pytest.importorskip("pyiqa")
    theirs = pyiqa.create_metric("cnniqa", device="cpu", pretrained_model_path=str(first))
    other = metrics.create("cnniqa", pretrained_model_path=str(second))
    for label, dist, _ref in random_cases([(2, 48, 40)]):
        with torch.inference_mode():
            mine, reference, changed = ours(dist), theirs(dist).flatten().float(), other(dist)
        assert max_relative_difference(mine, reference) <= RTOL, (label, mine, reference)
        assert max_relative_difference(changed, mine) > 1e-3, "another checkpoint must score differently"


def test_the_option_is_refused_where_it_cannot_apply(checkpoints, tmp_path):
    first, _ = checkpoints
    with pytest.raises(ValueError, match=r"metric 'psnr' has no trained weight file, so pretrained_model_path"):
        metrics.check_options("psnr", {"pretrained_model_path": str(first)})
    with pytest.raises(ValueError, match=r"option 'pretrained_model_path': .*missing.pth is not a file"):
        metrics.check_options("cnniqa", {"pretrained_model_path": str(tmp_path / "missing.pth")})
    with pytest.raises(ValueError, match=r"must be a file path, got 3"):
        metrics.check_options("cnniqa", {"pretrained_model_path": 3})
