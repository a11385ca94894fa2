"""The CLIP family (CLIP-IQA, CLIP-IQA+, CLIPScore, LIQE, QualiCLIP, QualiCLIP+, MA-CLIP) equals pyiqa 0.1.16 on identical random weights.

The random files are written in the published formats (tests/_helpers/random_weights_clip.py): OpenAI's CLIP
archives as TorchScript archives with float16 layers, read by pyiqa through ``torch.jit.load`` and by us without
running their code. Stand-ins keep the reference offline, none touches the path under test:

* pyiqa's and OpenAI's ``_download`` check a cached file's sha256 against the published one and download it again
  on a mismatch (random weights never match): the stand-in returns the seeded file of the same name;
* OpenAI's package imports ``pkg_resources`` (gone from current setuptools): a stand-in module
  (``random_weights_clip.import_openai_clip``);
* LIQE caches its prompts' text features in pyiqa's cache folder across instances: pointed at a fresh folder;
* the reference is built under ``torch.no_grad()`` (same values): LIQE encodes its prompts while it is built, and
  with autograd on, liqe_mix's 495 prompts keep more than 15 GB of activations.

Each OpenAI trunk file is seeded once per session and shared by the metrics that use it (RN50: clipiqa,
clipiqa+, clipiqa+_rn50_512, maclip and pyiqa's QualiCLIP, which reads and then overwrites it; ViT-B/32: clipscore and pyiqa's LIQE, which reads and then overwrites it). ViT-L/14
is the full published size (0.9 GB on disk in float16), compared on small inputs.
"""

from __future__ import annotations

import importlib

import pytest
import torch

import metrics
from metrics.base import MetricInputError
from metrics.deep.weights import weight_files
from tests._helpers.equivalence import (
    RTOL,
    calibration_case,
    check_equivalence,
    max_relative_difference,
    random_cases,
)
from tests._helpers.random_weights_clip import import_openai_clip, seeded_clip_download


@pytest.fixture()
def reference(monkeypatch, deep_env, tmp_path):
    """A factory of pyiqa's metric by name, offline."""
    import_openai_clip()
    pyiqa = pytest.importorskip("pyiqa")
    seeded = seeded_clip_download(deep_env.torch_home)

    import clip.clip

    for name in ("clipiqa_arch", "liqe_arch", "clipscore_arch", "qualiclip_arch", "maclip_arch"):
        importlib.import_module(f"pyiqa.archs.{name}")  # registers them even if an earlier scan skipped them
    monkeypatch.setattr("pyiqa.archs.clip_model._download", seeded)
    monkeypatch.setattr(clip.clip, "_download", seeded)
    monkeypatch.setattr("pyiqa.archs.liqe_arch.DEFAULT_CACHE_DIR", str(tmp_path))

    def build(name: str):
        with torch.no_grad():  # LIQE encodes its prompts while building, under autograd (liqe_mix: > 15 GB)
            return pyiqa.create_metric(name, device="cpu")

    def make(name: str):
        return lambda: build(name)

    return make


def _cases(tid_pairs, sizes=((2, 96, 128), (1, 83, 117))):
    # 96×128: whole 32-px patches; 83×117: not a multiple of the patch size (ViT drops the remainder, the ResNet's
    # pools floor), and token counts that differ from the trained grid (positional embeddings resized)
    return random_cases(sizes) + [calibration_case(tid_pairs, 0.25)]


@pytest.mark.parametrize("name", ["clipiqa", "clipiqa+", "clipiqa+_rn50_512"])
def test_clipiqa_rn50_same_function_as_reference(name, deep_env, tid_pairs, reference):
    check_equivalence(name, deep_env, _cases(tid_pairs), reference_only_files=(),
                      make_reference=reference(name))


def test_clipiqa_vitl14_same_function_as_reference(deep_env, tid_pairs, reference):
    """ViT-L/14 at full size: small inputs keep it fast on two cores (the trunk's cost is in loading it)."""
    cases = random_cases([(2, 56, 70), (1, 45, 61)]) + [calibration_case(tid_pairs, 0.125, count=2)]
    check_equivalence("clipiqa+_vitL14_512", deep_env, cases, make_reference=reference("clipiqa+_vitL14_512"))


def test_liqe_same_function_as_reference(deep_env, tid_pairs, reference):
    # 224×224: one window; 256×300: 2×3 windows (all used); 301×701 (odd): 3×15 = 45 windows, 15 selected with
    # step 3; the calibration pairs at 384×512: 6×10 windows, step 4
    cases = random_cases([(1, 224, 224), (2, 256, 300), (1, 301, 701)]) + [calibration_case(tid_pairs, 1.0, 2)]
    check_equivalence("liqe", deep_env, cases, reference_only_files=("ViT-B-32.pt",), make_reference=reference("liqe"))


@pytest.mark.timeout(1200)
def test_liqe_mix_same_function_as_reference(deep_env, tid_pairs, reference):
    """The multitask checkpoint: 495 prompts, whose encoding (once per instance, the reference's over all 77
    positions) is most of the cost; the window selection is the same code as liqe's, so fewer cases."""
    cases = random_cases([(1, 301, 701)]) + [calibration_case(tid_pairs, 1.0, 2)]
    check_equivalence("liqe_mix", deep_env, cases, reference_only_files=("ViT-B-32.pt",),
                      make_reference=reference("liqe_mix"))


