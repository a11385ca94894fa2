"""A self-contained HTML report of a finished run, built only from the files the run left under ``out``.

Reads ``summary.csv`` (required), ``significance.csv``, ``benchmark_results.csv``, ``plan.json``,
``versions.json``, ``analysis.json`` and ``plots/**/*.png``; recomputes no score and no statistic. Images are
embedded as base64 ``data:`` URIs and the style sheet is inline, so the single file opens anywhere offline.
An input that is missing or unreadable is named in the report instead of silently leaving a gap.
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from orchestrator.results.files import write_text_atomic

REPORT_NAME = "report.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child, td:last-child { text-align: left; }
.note { color: #8a4b00; } .missing { color: #b00020; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; } figure { margin: 0; }
figcaption { font-size: .8em; color: #555; } img { max-width: 100%; border: 1px solid #ddd; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .8em; }
"""

# Marks on <body> how many embedded images the browser decoded and how many errors the page raised (script or
# resource), so a headless browser's DOM dump shows whether the report rendered (checked by the tests).
_SCRIPT = """
var pageErrors = [];
window.addEventListener("error", function (e) { pageErrors.push(String(e.message || e.type)); }, true);
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-decoded", decoded + "/" + images.length);
  document.body.setAttribute("data-page-errors", String(pageErrors.length));
});
"""

#: Leaderboard columns: (summary column, header), in order; absent columns are left out.
LEADERBOARD = [
    ("srcc_rank", "rank"), ("metric", "metric"), ("n", "n"), ("n_failed", "failed"),
    ("plcc", "PLCC"), ("srcc", "SRCC"), ("srcc_ci", "SRCC 95% CI"), ("krcc", "KRCC"), ("plcc_ci", "PLCC 95% CI"),
    ("plcc_4pl", "PLCC 4PL"), ("rmse_4pl", "RMSE 4PL"), ("plcc_5pl", "PLCC 5PL"), ("rmse_5pl", "RMSE 5PL"),
    ("tied_with_best", "tied with best"), ("sign_ok", "sign ok"), ("seconds_per_image", "s/image"),
    ("notes", "notes"),
]  # fmt: skip
SIGNIFICANCE = [
    ("metric_a", "A"), ("metric_b", "B"), ("n_paired", "paired images"), ("srcc_diff", "SRCC A−B"),
    ("srcc_diff_ci", "95% CI"), ("bootstrap_p", "bootstrap p"), ("williams_t", "Williams t (PLCC)"),
    ("williams_p", "Williams p"), ("steiger_z", "Steiger Z (PLCC)"), ("steiger_p", "Steiger p"),
    ("indistinguishable", "indistinguishable"),
]  # fmt: skip


