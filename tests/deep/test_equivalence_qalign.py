"""Q-Align (``qalign``) equals pyiqa 0.1.16 on a reduced configuration of the same architecture with identical
random weights (float32).

The published model is 7B parameters (13.5 GB in float16): both implementations are instead built from one
reduced ``config.json`` (tests/_helpers/random_weights_qalign.py says what is reduced: widths, depths, heads,
queries, a 56 px input and a 400-piece SentencePiece vocabulary; every module kind, key name, prompt and the
scoring rule are the published ones). Ours loads the seeded ``q-future/one-align`` files through the weight store;
the reference is pyiqa's ``MPLUGOwl2LlamaForCausalLM`` built from the same config and given the same tensors
(strictly: the only keys it has and the checkpoint lacks are its fixed position tables). Stand-ins keep the
reference offline, none touches the path under test:

* its tokenizer and image processor are read from the hub by name: ``LlamaTokenizer.from_pretrained`` gets a
  folder with the seeded ``tokenizer.model`` and ``tokenizer_config.json``, ``CLIPImageProcessor`` is built with
  the published preprocessing settings (bicubic resize, CLIP mean/std) at the reduced 56 px size;
* its attention implementation is set to ``eager`` (pyiqa's config asks for flash attention, CUDA only);
* ``PreTrainedModel.invert_attention_mask``, which its visual abstractor calls, is gone from ``transformers`` 5
  (pyiqa 0.1.16 requires ``transformers>=5`` and restores other removed helpers, not this one): the abstractor
  gets transformers 4's definition back (``(1 - mask) · dtype minimum`` over B×1×1×L). Its masks are all ones,
  so this adds zeros to the attention scores, as in transformers 4;
* its scoring weights (5…1) are float32 (pyiqa makes them float16 for its float16 model);
* pyiqa's ``QAlign`` wrapper (which loads the 7B model in its constructor) is built around that model without
  its constructor; its preprocessing (8-bit PIL image, square padding, processor) and ``score`` run as published.
"""

from __future__ import annotations

import json

import pytest
import torch

import metrics
from tests._helpers.equivalence import (
    RTOL,
    calibration_case,
    max_relative_difference,
    random_cases,
)
from tests._helpers.pyiqa_owl2 import pyiqa_owl2
from tests._helpers.random_weights_qalign import (
    FILES_QALIGN,
    REPO_ID,
)

LEVEL_WEIGHTS = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])


def _reference(deep_env, tmp_path, monkeypatch) -> torch.nn.Module:
    pytest.importorskip("pyiqa")
    pytest.importorskip("transformers")
    from pyiqa.archs import qalign_arch
    from pyiqa.archs.q_align import modeling_mplug_owl2 as owl2
    from torch import nn

    files = {name.rsplit("/", 1)[1]: path for name, path in deep_env.written.items() if name.startswith(REPO_ID)}
    model, processor = pyiqa_owl2(owl2, tmp_path, monkeypatch, files, files["config.json"], files)
    model.weight_tensor = LEVEL_WEIGHTS

    wrapper = qalign_arch.QAlign.__new__(qalign_arch.QAlign)
    nn.Module.__init__(wrapper)
    wrapper.dtype, wrapper.model_dtype = "fp16", torch.float32
    wrapper.model, wrapper.image_processor = model, processor
    return wrapper


def test_qalign_equals_pyiqa_on_a_reduced_configuration(deep_env, tid_pairs, tmp_path, monkeypatch):
    deep_env.ensure(*FILES_QALIGN)
    theirs_model = _reference(deep_env, tmp_path, monkeypatch)
    ours_model = metrics.create("qalign", precision="float32")
    assert set(ours_model.weight_sha256) == set(FILES_QALIGN)  # named with their repo (not pyiqa's)
    cases = [*random_cases([(2, 40, 40), (2, 37, 61), (1, 90, 23)]), calibration_case(tid_pairs, 0.25, count=3)]
    worst = 0.0
    for label, dist, _ in cases:
        with torch.inference_mode():
            ours = ours_model(dist)
            theirs = torch.cat([theirs_model(image[None]).flatten().float() for image in dist])
        assert ours.shape == theirs.shape == (dist.shape[0],), label
        assert torch.isfinite(ours).all() and ((ours > 1) & (ours < 5)).all(), label
        assert ours.numel() == 1 or ours.std() > 1e-3, f"{label}: degenerate scores {ours.tolist()}"
        diff = max_relative_difference(ours, theirs)
        worst = max(worst, diff)
        assert diff <= RTOL, f"qalign on {label}: ours {ours.tolist()} vs pyiqa {theirs.tolist()}"
    print(f"\nqalign: max relative difference vs pyiqa 0.1.16 = {worst:.2e}")


def test_quantised_variants_are_refused_when_planned_without_cuda_and_bitsandbytes(tmp_path):
    """One line per variant says why; qalign itself plans (its weights are looked up, not needed, here)."""
    from metrics.deep.qalign import quantisation_unavailable
    from orchestrator.run.plan import PlanError, build_plan
    from orchestrator.run.request import BenchmarkRequest

    reason = quantisation_unavailable()
    if reason is None:
        pytest.skip("CUDA and bitsandbytes are both present here")
    request = BenchmarkRequest(metrics=("qalign_8bit", "qalign_4bit", "psnr"), datasets=("demo",), limit=2,
                               out=tmp_path / "out")
    with pytest.raises(PlanError) as refused:
        build_plan(request)
    for name in ("qalign_8bit", "qalign_4bit"):
        lines = [line for line in str(refused.value).splitlines() if name in line]
        assert lines == [lines[0]] and f"cannot run here: {reason}" in lines[0], str(refused.value)


def test_each_missing_requirement_is_named(monkeypatch):
    import importlib.util

    from metrics.deep import qalign

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a))
    assert qalign.quantisation_unavailable() == "the bitsandbytes package is not installed"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert qalign.quantisation_unavailable() == "no CUDA device is available"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert qalign.quantisation_unavailable() is None


def test_a_missing_repo_file_is_named_offline(tmp_path, monkeypatch):
    from metrics.deep.weights import WeightsMissingError

    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(tmp_path / "empty"))
    with pytest.raises(WeightsMissingError, match="config.json"):
        metrics.create("qalign")


def test_an_index_naming_an_unknown_shard_is_refused(deep_env, tmp_path, monkeypatch):
    """The seeded repo copied with its index pointing one tensor at a shard the metric does not declare."""
    import shutil

    from metrics.deep.weights import WeightIntegrityError

    deep_env.ensure(*FILES_QALIGN)
    copy = tmp_path / "hf"
    shutil.copytree(deep_env.hf_cache, copy, symlinks=True)
    (index_path,) = copy.glob("models--q-future--one-align/snapshots/*/pytorch_model.bin.index.json")
    index = json.loads(index_path.read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = "pytorch_model-00003-of-00003.bin"
    index_path.unlink()
    index_path.write_text(json.dumps(index))
    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(copy))
    with pytest.raises(WeightIntegrityError, match="pytorch_model-00003-of-00003.bin"):
        metrics.create("qalign")
