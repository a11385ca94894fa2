"""A cell of the benchmark matrix: one metric (with its options) on one dataset, keyed by content."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from metrics.spec import MetricSpec


@dataclass(frozen=True)
class Cell:
    """One metric on one dataset."""

    metric: str
    dataset: str
    options: Mapping[str, Any]
    spec: MetricSpec
    key: str
    #: A caption metric's caption of each manifest row, in row order (:mod:`orchestrator.run.captions`); None else.
    captions: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        return f"{self.metric} @ {self.dataset}"
