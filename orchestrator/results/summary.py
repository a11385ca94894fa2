"""The summary row of a cell: one typed definition of the columns of ``summary.csv`` (before the statistics
columns that :mod:`orchestrator.stats.analysis` appends) and of each cell's committed ``summary.json``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

NAN = math.nan


@dataclass(frozen=True)
class SummaryRow:
    metric: str
    dataset: str
    split: str
    #: Images that scored, and images that did not (decode or score errors, or a cell given up).
    n: int
    n_failed: int
    plcc: float
    srcc: float
    krcc: float
    #: Whether the correlation's sign agrees with the metric's ``lower_better`` (and the MOS direction).
    sign_ok: bool
    seconds_per_image: float
    images_per_second: float
    #: "count× reason; …" of the failed images, most frequent first.
    failure_reasons: str
    mode: str
    options: str
    cell_key: str
    #: 2AFC datasets: the share of judgements the metric agrees with (NaN elsewhere).
    accuracy_2afc: float = NAN
    #: What the cost model expected per image before the run (the measured figure is ``seconds_per_image``).
    estimated_seconds_per_image: float = NAN

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The columns of a summary row, in ``summary.csv``'s order.
SUMMARY_COLUMNS = [f.name for f in fields(SummaryRow)]
#: Columns that hold numbers (a committed ``summary.json`` writes NaN as null).
NUMERIC_COLUMNS = ("plcc", "srcc", "krcc", "seconds_per_image", "images_per_second", "accuracy_2afc",
                   "estimated_seconds_per_image")