def test_liqe_refuses_images_smaller_than_a_window(deep_env):
    deep_env.ensure("liqe_koniq.pt")
    with pytest.raises(MetricInputError, match="smaller than the metric's minimum 224"):
        metrics.create("liqe")(torch.rand(1, 3, 223, 400))


def test_clipscore_same_function_as_reference(deep_env, tid_pairs, reference):
    """Every image with every caption. Random weights give cosines near 0, which the score clips at 0; a score
    below 0.01 (cosine below 0.004) is compared in absolute terms (1e-6 of a 0…2.5 scale: float32 rounding of a
    unit-vector dot product), the others relatively; at least a quarter of the pairs must be in the second group."""
    deep_env.ensure(*[wf.filename for wf in weight_files("clipscore")])
    ours, theirs = metrics.create("clipscore"), reference("clipscore")()
    assert set(ours.weight_sha256) == {"ViT-B-32.pt"}
    captions = ["a dog on grass", "a city street at night", "two parrots on a branch", "a red car", "houses",
                "a very long caption " + "that goes on " * 30]  # > 77 tokens: truncated by both
    images = [case[1] for case in _cases(tid_pairs, ((2, 96, 128), (1, 83, 301)))]
    got, want = [], []
    with torch.inference_mode():
        for batch in images:
            for caption in captions:
                text = [caption] * batch.shape[0]
                got.append(ours.score_captions(batch, text))
                want.append(theirs(batch, caption_list=text).flatten())
    got, want = torch.cat(got), torch.cat(want)
    assert torch.isfinite(got).all() and got.shape == want.shape
    clear = want >= 0.01
    assert clear.sum() >= len(want) // 4, want.tolist()
    worst = max_relative_difference(got[clear], want[clear])
    assert worst <= RTOL, (got.tolist(), want.tolist())
    assert torch.allclose(got[~clear], want[~clear], rtol=0.0, atol=1e-6)
    print(f"\nclipscore: max relative difference vs pyiqa 0.1.16 = {worst:.2e} ({int(clear.sum())} of {len(want)} "
          "pairs scored above 0.01)")


def test_clipscore_without_captions_is_refused(deep_env):
    deep_env.ensure("ViT-B-32.pt")
    model = metrics.create("clipscore")
    with pytest.raises(MetricInputError, match="caption"):
        model(torch.rand(1, 3, 64, 64))
    with pytest.raises(MetricInputError, match="2 images but 1 captions"):
        model.score_captions(torch.rand(2, 3, 64, 64), ["one"])


def test_variant_and_checkpoint_options_are_checked(deep_env):
    with pytest.raises(ValueError, match="variant must be one of"):
        metrics.create("clipiqa", variant="clipiqa+_vitB16")
    with pytest.raises(ValueError, match="checkpoint must be one of"):
        metrics.create("liqe", checkpoint="liqe_spaq")


@pytest.mark.parametrize("name", ["qualiclip", "qualiclip+", "qualiclip+-clive", "qualiclip+-flive",
                                  "qualiclip+-spaq"])
def test_qualiclip_same_function_as_reference(name, deep_env, tid_pairs, reference):
    """The four QualiCLIP+ files differ only in their learnt prompts (whose class-name lengths, 3 to 5 tokens,
    the prompt assembly must get right): the plain variant gets the odd-size case too, the others one case each."""
    sizes = ((2, 96, 128), (1, 83, 117)) if name == "qualiclip" else ((2, 83, 117),)
    check_equivalence(name, deep_env, _cases(tid_pairs, sizes), reference_only_files=("RN50.pt",),
                      make_reference=reference(name))


class _OneImageOnCPU(torch.nn.Module):
    """pyiqa's MA-CLIP, which scores one image per call (its windows are reshaped for a batch of one) and moves its
    inputs to CUDA (``.cuda()``, ``.to('cuda')``): run image by image with those moves kept on the CPU."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        to = torch.Tensor.to

        def to_cpu(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
            return to(tensor, *["cpu" if a == "cuda" else a for a in args], **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch.Tensor, "cuda", lambda tensor, *args, **kwargs: tensor)
            patch.setattr(torch.Tensor, "to", to_cpu)
            return torch.stack([self.model(x[i:i + 1]).flatten()[0] for i in range(x.shape[0])])


def test_maclip_same_function_as_reference(deep_env, tid_pairs, reference, monkeypatch):
    """224×224: one window and the resized whole; 300×481 (odd): 1×3 windows, margins left out; the calibration
    pairs at 384×512: 2×3 windows."""
    from pyiqa.archs import maclip_arch

    load_on_cpu = maclip_arch.load
    monkeypatch.setattr(maclip_arch, "load", lambda backbone, device: load_on_cpu(backbone, "cpu"))
    make = reference("maclip")
    cases = random_cases([(1, 224, 224), (2, 300, 481)]) + [calibration_case(tid_pairs, 1.0, 2)]
    check_equivalence("maclip", deep_env, cases, make_reference=lambda: _OneImageOnCPU(make()))


def test_maclip_refuses_images_smaller_than_a_window(deep_env):
    deep_env.ensure("RN50.pt")
    with pytest.raises(MetricInputError, match="smaller than the metric's minimum 224"):
        metrics.create("maclip")(torch.rand(1, 3, 400, 223))
