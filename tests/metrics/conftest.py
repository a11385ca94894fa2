"""Deep metrics in the generic metric tests load random weights of the published layout (nothing downloaded).

Files are written on first need into the session's one seeded cache (``seeded_weight_caches``, tests/conftest.py),
only for the metrics a test builds.
"""

from __future__ import annotations

import pytest


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
    caches = request.getfixturevalue("seeded_weight_caches")
    caches.ensure(*[f.filename for f in files])
    caches.use_in(monkeypatch)
