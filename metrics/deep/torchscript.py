"""The tensors of a TorchScript archive, read without running anything the archive holds.

Some published weight files are TorchScript archives (``torch.jit.save``), e.g. ARNIQA's per-dataset regressors.
``torch.load(weights_only=True)`` refuses them, and ``torch.jit.load`` would compile and later run the archive's
code. This reader opens the archive's ``data.pkl`` with an unpickler that admits only what a module's state
needs: ``__torch__.*`` module objects (kept as plain attribute holders, their code never loaded), tensors
rebuilt by ``torch._utils._rebuild_tensor_v2`` from the archive's own storages, ``OrderedDict`` and the typed
storage classes. Anything else is refused. The result is the module's tensors by dotted attribute name
(``weights``, ``sub.bias``), the shape of a state dict.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

#: The storage classes a tensor may be pickled with (``torch FloatStorage``), by name → the dtype they hold.
_STORAGES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
             "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
             "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
             "BoolStorage": torch.bool}


class TorchScriptArchiveError(ValueError):
    """A file that is not a TorchScript archive this reader accepts (the message says why)."""


class _ScriptObject:
    """A ``__torch__`` module object: its pickled attributes, nothing else."""


@dataclass(frozen=True)
class _StorageType:
    """What a pickled storage class name stands for here: the dtype of its values."""

    dtype: torch.dtype


class _RestrictedStateUnpickler(pickle.Unpickler):
    """Tensors and plain containers only: any other class named by the archive is refused (no code runs)."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str, source: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.root, self.source = archive, root, source

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__"):
            return _ScriptObject
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return torch._utils._rebuild_tensor_v2
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        raise TorchScriptArchiveError(f"{self.source}: refusing to load {module}.{name} from a TorchScript archive")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise TorchScriptArchiveError(f"{self.source}: unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise TorchScriptArchiveError(f"{self.source}: unknown storage type {storage_type!r}")
        dtype = storage_type.dtype
        raw = self.archive.read(f"{self.root}/data/{key}")
        itemsize = torch.empty((), dtype=dtype).element_size()
        if len(raw) != numel * itemsize:
            raise TorchScriptArchiveError(f"{self.source}: storage {key} holds {len(raw)} bytes, "
                                          f"expected {numel} × {itemsize}")
        values = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        return torch.storage.TypedStorage(wrap_storage=values.untyped_storage(), dtype=dtype, _internal=True)


def _tensors(obj: Any, prefix: str, out: dict[str, torch.Tensor]) -> None:
    for name, value in vars(obj).items():
        if isinstance(value, torch.Tensor):
            out[prefix + name] = value
        elif isinstance(value, _ScriptObject):
            _tensors(value, f"{prefix}{name}.", out)


def read_torchscript_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor attribute of the module saved at ``path``, by dotted name, on the CPU."""
    source = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise TorchScriptArchiveError(f"{source}: not a TorchScript archive ({exc})") from exc
    with archive:
        roots = [name[: -len("/data.pkl")] for name in archive.namelist()
                 if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(roots) != 1:
            raise TorchScriptArchiveError(f"{source}: no single <root>/data.pkl in the archive")
        root = roots[0]
        if f"{root}/byteorder" in archive.namelist() and archive.read(f"{root}/byteorder").strip() != b"little":
            raise TorchScriptArchiveError(f"{source}: big-endian archives are not supported")
        module = _RestrictedStateUnpickler(archive.read(f"{root}/data.pkl"), archive, root, source).load()
    if not isinstance(module, _ScriptObject):
        raise TorchScriptArchiveError(f"{source}: the archive does not hold a module")
    tensors: dict[str, torch.Tensor] = {}
    _tensors(module, "", tensors)
    return tensors
