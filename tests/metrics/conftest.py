"""Deep metrics in the generic metric tests load random weights of the published layout (nothing downloaded)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "deep"))

import random_weights  # noqa: E402


@pytest.fixture(scope="session")
def _seeded_weight_caches(tmp_path_factory):
    root = tmp_path_factory.mktemp("metric-weights")
    random_weights.seed(list(random_weights.FILES), root / "torch", root / "hf")
    return root


@pytest.fixture(autouse=True)
def deep_weights_env(request, monkeypatch):
    """Point the weight caches at random files, only for tests that build a deep metric."""
    name = getattr(request.node, "callspec", None) and request.node.callspec.params.get("name")
    if not name:
        return
    import metrics
    from metrics.deep import weights

    if not weights.weight_files(name):
        return
    root = request.getfixturevalue("_seeded_weight_caches")
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(root / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("IQABENCH_WEIGHTS_UNVERIFIED", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    for var in ("IQABENCH_WEIGHTS_REPO", "IQABENCH_WEIGHTS_REVISION", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    assert metrics.get_spec(name)
