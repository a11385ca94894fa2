"""LAION-Aesthetics (``laion_aes``) equals pyiqa 0.1.16 on identical random weights.

The CLIP ViT-L/14 is the session's one seeded ``ViT-L-14.pt`` (full published size, shared with
``clipiqa+_vitL14_512``); the reference reads it through OpenAI's ``clip.load``, whose download step (it checks the
published sha256, which random weights never match) is replaced by the seeded file, and whose ``pkg_resources``
import gets the stand-in of ``random_weights_clip.import_openai_clip``. Inputs are resized to 224 px on their
shorter side and centre-cropped by both, so sizes that enlarge, shrink and crop are compared.
"""

from __future__ import annotations

import importlib

import pytest

from tests._helpers.equivalence import calibration_case, check_equivalence, random_cases
from tests._helpers.random_weights_clip import import_openai_clip, seeded_clip_download


@pytest.fixture()
def reference(monkeypatch, deep_env):
    import_openai_clip()
    pyiqa = pytest.importorskip("pyiqa")
    seeded = seeded_clip_download(deep_env.torch_home)

    import clip.clip

    importlib.import_module("pyiqa.archs.laion_aes_arch")  # registers it even if an earlier scan skipped it
    monkeypatch.setattr(clip.clip, "_download", seeded)
    return lambda: pyiqa.create_metric("laion_aes", device="cpu")


def test_laion_aes_same_function_as_reference(deep_env, tid_pairs, reference):
    # 96×128: enlarged to 224×298 then cropped; 301×257 (odd): shrunk, cropped in height; the calibration pairs
    cases = random_cases([(2, 96, 128), (1, 301, 257)]) + [calibration_case(tid_pairs, 0.5, count=2)]
    check_equivalence("laion_aes", deep_env, cases, make_reference=reference)
