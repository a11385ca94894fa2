"""pyiqa's published benchmark tables and the protocol behind each: which datasets (with which split) a table's
columns come from, and the published numbers (``data/<TABLE>_benchmark_results.csv``, copied from pyiqa's
``tests/*_benchmark_results.csv`` as of the project's reference snapshot).

The protocols are the seed's train/test split table: FR on CSIQ, LIVE, TID2008 and TID2013 (all images); NR on
LIVE Challenge, KonIQ-10k (official split, test phase), TID2013 and SPAQ (shorter side resized to 448); IAA on AVA
(official split); Face on CGFIQA (official split). The dataset keys name the built-in pyiqa dataset entries,
which carry those splits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from orchestrator.results.export import CELL_SUFFIX, read_results_csv

#: Published SRCC differences larger than this are flagged in the delta table.
SRCC_TOLERANCE = 0.01


@dataclass(frozen=True)
class Protocol:
    table: str
    #: Dataset keys (built-in pyiqa entries), in the published table's column order.
    datasets: tuple[str, ...]

    @property
    def reference_file(self) -> str:
        return f"{self.table}_benchmark_results.csv"


PROTOCOLS: dict[str, Protocol] = {
    "FR": Protocol("FR", ("csiq", "live", "tid2008", "tid2013")),
    "NR": Protocol("NR", ("livec", "koniq10k", "tid2013", "spaq")),
    "IAA": Protocol("IAA", ("ava",)),
    "Face": Protocol("Face", ("cgfiqa",)),
}


def reference_path(protocol: Protocol) -> Path:
    """The packaged copy of pyiqa's published table for ``protocol``."""
    return Path(str(resources.files("orchestrator.reproduce").joinpath("data", protocol.reference_file)))


def published(protocol: Protocol) -> dict[str, dict[str, str]]:
    """{metric: {dataset key: 'plcc/srcc/krcc'}} of the published table, for the protocol's datasets."""
    _, table = read_results_csv(reference_path(protocol))
    return {metric: {d: cells[f"{d}{CELL_SUFFIX}"] for d in protocol.datasets if f"{d}{CELL_SUFFIX}" in cells}
            for metric, cells in table.items()}


def srcc_of(cell: str | None) -> float:
    """The SRCC of a ``plcc/srcc/krcc`` cell (NaN when absent or not a number, e.g. ``--``)."""
    parts = (cell or "").split("/")
    try:
        return float(parts[1]) if len(parts) == 3 else math.nan
    except ValueError:
        return math.nan
