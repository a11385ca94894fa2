"""pyiqa 0.1.16's TOPIQ / CFANet built offline, as the reference of the TOPIQ equivalence tests.

Three stand-ins keep it offline and importable; none touches the path under test:

* its ResNet-50 backbone comes from ``timm.create_model(..., pretrained=True)`` and its Swin-B from
  ``create_swin(..., pretrained=True)``, which would download ImageNet weights that the CFANet checkpoint then
  overwrites in full (strict load): both are built with ``pretrained=False``;
* its module imports ``facexlib`` for the face checkpoints, which construct facexlib's ``FaceRestoreHelper``
  (RetinaFace detection and alignment, loading the detector and a face parser) even when alignment is off: where
  facexlib is not imported yet, an empty stand-in module, and a helper that accepts its arguments and does nothing
  else (any use of it fails loudly). Tests comparing ``align_crop_face=False`` never use the helper; the aligned
  pipeline's test (tests/deep/test_equivalence_face_align.py) puts the real one back.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any, Callable

import pytest


class UnusedFaceHelper:
    """Stands in for facexlib's FaceRestoreHelper: constructed, never used (it has no methods)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


def offline_topiq_reference(monkeypatch: pytest.MonkeyPatch, **options: Any) -> Callable[[str], Callable[[], Any]]:
    """A factory: metric name → a builder of pyiqa's metric (``options`` passed to ``create_metric``), offline."""
    timm = pytest.importorskip("timm")
    pytest.importorskip("pyiqa")
    real = timm.create_model
    monkeypatch.setattr(timm, "create_model", lambda name, pretrained=False, **kw: real(name, pretrained=False, **kw))
    helper = types.ModuleType("facexlib.utils.face_restoration_helper")
    helper.FaceRestoreHelper = UnusedFaceHelper
    for name, module in (("facexlib", types.ModuleType("facexlib")),
                         ("facexlib.utils", types.ModuleType("facexlib.utils")),
                         ("facexlib.utils.face_restoration_helper", helper)):
        if name not in sys.modules:
            monkeypatch.setitem(sys.modules, name, module)
    arch = importlib.import_module("pyiqa.archs.topiq_arch")  # registers CFANet even if an earlier scan skipped it
    real_swin = arch.create_swin
    monkeypatch.setattr(arch, "create_swin", lambda name, pretrained=False, **kw: real_swin(name, pretrained=False,
                                                                                               **kw))
    monkeypatch.setattr(arch, "FaceRestoreHelper", UnusedFaceHelper)

    def make(name: str) -> Callable[[], Any]:
        import pyiqa

        return lambda: pyiqa.create_metric(name, device="cpu", **options)

    return make
