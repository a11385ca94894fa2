"""``DatasetSpec``: one dataset entry of a pyiqa option file, typed and validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: pyiqa dataset types this project reads, and how they are scored:
#: FR (distorted + reference + MOS), NR (image + MOS), 2AFC (reference + two candidates + human judgement).
DATASET_KINDS: dict[str, Literal["FR", "NR", "2AFC"]] = {
    "GeneralFRDataset": "FR",
    "GeneralNRDataset": "NR",
    "LIVEChallengeDataset": "NR",
    "AVADataset": "NR",
    "PieAPPDataset": "FR",
    "BAPPSDataset": "2AFC",
    # PIQ2023 appears (uncommented) in pyiqa's 2024 option file; it is read so that file loads unchanged, but
    # its scene-wise JOD labels are not scored by this benchmark (building its manifest is refused).
    "PIQDataset": "NR",
}

#: Types whose entries are accepted in option files but cannot be turned into a manifest.
UNSCORED_KINDS = frozenset({"PIQDataset"})

#: Phase used when an entry selects a split but names no phase (the benchmark scores the test images).
DEFAULT_PHASE = "test"


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
    #: A split column name, or an integer: a key of the split pickle (``split_file``) or, without a pickle, the
    #: column ``ratio{split_ratio}_seed123_split_{NN}``.
    split_index: str | int | None = None
    split_file: str | None = None
    split_ratio: str = "802"
    phase: str | None = None
    #: pyiqa's ``override_phase``: replaces ``phase`` (and ``--test_phase``) when set.
    override_phase: str | None = None
    #: pyiqa's legacy ``dmos_max``: opinion scores are DMOS, turned into MOS as ``dmos_max - dmos`` (None: as read).
    dmos_max: float | None = None
    mos_range: tuple[float, float] | None = None
    lower_better: bool = False
    mos_normalize: bool = False
    augment: dict[str, Any] = field(default_factory=dict)
    #: BAPPS only: the option file's ``mode``: ``2afc`` (triplets, the default) or ``jnd`` (pairs; not scored).
    bapps_mode: str = "2afc"
    #: BAPPS only: keep rows whose first candidate path contains one of these substrings.
    val_types: tuple[str, ...] | None = None
    #: The meta-info column holding each image's caption, for the metrics that score an image against its
    #: caption (clipscore); iqabench's own field (pyiqa's datasets have none). None: the dataset has no captions.
    caption_column: str | None = None
    #: Where the entry came from (a file path or "builtin"), for error messages.
    source: str = "builtin"

    @property
    def mode(self) -> Literal["FR", "NR", "2AFC"]:
        """How the dataset is scored: FR, NR or 2AFC."""
        return DATASET_KINDS[self.type]

    @property
    def uses_split(self) -> bool:
        """Whether a split (a column or a pickle) selects the scored rows."""
        return self.split_index is not None or self.split_file is not None

    @property
    def effective_phase(self) -> str:
        """The phase whose rows are scored when a split is used (``override_phase``, else ``phase``, else
        ``test``), as pyiqa's datasets choose it."""
        return self.override_phase or self.phase or DEFAULT_PHASE

    @property
    def mos_lower_better(self) -> bool:
        """Whether the scores compared with a metric are better when lower: ``lower_better`` of the file, unless
        ``mos_normalize`` or ``dmos_max`` (DMOS → ``dmos_max - dmos``) made them higher-better."""
        return self.lower_better and not self.mos_normalize and self.dmos_max is None

    @property
    def split_label(self) -> str:
        """``effective_phase`` when a split is used, else ``all``."""
        return self.effective_phase if self.uses_split else "all"

    @property
    def resize(self) -> int | None:
        """Shorter-side resize (``augment: {resize: N}``), or None."""
        value = self.augment.get("resize")
        return int(value) if value is not None else None
