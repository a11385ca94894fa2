"""The weight store: download from a (fake) hub, sha256 checks and record, offline errors, the CLI job."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re

import pytest
import torch

from jobs.cli import main as cli
from metrics.deep import weights
from metrics.deep.weights import WeightFile, WeightIntegrityError, WeightsMissingError
from tests._helpers.fakehub import FakeHub, FakeModelHub

REPO = "someone/weights-repo"


def _file_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    torch.save({"w": torch.randn(4, 3, generator=torch.Generator().manual_seed(seed))}, buffer)
    return buffer.getvalue()


def _published(data: bytes, stem: str = "Net") -> WeightFile:
    return WeightFile(f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth", repo_id=REPO)


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """A fresh cache, online against a fake hub on 127.0.0.1, published prefixes enforced."""
    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("IQABENCH_WEIGHTS_UNVERIFIED")
    # huggingface_hub reads $HF_HUB_OFFLINE once, at import (possibly in an earlier, offline test)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with FakeModelHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        yield hub


def test_sha256_prefix_from_file_names():
    assert WeightFile("LPIPS_v0.1_alex-df73285e.pth").sha256_prefix == "df73285e"
    assert WeightFile("plain.pth").sha256_prefix is None
    from torchvision.models import AlexNet_Weights

    tv = WeightFile.torchvision(AlexNet_Weights.IMAGENET1K_V1)
    assert (tv.filename, tv.source, tv.sha256_prefix) == ("alexnet-owt-7be5be79.pth", "torchvision", "7be5be79")
    assert WeightFile.torchvision("AlexNet_Weights.IMAGENET1K_V1") == tv


def test_named_torchvision_urls_are_torchvisions_own():
    from torchvision import models

    from metrics.deep.weights import TORCHVISION_URLS

    for name, url in TORCHVISION_URLS.items():
        enum_name, member = name.split(".")
        assert getattr(getattr(models, enum_name), member).url == url, name


def test_metric_modules_import_without_torchvision(top_level_modules_loaded_by):
    """The registry imports every metric module (in the driver and, for its own metric, in each actor)."""
    code = "import metrics; metrics.available(); import metrics.deep.weights"
    assert top_level_modules_loaded_by(code, ("torchvision", "timm", "scipy")) == []


def test_download_verify_record_and_load(store, tmp_path):
    data = _file_bytes(1)
    wf = _published(data)
    store.add(REPO, wf.filename, data)
    loaded = weights.load(wf)
    assert loaded.verified and loaded.sha256 == hashlib.sha256(data).hexdigest()
    assert torch.equal(loaded.state_dict["w"], torch.load(io.BytesIO(data))["w"])
    assert any(wf.filename in path for _, path in store.requests)
    record = json.loads(weights.record_path().read_text())
    assert record["files"][f"hf:{REPO}/{wf.filename}"]["sha256"] == loaded.sha256
    # cached now: a second load asks nothing of the hub, even offline
    count = len(store.requests)
    weights.load(wf)
    assert len(store.requests) == count


def test_revision_and_repo_are_configurable(store, monkeypatch):
    data = _file_bytes(2)
    wf = WeightFile(_published(data).filename)  # repo from the environment
    store.add("other/repo", wf.filename, data)
    monkeypatch.setenv("IQABENCH_WEIGHTS_REPO", "other/repo")
    weights.load(wf, revision="v1")
    assert any("/other/repo/resolve/v1/" in path for _, path in store.requests)


def test_missing_offline_names_the_file(store, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    wf = WeightFile("Absent-0123abcd.pth", repo_id=REPO)
    with pytest.raises(WeightsMissingError, match="Absent-0123abcd.pth.*HF_HUB_OFFLINE"):
        weights.load(wf)
    assert store.requests == []


def test_missing_online_names_the_file(store):
    with pytest.raises(WeightsMissingError, match=f"Absent-0123abcd.pth.*no such file in model repo {REPO}"):
        weights.load(WeightFile("Absent-0123abcd.pth", repo_id=REPO))


def test_prefix_mismatch_is_refused_unless_allowed(store, monkeypatch):
    data = _file_bytes(3)
    wf = WeightFile("Net-00000000.pth", repo_id=REPO)
    store.add(REPO, wf.filename, data)
    with pytest.raises(WeightIntegrityError, match="Net-00000000.pth.*published prefix 00000000"):
        weights.load(wf)
    monkeypatch.setenv("IQABENCH_WEIGHTS_UNVERIFIED", "1")
    assert not weights.load(wf).verified


def test_file_changed_since_first_use_is_refused(store):
    data = _file_bytes(4)
    wf = WeightFile("Changing.pth", repo_id=REPO)  # no prefix: only the record protects it
    store.add(REPO, wf.filename, data)
    path = weights.fetch(wf)
    weights.verify(wf, path)
    path.write_bytes(_file_bytes(5))
    with pytest.raises(WeightIntegrityError, match="differs from the one recorded at first use"):
        weights.load(wf)


def test_loading_refuses_pickled_code(store):
    class Payload:
        def __reduce__(self):
            return (print, ("should never run",))

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(1), "x": Payload()}, buffer)
    data = buffer.getvalue()
    wf = _published(data, "Evil")
    store.add(REPO, wf.filename, data)
    with pytest.raises(pickle.UnpicklingError):
        weights.load(wf)


def test_a_dataset_repo_file_is_fetched_recorded_and_checked(store, monkeypatch):
    """A file of a dataset repo (Compare2Score's anchor images) comes from the hub's dataset URLs, is recorded under
    its own key (not a model repo's of the same id) and refused once it has changed."""
    data = b"the anchors' parquet file"
    anchors = WeightFile("data/train-00000-of-00001.parquet", repo_id="someone/anchors", repo_type="dataset")
    with FakeHub(kind="dataset") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.add("someone/anchors", anchors.filename, data)
        path = weights.fetch(anchors)
        sha, matches = weights.verify(anchors, path)
        absent = WeightFile("data/absent.parquet", repo_id="someone/anchors", repo_type="dataset")
        with pytest.raises(WeightsMissingError, match="absent.parquet.*no such file in dataset repo someone/anchors"):
            weights.fetch(absent)
    assert path.read_bytes() == data and (sha, matches) == (hashlib.sha256(data).hexdigest(), True)
    assert any(url.startswith("/datasets/someone/anchors/resolve/main/data/") for _, url in hub.requests)
    assert anchors.name == "datasets/someone/anchors/data/train-00000-of-00001.parquet"
    record = json.loads(weights.record_path().read_text())
    assert record["files"][f"hf:datasets/someone/anchors/{anchors.filename}"]["sha256"] == sha
    assert WeightFile(anchors.filename, repo_id="someone/anchors").key() != anchors.key()
    assert weights.cached_path(anchors) == path  # found offline now
    path.write_bytes(b"changed")
    with pytest.raises(WeightIntegrityError, match="train-00000-of-00001.parquet.*differs from the one recorded"):
        weights.verify(anchors, path)


def test_a_dataset_repo_file_needs_its_repo():
    with pytest.raises(ValueError, match="dataset repo"):
        WeightFile("anchors.parquet", repo_type="dataset")


def test_weight_files_of_metrics():
    assert [wf.filename for wf in weights.weight_files("lpips")] == [
        "alexnet-owt-7be5be79.pth",
        "LPIPS_v0.1_alex-df73285e.pth",
    ]
    assert weights.weight_files("psnr") == []


def test_cli_download_and_list(store, deep_env, tmp_path, monkeypatch, capsys):
    deep_env.ensure("alexnet-owt-7be5be79.pth", "LPIPS_v0.1_alex-df73285e.pth")
    monkeypatch.setenv("TORCH_HOME", str(deep_env.torch_home))  # the torchvision trunk is already there
    lin = deep_env.written["LPIPS_v0.1_alex-df73285e.pth"].read_bytes()
    store.add("chaofengc/IQA-PyTorch-Weights", "LPIPS_v0.1_alex-df73285e.pth", lin)
    cache = tmp_path / "cli-cache"

    assert cli(["weights", "list", "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"LPIPS_v0\.1_alex-df73285e\.pth\s+missing", out)

    # random bytes under the published name: refused (exit 1) with the reason
    assert cli(["weights", "download", "lpips", "--cache", str(cache)]) == 1
    assert "does not start with the published prefix df73285e" in capsys.readouterr().err

    monkeypatch.setenv("IQABENCH_WEIGHTS_UNVERIFIED", "1")
    assert cli(["weights", "download", "lpips", "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert hashlib.sha256(lin).hexdigest() in out and "does NOT match" in out
    assert cli(["weights", "list", "--cache", str(cache)]) == 0
    assert re.search(r"LPIPS_v0\.1_alex-df73285e\.pth\s+cached", capsys.readouterr().out)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("IQABENCH_WEIGHTS_CACHE", str(cache))
    import metrics

    model = metrics.create("lpips")
    assert model.weight_sha256["LPIPS_v0.1_alex-df73285e.pth"] == hashlib.sha256(lin).hexdigest()


# ---------------------------------------------------------------------------------------- pyiqa's own cache
def _put_in_pyiqa_cache(folder, wf: WeightFile, data: bytes):
    path = folder / "hub" / "pyiqa" / wf.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_pyiqa_cache_is_used_before_downloading(store, tmp_path, monkeypatch):
    data = _file_bytes(11)
    wf = _published(data)
    store.add(REPO, wf.filename, b"the hub's copy must not be fetched")
    path = _put_in_pyiqa_cache(tmp_path / "torch", wf, data)  # $TORCH_HOME/hub/pyiqa (fixture's TORCH_HOME)
    loaded = weights.load(wf)
    assert loaded.path == path and loaded.verified
    assert store.requests == []


def test_pyiqa_cache_default_folder_is_under_the_home_cache(store, tmp_path, monkeypatch):
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.pyiqa_cache_dir() == tmp_path / "home" / ".cache" / "torch" / "hub" / "pyiqa"
    data = _file_bytes(12)
    wf = _published(data)
    path = _put_in_pyiqa_cache(tmp_path / "home" / ".cache" / "torch", wf, data)
    assert weights.cached_path(wf) == path
    assert store.requests == []


def test_mismatching_pyiqa_file_is_ignored_logged_once_and_kept(store, tmp_path, caplog):
    data = _file_bytes(13)
    wf = _published(data)
    store.add(REPO, wf.filename, data)
    stale = _put_in_pyiqa_cache(tmp_path / "torch", wf, _file_bytes(14))  # same name, other content
    stale_bytes = stale.read_bytes()
    with caplog.at_level("WARNING", logger="metrics.deep.weights"):
        assert weights.cached_path(wf) is None
        assert weights.cached_path(wf) is None
        loaded = weights.load(wf)  # downloaded into the Hugging Face cache instead
    ignored = [r for r in caplog.records if "ignoring pyiqa's copy" in r.getMessage()]
    assert len(ignored) == 1 and str(stale) in ignored[0].getMessage()
    assert loaded.path != stale and loaded.sha256 == hashlib.sha256(data).hexdigest()
    assert any(wf.filename in path for _, path in store.requests)
    assert stale.read_bytes() == stale_bytes  # never deleted nor changed


def test_pyiqa_file_without_a_lock_is_not_used(store, tmp_path):
    data = _file_bytes(15)
    wf = WeightFile("Unprefixed.pth", repo_id=REPO)  # no published prefix, nothing recorded yet
    _put_in_pyiqa_cache(tmp_path / "torch", wf, data)
    assert weights.cached_path(wf) is None


def test_pyiqa_file_must_match_the_sha256_recorded_at_first_use(store, tmp_path):
    data = _file_bytes(16)
    wf = WeightFile("Recorded.pth", repo_id=REPO)  # no prefix: the first-use record is its lock
    store.add(REPO, wf.filename, data)
    hub_copy = weights.fetch(wf)
    weights.verify(wf, hub_copy)
    hub_copy.unlink()  # gone from the Hugging Face cache (a cleaned cache)
    good = _put_in_pyiqa_cache(tmp_path / "torch", wf, data)
    assert weights.cached_path(wf) == good
    good.write_bytes(_file_bytes(17))
    assert weights.cached_path(wf) is None


def test_mat_parameter_file_is_fetched_recorded_and_read(store, monkeypatch):
    """A pyiqa ``.mat`` parameter file (no sha256 in its name): fetched, its sha256 recorded at first use, read
    with scipy; a later change of the cached file is refused; it counts as published only where random test
    files are not accepted."""
    from tests._helpers.random_weights_classical import mat_bytes

    data = mat_bytes({"mu_prisparam": torch.arange(36.0).reshape(1, 36).numpy()})
    wf = WeightFile("params.mat", repo_id=REPO)
    store.add(REPO, wf.filename, data)
    params = weights.load_mat(wf)
    assert params["mu_prisparam"].shape == (1, 36) and params["mu_prisparam"][0, 5] == 5.0
    record = json.loads(weights.record_path().read_text())
    assert record["files"][f"hf:{REPO}/{wf.filename}"]["sha256"] == hashlib.sha256(data).hexdigest()
    path = weights.cached_path(wf)
    path.unlink()
    path.write_bytes(mat_bytes({"mu_prisparam": torch.zeros(1, 36).numpy()}))
    with pytest.raises(WeightIntegrityError, match="recorded at first use"):
        weights.load_mat(wf)
    monkeypatch.setattr(weights, "weight_files", lambda name: [wf])
    assert weights.real_weights_present("any")[0]
    monkeypatch.setenv("IQABENCH_WEIGHTS_UNVERIFIED", "1")
    assert not weights.real_weights_present("any")[0]
