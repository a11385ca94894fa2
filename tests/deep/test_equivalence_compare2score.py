"""Compare2Score (``compare2score``) equals pyiqa 0.1.16 on a reduced configuration of the same architecture with
identical random weights (float32).

The published model is Q-Align's architecture at 7B parameters: both implementations are instead built from one
reduced ``config.json`` (tests/_helpers/random_weights_compare2score.py says what is reduced: Q-Align's reduced
widths, depths, heads, queries, 56 px input and a 400-piece SentencePiece vocabulary, and five small random anchor
images; every module kind, key name, prompt, answer word, the anchors' preference matrix and the fit of the
qualities are the published ones). Ours loads the seeded ``q-future/Compare2Score`` and ``VQA-CityU/Compare2Score_1``
files and the anchors' parquet file of the dataset repo ``VQA-CityU/Anchor_images`` through the weight store; the
reference is pyiqa's comparison model (``cmp_modelling_mplug_owl2.MPLUGOwl2LlamaForCausalLM``) built from the same
config and given the same tensors (strictly: the only keys it has and the checkpoint lacks are its fixed position
tables). Stand-ins keep the reference offline, none touches the path under test:

* the ``datasets`` package (not installed here; pyiqa imports ``load_dataset`` from it) is a module whose
  ``load_dataset("VQA-CityU/Anchor_images")`` gives the seeded parquet file's train split as ``datasets`` does:
  rows with the ``image`` decoded by PIL;
* its tokenizer and image processor are read from the hub by name: ``LlamaTokenizer.from_pretrained`` gets a
  folder with the seeded ``tokenizer.model`` and ``tokenizer_config.json``, ``CLIPImageProcessor`` is built with
  the published preprocessing settings (bicubic resize, CLIP mean/std) at the reduced 56 px size;
* its attention implementation is ``eager`` and its visual abstractor gets transformers 4's
  ``invert_attention_mask`` back, as in tests/deep/test_equivalence_qalign.py;
* pyiqa casts the pixels to float16 for its float16 model; the float32 model here gets them cast back to float32
  at its vision encoder's input (so both see the same float16-rounded pixels, as ours does);
* pyiqa's ``Compare2Score`` wrapper (which loads the 7B model in its constructor) is built around that model
  without its constructor; its preprocessing (8-bit PIL image) and the model's ``score`` run as published.
"""

from __future__ import annotations

import io
import sys
import types

import pytest
import torch

import metrics
from metrics.deep.compare2score import ANCHORS, ANSWERS
from metrics.deep.weights import weight_files
from tests._helpers.equivalence import (
    RTOL,
    calibration_case,
    max_relative_difference,
    random_cases,
)
from tests._helpers.pyiqa_owl2 import pyiqa_owl2
from tests._helpers.random_weights_compare2score import (
    ANCHOR_REPO_ID,
    ANCHOR_SIZES,
    FILES_COMPARE2SCORE,
    REPO_ID,
    TOKENIZER_REPO_ID,
)
from tests._helpers.random_weights_qalign import SHARDS


def _datasets_stand_in(parquet_path) -> types.ModuleType:
    import pyarrow.parquet as pq
    from PIL import Image

    def load_dataset(name: str) -> dict[str, list[dict]]:
        assert name == ANCHOR_REPO_ID, name
        rows = pq.read_table(parquet_path).column("image").to_pylist()
        return {"train": [{"image": Image.open(io.BytesIO(row["bytes"]))} for row in rows]}

    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset
    return module


def _reference(deep_env, tmp_path, monkeypatch) -> torch.nn.Module:
    pytest.importorskip("pyiqa")
    pytest.importorskip("transformers")
    from torch import nn

    written = deep_env.written
    monkeypatch.setitem(sys.modules, "datasets", _datasets_stand_in(written[ANCHORS.name]))
    from pyiqa.archs import compare2score_arch
    from pyiqa.archs.q_align import cmp_modelling_mplug_owl2 as owl2

    monkeypatch.setattr(owl2, "load_dataset", sys.modules["datasets"].load_dataset)
    tokenizer = {name: written[f"{TOKENIZER_REPO_ID}/{name}"] for name in ("tokenizer.model", "tokenizer_config.json")}
    shards = {shard: written[f"{REPO_ID}/{shard}"] for shard in SHARDS}
    model, _ = pyiqa_owl2(owl2, tmp_path, monkeypatch, tokenizer, written[f"{REPO_ID}/config.json"], shards)
    model.model.vision_model.register_forward_pre_hook(lambda module, args: (args[0].float(), *args[1:]))

    wrapper = compare2score_arch.Compare2Score.__new__(compare2score_arch.Compare2Score)
    nn.Module.__init__(wrapper)
    wrapper.model = model
    return wrapper


