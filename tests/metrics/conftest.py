"""Deep metrics in the generic metric tests load random weights of the published layout (nothing downloaded).

Files are written on first need into the session's one seeded cache (``seeded_weight_caches``, tests/conftest.py),
only for the metrics a test builds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
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
    caches.ensure_files(files)
    caches.use_in(monkeypatch)


@pytest.fixture()
def put_param_file(seeded_weight_caches, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, dict], None]]:
    """Write a MATLAB .mat parameter file (variables → arrays) under its published name where iqabench and pyiqa
    look for it, offline, in the session's seeded caches (pyiqa fixes its cache folder when first imported). The
    session's own file comes back when the test ends (later tests read the seeded file, not this test's)."""
    from tests._helpers.random_weights import _hf_snapshot_path, _link_or_copy
    from tests._helpers.random_weights_classical import mat_bytes

    seeded_weight_caches.use_in(monkeypatch)  # also where pyiqa, if imported, looks for its files
    before: dict[str, tuple[Path, bytes | None, Path | None]] = {}

    def put(filename: str, variables: dict[str, np.ndarray]) -> None:
        path = _hf_snapshot_path(seeded_weight_caches.hf_cache, filename)
        pyiqa_copy = seeded_weight_caches.torch_home / "hub" / "pyiqa" / filename
        if filename not in before:
            before[filename] = (path, path.read_bytes() if path.exists() else None,
                                seeded_weight_caches.written.get(filename))
        path.unlink(missing_ok=True)  # a new file, not a write through the session file's hard links
        pyiqa_copy.unlink(missing_ok=True)
        path.write_bytes(mat_bytes(variables))
        _link_or_copy(path, pyiqa_copy)
        seeded_weight_caches.written[filename] = path

    yield put
    for filename, (path, content, written) in before.items():
        pyiqa_copy = seeded_weight_caches.torch_home / "hub" / "pyiqa" / filename
        path.unlink(missing_ok=True)
        pyiqa_copy.unlink(missing_ok=True)
        if content is None:
            seeded_weight_caches.written.pop(filename, None)
            continue
        path.write_bytes(content)
        _link_or_copy(path, pyiqa_copy)
        seeded_weight_caches.written[filename] = written or path
