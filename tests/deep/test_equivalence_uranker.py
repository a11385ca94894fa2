"""URanker (CoaT-style conv-attention transformer with a histogram token per scale) equals pyiqa 0.1.16 on identical
random weights.

The whole image is scored (zero-padded, centred, to multiples of 32; no resize, no crop): odd sizes check the
padding (9×5 becomes one 32×32 tile, 67×93 pads 29 / 3 pixels unevenly), sizes whose four scales are not square
check the cross-scale resizing, and the calibration pairs check real colour histograms.
"""

from __future__ import annotations

import hashlib

import pytest
import torch

import metrics
from metrics.deep.uranker import colour_histograms, pad_to_multiple
from metrics.deep.weights import WeightsMissingError
from tests._helpers.equivalence import (
    RTOL,
    calibration_case,
    check_equivalence,
    max_relative_difference,
    random_cases,
)
from tests._helpers.random_weights_uranker import URANKER_FILE, _uranker


def test_same_function_as_reference(deep_env, tid_pairs):
    cases = random_cases([(2, 64, 96), (1, 67, 93), (1, 9, 5)], seed=43) + [calibration_case(tid_pairs, 0.25, 3)]
    check_equivalence("uranker", deep_env, cases)


def test_histograms_are_torch_histc_counts_per_channel():
    """64 bins over [0, 1], bin edges and both ends included, values outside [0, 1] not counted."""
    gen = torch.Generator().manual_seed(3)
    image = torch.rand(2, 3, 20, 30, generator=gen)
    edges = torch.arange(65, dtype=torch.float32) / 64  # k/64: on a bin's left edge; 1.0: in the last bin
    image[0, 0, 0, :30] = edges[:30]
    image[1, 2, 0, :30] = edges[35:]
    image[1, 1, 1, :4] = torch.tensor([-1e-7, 1.0 + 1e-6, 0.0, 1.0])
    counts = colour_histograms(image)
    expected = torch.stack([torch.cat([torch.histc(image[n, c], 64, min=0.0, max=1.0) for c in range(3)])
                            for n in range(2)])
    assert torch.equal(counts, expected)
    assert counts[1, 64:128].sum() == 20 * 30 - 2  # the two values outside [0, 1]


def test_padding_is_centred_to_multiples_of_32():
    image = torch.ones(1, 3, 67, 93)
    padded = pad_to_multiple(image)
    assert padded.shape == (1, 3, 96, 96)
    rows, cols = padded[0, 0].sum(dim=1).nonzero().flatten(), padded[0, 0].sum(dim=0).nonzero().flatten()
    assert (rows.min().item(), rows.max().item()) == (14, 80)  # 29 rows: 14 above, 15 below
    assert (cols.min().item(), cols.max().item()) == (1, 93)  # 3 columns: 1 left, 2 right
    assert pad_to_multiple(torch.ones(1, 3, 64, 32)).shape == (1, 3, 64, 32)


def test_a_checkpoint_trained_with_pyiqa_scores_as_pyiqa_scores_it(tmp_path):
    """``pretrained_model_path``: pyiqa reads such a file's state dict under ``params``; so do we (and that file's
    sha256 stands for the published one's)."""
    path = tmp_path / "uranker_trained.pth"
    torch.save({"params": _uranker(607)}, path)
    ours = metrics.create("uranker", pretrained_model_path=str(path))
    assert ours.weight_sha256 == {URANKER_FILE: hashlib.sha256(path.read_bytes()).hexdigest()}
    pyiqa = pytest.importorskip("pyiqa")
    theirs = pyiqa.create_metric("uranker", device="cpu", pretrained_model_path=str(path))
    (_, dist, _), = random_cases([(2, 40, 72)], seed=47)
    with torch.inference_mode():
        mine, reference = ours(dist), theirs(dist).flatten().float()
    assert max_relative_difference(mine, reference) <= RTOL, (mine, reference)


def test_missing_file_offline_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsMissingError, match=f"weight file {URANKER_FILE} .* HF_HUB_OFFLINE is set"):
        metrics.create("uranker")
