"""Deep metrics in the generic metric tests load random weights of the published layout (nothing downloaded).

Files are written on first need, once per session, only for the metrics a test builds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "deep"))

import random_weights  # noqa: E402


class _LazyCaches:
    def __init__(self, root: Path) -> None:
        self.torch_home, self.hf_cache = root / "torch", root / "hf"
        self.written: set[str] = set()

    def ensure(self, names: list[str]) -> None:
        todo = [n for n in names if n not in self.written]
        random_weights.seed(todo, self.torch_home, self.hf_cache)
        self.written.update(todo)


@pytest.fixture(scope="session")
def _weight_caches(tmp_path_factory) -> _LazyCaches:
    return _LazyCaches(tmp_path_factory.mktemp("metric-weights"))


@pytest.fixture(autouse=True)
def deep_weights_env(request, monkeypatch):
    """Point the weight caches at random files, only for tests that build a deep metric."""
    name = getattr(request.node, "callspec", None) and request.node.callspec.params.get("name")
    if not name:
        return
    from metrics.deep import weights

    files = weights.weight_files(name)
    if not files:
        return
    caches = request.getfixturevalue("_weight_caches")
    caches.ensure([f.filename for f in files])
    monkeypatch.setenv("TORCH_HOME", str(caches.torch_home))
    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(caches.hf_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("IQABENCH_WEIGHTS_UNVERIFIED", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    for var in ("IQABENCH_WEIGHTS_REPO", "IQABENCH_WEIGHTS_REVISION", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
