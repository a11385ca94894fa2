"""A-FINE (afine_nr, afine_fr, afine_all, afine_all_scale) equals pyiqa 0.1.16 on identical random weights.

The random ``afine.pth`` is written in the published layout (tests/_helpers/random_weights_clip.py: the whole
fine-tuned CLIP ViT-B/32 and the heads, which pyiqa loads strictly). pyiqa's model is driven as its code allows,
none of which touches the path under test:

* it reads OpenAI's ViT-B/32 first (and then overwrites every tensor with the fine-tuned ones) from
  ``~/.cache/clip``, checking the published sha256: it is given the session's seeded ``ViT-B-32.pt`` by path
  (its ``clip_backbone`` option), shared with clipscore and LIQE;
* it scores one image per call and standardises its inputs in place: each image is passed alone, as a copy;
* it refuses sides that are not multiples of 32 (its bicubic resize to the next multiple comes after the
  assertion; asserted below): for such inputs it is given the image resized that way. Bicubic weights sum to one,
  so resizing before or after the per-channel standardisation is the same, up to rounding.

One pyiqa instance serves the four names (its ``model_type`` picks what it returns; it computes every term on
every call); each name is built as ours separately.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import metrics
from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases

NAMES = ("afine_nr", "afine_fr", "afine_all", "afine_all_scale")
PATCH = 32


def _to_patch_multiple(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    size = (math.ceil(h / PATCH) * PATCH, math.ceil(w / PATCH) * PATCH)
    if size == (h, w):
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


class _OneImageAtATime:
    """pyiqa's A-FINE network on each image of a batch alone, on copies, sides resized to multiples of 32."""

    def __init__(self, net: torch.nn.Module, model_type: str) -> None:
        self.net, self.model_type = net, model_type

    def __call__(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        self.net.model_type = self.model_type
        scores = []
        for i in range(dist.shape[0]):
            one_ref = None if ref is None else _to_patch_multiple(ref[i:i + 1].clone())
            scores.append(self.net(_to_patch_multiple(dist[i:i + 1].clone()), one_ref).flatten())
        return torch.cat(scores)


@pytest.fixture()
def reference_net(deep_env):
    """pyiqa's A-FINE network (``AFINE`` arch), offline, from the seeded files."""
    deep_env.ensure("afine.pth", "ViT-B-32.pt")
    pyiqa = pytest.importorskip("pyiqa")
    openai_file = deep_env.torch_home / "hub" / "clip" / "ViT-B-32.pt"
    with torch.no_grad():
        metric = pyiqa.create_metric("afine_all_scale", device="cpu", clip_backbone=str(openai_file))
    return metric.net


@pytest.mark.timeout(600)
def test_afine_same_function_as_reference(deep_env, tid_pairs, reference_net):
    """Batches of two against the reference's one image at a time; 96×128: whole 32-px patches (3×4 tokens, the
    trained 7×7 positional embedding resized); 83×117: resized up to 96×128; the calibration pairs at 192×256
    (6×8 tokens)."""
    reference_net.model_type = "afine_fr"
    with pytest.raises(AssertionError, match="divisible by 32"):  # what our resize differs from (module docstring)
        reference_net(torch.rand(1, 3, 83, 128), torch.rand(1, 3, 83, 128))
    cases = random_cases([(2, 96, 128), (1, 83, 117)]) + [calibration_case(tid_pairs, 0.5, count=2)]
    worst = {name: check_equivalence(name, deep_env, cases, make_reference=lambda n=name: _OneImageAtATime(
        reference_net, n)) for name in NAMES}
    print("\n" + ", ".join(f"{name} {value:.1e}" for name, value in worst.items()))


def test_output_option_is_checked(deep_env):
    with pytest.raises(ValueError, match="output must be one of"):
        metrics.create("afine_fr", output="afine")