@dataclass
class Inputs:
    """What the report found under ``out``: tables, documents, images, and what was missing."""

    summary: pd.DataFrame
    significance: pd.DataFrame | None = None
    results: pd.DataFrame | None = None
    plan: Any = None
    versions: Any = None
    analysis: Any = None
    run_plots: list[Path] = field(default_factory=list)
    cell_plots: dict[str, list[Path]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


class ReportError(RuntimeError):
    pass


def _read_optional(path: Path, reader, missing: list[str]):
    if not path.is_file():
        missing.append(f"{path.name}: not found")
        return None
    try:
        return reader(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:  # json.JSONDecodeError is a ValueError
        missing.append(f"{path.name}: unreadable ({type(exc).__name__}: {exc})")
        return None


def load_inputs(out: Path) -> Inputs:
    """Read a run's outputs; only ``summary.csv`` is required."""
    out = Path(out)
    summary_path = out / "summary.csv"
    if not summary_path.is_file():
        raise ReportError(f"{summary_path} not found: is {out} the output directory of an `iqabench bench` run?")
    summary = pd.read_csv(summary_path, keep_default_na=True)
    missing: list[str] = []

    def read_json(p: Path) -> Any:
        return json.loads(p.read_text(encoding="utf-8"))

    inputs = Inputs(
        summary=summary,
        significance=_read_optional(out / "significance.csv", pd.read_csv, missing),
        results=_read_optional(out / "benchmark_results.csv", lambda p: pd.read_csv(p, dtype=str).fillna(""), missing),
        plan=_read_optional(out / "plan.json", read_json, missing),
        versions=_read_optional(out / "versions.json", read_json, missing),
        analysis=_read_optional(out / "analysis.json", read_json, missing),
        missing=missing,
    )
    plots = out / "plots"
    if plots.is_dir():
        # the heat map first, then the rankings
        inputs.run_plots = sorted(plots.glob("*.png"), key=lambda p: (p.name != "srcc_heatmap.png", p.name))
        for folder in sorted(p for p in plots.iterdir() if p.is_dir()):
            inputs.cell_plots[folder.name] = sorted(folder.glob("*.png"))
    else:
        missing.append("plots/: not found")
    return inputs


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or pd.isna(value):
        return "–"
    if isinstance(value, (bool,)) or str(value) in ("True", "False"):
        return "yes" if str(value) == "True" else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return str(value)


def _interval(low: Any, high: Any) -> str:
    if pd.isna(low) or pd.isna(high):
        return "–"
    return f"[{float(low):.4f}, {float(high):.4f}]"


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _table(frame: pd.DataFrame, columns: list[tuple[str, str]], table_id: str) -> str:
    present = [(c, h) for c, h in columns if c in frame.columns]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in present)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(f"<td>{html.escape(_num(row[c]))}</td>" for c, _ in present)
        body.append(f"<tr>{cells}</tr>")
    return (f'<table id="{html.escape(table_id)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')  # fmt: skip


def _image(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")  # fmt: skip


def _leaderboard(summary: pd.DataFrame) -> str:
    parts = []
    for dataset, group in summary.groupby("dataset", sort=False):
        group = group.sort_values("srcc", ascending=False, na_position="last").copy()
        if "srcc_rank" in group.columns:
            group["srcc_rank"] = group["srcc_rank"].astype("Int64")
        if {"srcc_ci_low", "srcc_ci_high"} <= set(group.columns):
            group["srcc_ci"] = [_interval(a, b) for a, b in zip(group["srcc_ci_low"], group["srcc_ci_high"])]
        if {"plcc_ci_low", "plcc_ci_high"} <= set(group.columns):
            group["plcc_ci"] = [_interval(a, b) for a, b in zip(group["plcc_ci_low"], group["plcc_ci_high"])]
        group["notes"] = [
            "; ".join(t for t in (_text(row.get("fit_error")), _text(row.get("failure_reasons")),
                                  _text(row.get("analysis_note"))) if t)
            for _, row in group.iterrows()
        ]  # fmt: skip
        split = _text(group["split"].iloc[0]) if "split" in group.columns else ""
        parts.append(f"<h3>{html.escape(str(dataset))} <small>(split {html.escape(split)})</small></h3>")
        parts.append(_table(group, LEADERBOARD, f"leaderboard-{dataset}"))
    return "\n".join(parts)


def _best_groups(summary: pd.DataFrame) -> str:
    if "tied_with_best" not in summary.columns:
        return '<p class="missing">No significance columns in summary.csv (the analysis did not run).</p>'
    rows = []
    for dataset, group in summary.groupby("dataset", sort=False):
        ranked = group.dropna(subset=["srcc_rank"]).sort_values("srcc_rank")
        if ranked.empty:
            continue
        tied = ranked[ranked["tied_with_best"].astype(str) == "True"]["metric"].tolist()
        rows.append({"dataset": dataset, "best": ranked["metric"].iloc[0],
                     "indistinguishable": ", ".join(tied[1:]) or "none", "metrics compared": len(ranked)})  # fmt: skip
    frame = pd.DataFrame(rows, columns=["dataset", "best", "indistinguishable", "metrics compared"])
    return _table(frame, [(c, c) for c in frame.columns], "best-groups")


def render(inputs: Inputs, title: str = "iqabench report") -> str:
    """The report's HTML text."""
    s = inputs.summary
    built = html.escape(time.strftime("%Y-%m-%d %H:%M:%S"))
    counts = f"{len(s)} cell(s), {s['dataset'].nunique()} dataset(s), {s['metric'].nunique()} metric(s)"
    sections = [f"<h1>{html.escape(title)}</h1>", f"<p>Built {built} from the stored results; {counts}.</p>"]
    if inputs.missing:
        items = "".join(f"<li>{html.escape(m)}</li>" for m in inputs.missing)
        sections.append(f'<div class="missing"><p>Inputs not available:</p><ul>{items}</ul></div>')
    sections.append("<h2>Leaderboards</h2>")
    sections.append("<p>PLCC, SRCC and KRCC are absolute values on all scored images; PLCC/RMSE 4PL and 5PL after "
                    "the VQEG logistic fits; intervals are bootstrap 95% intervals over images.</p>")  # fmt: skip
    sections.append(_leaderboard(s))
    sections.append("<h2>Indistinguishable from the best</h2>")
    sections.append("<p>Metrics whose SRCC difference to the best metric of the dataset has a paired-bootstrap "
                    "95% interval containing 0.</p>")  # fmt: skip
    sections.append(_best_groups(s))
    sections.append("<h2>Pairwise significance</h2>")
    if inputs.significance is not None and len(inputs.significance):
        for dataset, group in inputs.significance.groupby("dataset", sort=False):
            group = group.copy()
            group["srcc_diff_ci"] = [
                _interval(a, b) for a, b in zip(group["srcc_diff_ci_low"], group["srcc_diff_ci_high"])
            ]
            sections.append(f"<h3>{html.escape(str(dataset))}</h3>")
            sections.append(_table(group, SIGNIFICANCE, f"significance-{dataset}"))
    else:
        sections.append("<p>No pairwise comparisons (fewer than two comparable metrics per dataset).</p>")
    sections.append("<h2>Figures</h2>")
    sections.append('<div class="figures">' + "".join(_image(p, p.stem) for p in inputs.run_plots) + "</div>")
    for dataset, paths in inputs.cell_plots.items():
        sections.append(f"<h3>Score vs MOS: {html.escape(dataset)}</h3>")
        figures = "".join(_image(p, f"{p.stem} @ {dataset}") for p in paths)
        sections.append(f'<div class="figures">{figures}</div>')
    if inputs.results is not None:
        sections.append("<h2>benchmark_results.csv (pyiqa format: PLCC/SRCC/KRCC)</h2>")
        frame = inputs.results
        sections.append(_table(frame, [(c, c) for c in frame.columns], "pyiqa-results"))
    if inputs.analysis is not None:
        notes = inputs.analysis.get("notes", [])
        settings = {k: v for k, v in inputs.analysis.items() if k != "notes"}
        sections.append("<h2>Analysis settings and notes</h2>")
        sections.append(f"<pre>{html.escape(json.dumps(settings, indent=2))}</pre>")
        if notes:
            sections.append("<ul>" + "".join(f'<li class="note">{html.escape(n)}</li>' for n in notes) + "</ul>")
    if inputs.versions is not None:
        sections.append("<h2>Versions</h2>")
        flat = {"git commit": inputs.versions.get("git_commit", "–"), **inputs.versions.get("versions", {})}
        frame = pd.DataFrame({"package": list(flat), "version": [str(v) for v in flat.values()]})
        sections.append(_table(frame, [("package", "package"), ("version", "version")], "versions"))
    if inputs.plan is not None:
        sections.append("<h2>Plan</h2>")
        sections.append(f'<pre id="plan">{html.escape(json.dumps(inputs.plan, indent=2, default=str))}</pre>')
    body = "\n".join(sections)
    head = f'<meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style><script>{_SCRIPT}</script>'
    return f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head>\n<body>\n{body}\n</body></html>\n'


def build_report(out: Path, html_path: Path | None = None) -> Path:
    """Write the report of the run under ``out`` to ``html_path`` (default ``<out>/report.html``)."""
    out = Path(out)
    target = Path(html_path) if html_path else out / REPORT_NAME
    write_text_atomic(render(load_inputs(out)), target)
    return target
