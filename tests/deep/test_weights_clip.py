"""The weight store and OpenAI's CLIP files: URL downloads (fake server on 127.0.0.1), TorchScript archives read
without running code, sha256 from the URL, bare-tensor files, offline errors; a CLIP metric built from the hub."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from urllib.parse import unquote

import pytest
import torch

import metrics
from metrics.deep import clip_trunk, weights
from metrics.deep.torchscript import TorchScriptArchiveError, read_torchscript_tensors
from metrics.deep.weights import (
    BARE_TENSOR_KEY,
    WeightFile,
    WeightIntegrityError,
    WeightsMissingError,
)
from tests._helpers.random_weights_clip import import_openai_clip, save_torchscript
from tests.deep.test_weights import store  # noqa: F401  (the fixture: a fresh cache online against a fake hub)


def _archive_bytes(tmp_path, seed: int = 1) -> tuple[bytes, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    state = {"visual.conv1.weight": torch.randn(4, 3, 2, 2, generator=gen).half(),
             "visual.transformer.resblocks.0.attn.in_proj_weight": torch.randn(6, 2, generator=gen).half(),
             "ln_final.weight": torch.randn(2, generator=gen),
             "steps": torch.arange(5)}
    path = tmp_path / "archive.pt"
    save_torchscript(state, path)
    return path.read_bytes(), state


def _served(hub, data: bytes, name: str = "RN50.pt", sha: str | None = None) -> WeightFile:
    """A file served at <hub>/clip/models/resolve/<sha256>/<name>, OpenAI's URL shape."""
    sha = sha or hashlib.sha256(data).hexdigest()
    hub.add("clip/models", f"{name}", data)
    return WeightFile.from_url(f"{hub.url}/clip/models/resolve/{sha}/{name}", folder="clip", torchscript=True)


def test_torchscript_archive_reads_as_torch_does(tmp_path):
    _, state = _archive_bytes(tmp_path)
    path = tmp_path / "archive.pt"
    ours = read_torchscript_tensors(path)
    theirs = torch.jit.load(str(path)).state_dict()
    assert set(ours) == set(theirs) == set(state)
    for key, value in state.items():
        assert ours[key].dtype == value.dtype and torch.equal(ours[key], value), key


def test_torchscript_archive_that_asks_for_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "ran"),))

    _archive_bytes(tmp_path)
    source, target = tmp_path / "archive.pt", tmp_path / "evil.pt"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            body = pickle.dumps(Payload(), protocol=2) if item.filename.endswith("/data.pkl") else zin.read(item)
            zout.writestr(item, body)
    with pytest.raises(TorchScriptArchiveError, match="refusing to load"):
        read_torchscript_tensors(target)
    assert not (tmp_path / "ran").exists()


def test_url_file_downloaded_verified_by_url_sha256_and_read(store, tmp_path):  # noqa: F811
    data, state = _archive_bytes(tmp_path, seed=2)
    wf = _served(store, data)
    assert wf.sha256_prefix == hashlib.sha256(data).hexdigest()
    loaded = weights.load(wf)
    assert loaded.verified and loaded.path == weights.torch_checkpoint_dir("clip") / "RN50.pt"
    assert torch.equal(loaded.state_dict["visual.conv1.weight"], state["visual.conv1.weight"])
    count = len(store.requests)
    weights.load(wf)  # cached: nothing asked of the server
    assert len(store.requests) == count


def test_url_file_with_other_content_is_refused(store, tmp_path):  # noqa: F811
    data, _ = _archive_bytes(tmp_path, seed=3)
    wrong = "0" * 64
    with pytest.raises(WeightsMissingError, match="RN50.pt.*download from .* failed"):
        weights.load(_served(store, data, sha=wrong))
    # the same bytes already in the cache under that name: refused before loading
    target = weights.torch_checkpoint_dir("clip") / "RN50.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    with pytest.raises(WeightIntegrityError, match=f"RN50.pt.*published prefix {wrong}"):
        weights.load(_served(store, data, sha=wrong))


def test_url_file_missing_offline_names_it(store, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsMissingError, match=r"ViT-L-14\.pt .*openaipublic.*HF_HUB_OFFLINE"):
        weights.load(clip_trunk.openai_file("ViT-L/14"))
    assert store.requests == []


def test_bare_tensor_file_loads_under_its_key(store):  # noqa: F811
    buffer = io.BytesIO()
    context = torch.randn(2, 16, 8)
    torch.save(context, buffer)
    data = buffer.getvalue()
    wf = WeightFile(f"Prompts-{hashlib.sha256(data).hexdigest()[:8]}.pth", repo_id="someone/weights-repo")
    store.add("someone/weights-repo", wf.filename, data)
    assert torch.equal(weights.load(wf).state_dict[BARE_TENSOR_KEY], context)


def test_openai_urls_are_the_references():
    """Our URLs (with their sha256) are the ones pyiqa 0.1.16 and OpenAI's package download."""
    clip = import_openai_clip()
    pyiqa_clip = pytest.importorskip("pyiqa.archs.clip_model")
    for backbone, url in clip_trunk.URLS.items():
        assert url == pyiqa_clip._MODELS[backbone] == clip.clip._MODELS[backbone], backbone


def test_clip_metric_built_from_the_hub(store, deep_env, monkeypatch):  # noqa: F811
    """clipiqa+ online: OpenAI's RN50 from torch's hub folder, the learnt prompts downloaded from the hub."""
    deep_env.ensure("RN50.pt", "CLIP-IQA+_learned_prompts-603f3273.pth")
    monkeypatch.setenv("TORCH_HOME", str(deep_env.torch_home))
    monkeypatch.setenv("IQABENCH_WEIGHTS_UNVERIFIED", "1")  # random bytes under published names
    prompts = deep_env.written["CLIP-IQA+_learned_prompts-603f3273.pth"].read_bytes()
    store.add("chaofengc/IQA-PyTorch-Weights", "CLIP-IQA+_learned_prompts-603f3273.pth", prompts)
    model = metrics.create("clipiqa+")
    assert model.weight_sha256["CLIP-IQA+_learned_prompts-603f3273.pth"] == hashlib.sha256(prompts).hexdigest()
    assert any("CLIP-IQA+_learned_prompts" in unquote(path) for _, path in store.requests)
    scores = model(torch.rand(2, 3, 64, 80, generator=torch.Generator().manual_seed(0)))
    assert scores.shape == (2,) and ((scores > 0) & (scores < 1)).all()
