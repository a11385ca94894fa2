"""What a benchmark run returns (:class:`BenchmarkResult`): its plan, summary, outputs and what it gave up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestrator.run.plan import Plan


@dataclass
class BenchmarkResult:
    plan: Plan
    summary: pd.DataFrame | None
    out: Path
    results_csv: Path | None
    cached: int = 0
    computed: int = 0
    given_up: dict[str, str] = field(default_factory=dict)
    invocation_id: str = ""
    tracking_uri: str | None = None
    parent_run_id: str | None = None
    tracking_error: str | None = None
