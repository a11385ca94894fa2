"""Fixtures for the dataset tests: an isolated environment and a fake hub on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._helpers.fakehub import FakeHub


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No network, no user caches: HF and iqabench homes under tmp; no data root or offline flag inherited."""
    home = tmp_path / "home"
    monkeypatch.setenv("IQABENCH_HOME", str(home / "iqabench"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("IQABENCH_DATA_ROOT", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "IQABENCH_DATASETS_REPO",
                 "IQABENCH_METAINFO_REPO", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a closed port: nothing leaves the machine
    # huggingface_hub reads HF_HUB_OFFLINE once, when first imported: a deep-metric test that ran earlier in this
    # process with HF_HUB_OFFLINE=1 would otherwise leave every download here refused as offline.
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    return home


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch):
    """A running fake hub holding the four test datasets; HF_ENDPOINT points at it."""
    from tests._helpers.builders import populate

    with FakeHub() as server:
        populate(server)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server
