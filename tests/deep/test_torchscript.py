"""The TorchScript tensor reader: a module's tensors come back by name; nothing else in the archive is run."""

from __future__ import annotations

import pickle
import zipfile

import pytest
import torch

from metrics.deep.torchscript import TorchScriptArchiveError, read_torchscript_tensors
from tests._helpers.random_weights_arniqa import LinearRegression


def _archive(tmp_path):
    model = LinearRegression(torch.randn(1, 7), torch.tensor(2.5))
    path = tmp_path / "regressor.pth"
    torch.jit.script(model).save(str(path))
    return model, path


def test_tensors_are_read_by_attribute_name(tmp_path):
    model, path = _archive(tmp_path)
    tensors = read_torchscript_tensors(path)
    assert set(tensors) == {"weights", "biases"}
    assert torch.equal(tensors["weights"], model.weights.detach()) and float(tensors["biases"]) == 2.5


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("echo should-not-run",))


def test_an_archive_naming_other_globals_is_refused_unrun(tmp_path, capfd):
    _, path = _archive(tmp_path)
    tampered = tmp_path / "tampered.pth"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("/data.pkl"):
                data = pickle.dumps(_Payload(), protocol=2)
            target.writestr(item, data)
    with pytest.raises(TorchScriptArchiveError, match="refusing to load posix.system|refusing to load os.system"):
        read_torchscript_tensors(tampered)
    assert "should-not-run" not in capfd.readouterr().out


def test_other_files_are_refused(tmp_path):
    state_dict = tmp_path / "state.pth"
    torch.save({"weights": torch.zeros(1)}, state_dict)  # the same zip layout, but a dict, not a module
    with pytest.raises(TorchScriptArchiveError, match="does not hold a module"):
        read_torchscript_tensors(state_dict)
    plain = tmp_path / "plain.pth"
    plain.write_bytes(b"not a zip")
    with pytest.raises(TorchScriptArchiveError, match="not a TorchScript archive"):
        read_torchscript_tensors(plain)
