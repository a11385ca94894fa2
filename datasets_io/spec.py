"""``DatasetSpec``: one dataset entry of a pyiqa option file, typed and validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: pyiqa dataset types this project reads, and whether they are full-reference.
DATASET_KINDS: dict[str, Literal["FR", "NR", "2AFC"]] = {
    "GeneralFRDataset": "FR",
    "GeneralNRDataset": "NR",
    "LIVEChallengeDataset": "NR",
    "AVADataset": "NR",
    "PieAPPDataset": "FR",
    "BAPPSDataset": "2AFC",
}


class DatasetOptionError(ValueError):
    """A dataset option entry that cannot be used (names the file, entry and field)."""


@dataclass(frozen=True)
class DatasetSpec:
    key: str
    name: str
    type: str
    dataroot_target: str
    meta_info_file: str
    dataroot_ref: str | None = None
    split_index: str | int | None = None
    split_file: str | None = None
    phase: str | None = None
    mos_range: tuple[float, float] | None = None
    lower_better: bool = False
    mos_normalize: bool = False
    augment: dict[str, Any] = field(default_factory=dict)
    #: Where the entry came from (a file path or "builtin"), for error messages.
    source: str = "builtin"

    @property
    def mode(self) -> Literal["FR", "NR", "2AFC"]:
        return DATASET_KINDS[self.type]
