"""Which datasets exist: the built-in pyiqa entries, a user's ``--data_opt`` overrides, and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from datasets_io.demo import demo_spec
from datasets_io.options import dataset_options
from datasets_io.spec import DatasetSpec


class UnknownDatasetError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def resolve_dataset(
    key: str,
    data_opt: str | Path | None = None,
    data_root: str | None = None,
    *,
    fmt: Literal["current", "2024"] = "current",
) -> DatasetSpec:
    """The spec of dataset ``key`` (``demo`` is generated on first use).

    ``fmt`` picks the built-in defaults: pyiqa's current option file (split columns) or its 2024 one (split
    pickles); ``data_opt`` entries (either format) replace built-in entries of the same key.
    """
    specs = dataset_options(data_opt, data_root, fmt)
    if key in specs:
        return specs[key]
    if key == "demo":
        return demo_spec()
    raise UnknownDatasetError(f"unknown dataset {key!r}; known datasets: {', '.join(sorted({'demo', *specs}))}")