def test_compare2score_equals_pyiqa_on_a_reduced_configuration(deep_env, tid_pairs, tmp_path, monkeypatch):
    deep_env.ensure(*FILES_COMPARE2SCORE)
    theirs_model = _reference(deep_env, tmp_path, monkeypatch)
    ours_model = metrics.create("compare2score", precision="float32")
    assert set(ours_model.weight_sha256) == {wf.name for wf in weight_files("compare2score")} == \
        set(FILES_COMPARE2SCORE)
    # few images: each is scored by a 100-step fit, in ours and in pyiqa's
    cases = [*random_cases([(2, 40, 40), (1, 37, 61)]), calibration_case(tid_pairs, 0.25, count=2)]
    worst = 0.0
    for label, dist, _ in cases:
        with torch.inference_mode():
            ours = ours_model(dist)
        theirs = torch.stack([theirs_model(image[None]).float() for image in dist])  # its fit needs gradients
        assert ours.shape == theirs.shape == (dist.shape[0],), label
        assert torch.isfinite(ours).all() and ((ours >= 0) & (ours <= 100)).all(), label
        assert ours.numel() == 1 or ours.std() > 1e-3, f"{label}: degenerate scores {ours.tolist()}"
        diff = max_relative_difference(ours, theirs)
        worst = max(worst, diff)
        assert diff <= RTOL, f"compare2score on {label}: ours {ours.tolist()} vs pyiqa {theirs.tolist()}"
    print(f"\ncompare2score: max relative difference vs pyiqa 0.1.16 = {worst:.2e}")


def test_the_anchors_are_read_in_the_datasets_row_order(deep_env):
    """Row k of the parquet file is anchor k (the preference matrix's order), decoded to its own size."""
    from metrics.deep.compare2score import read_anchor_images

    deep_env.ensure(ANCHORS.name)
    anchors = read_anchor_images(deep_env.written[ANCHORS.name])
    assert [tuple(anchor.shape) for anchor in anchors] == [(3, h, w) for h, w in ANCHOR_SIZES]
    assert all(anchor.dtype == torch.uint8 for anchor in anchors)


def test_the_fit_puts_an_image_better_than_every_anchor_on_top():
    """The published anchors' matrix grown by an image that beats (loses to) every anchor: its quality is the
    highest (lowest) of the six, and the anchors keep their published order."""
    from metrics.deep.compare2score import (
        ANCHOR_PREFERENCES,
        _with_image,
        thurstone_qualities,
    )

    anchors = torch.tensor(ANCHOR_PREFERENCES)
    for better, place in ((0.99, -1), (0.01, 0)):
        qualities = thurstone_qualities(_with_image(anchors, torch.full((5,), better)))
        assert int(qualities.argsort()[place]) == 5, (better, qualities.tolist())
        anchor_qualities = qualities[:5]
        assert bool((anchor_qualities[1:] > anchor_qualities[:-1]).all()), qualities.tolist()


def test_a_missing_anchor_file_is_named_offline(tmp_path, monkeypatch):
    from metrics.deep.weights import WeightsMissingError, fetch

    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(tmp_path / "empty"))
    with pytest.raises(WeightsMissingError, match="train-00000-of-00001.parquet.*datasets/VQA-CityU/Anchor_images"):
        fetch(ANCHORS)


def test_prompt_pieces_tokenise_as_transformers_llama_tokenizer(deep_env):
    """Texts with and without a leading space, a lone space and the answer words: our SentencePiece ids equal
    those of the transformers 5 LlamaTokenizer that pyiqa uses (its begin-of-sequence token aside)."""
    pytest.importorskip("transformers")
    from transformers.models.llama import LlamaTokenizer

    from metrics.deep.mplug_owl2.prompt import PromptTokenizer

    files = [f"{TOKENIZER_REPO_ID}/{name}" for name in ("tokenizer.model", "tokenizer_config.json")]
    deep_env.ensure(*files)
    ours = PromptTokenizer(*(deep_env.written[name] for name in files))
    folder = deep_env.written[files[0]].parent
    theirs = LlamaTokenizer.from_pretrained(str(folder))
    texts = ["USER: ", " ", "  ", " Compared with the first image", "second image? \nASSISTANT: The quality",
             *ANSWERS]
    for text in texts:
        assert [theirs.bos_token_id, *ours.encode(text)] == theirs(text).input_ids, repr(text)
