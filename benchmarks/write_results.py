"""Write ``benchmarks/RESULTS.md`` from the JSON files of compare_pyiqa.py, overhead.py, startup.py and precision.py.

Every number comes from those files (measured); a missing file is reported as "not measured".
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _cpu() -> str:
    from orchestrator.efficiency.table import cpu_model_name

    return cpu_model_name()


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _loads(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values) if values else "—"


def section_pyiqa(doc: dict | None) -> list[str]:
    lines = ["## 1. CPU seconds per 1080×800 image: iqabench vs pyiqa 0.1.16", ""]
    if doc is None:
        return lines + ["Not measured (benchmarks/out/compare_pyiqa.json is missing).", ""]
    lines += [
        f"Protocol: {doc['size']} images, batch 1, float32, decode + forward, {doc['warmup']} warm-up + "
        f"{doc['repeats']} timed steps per process (median), {doc['threads']} torch thread(s) for both, "
        f"{doc['rounds']} interleaved rounds (ours, pyiqa, ours, pyiqa …), each in a fresh process. "
        f"Ratio = median over rounds of (ours / pyiqa) of the same round. Target: ratio ≤ {doc['target']}. "
        f"Measured {doc['date']}.",
        "",
        "The decode (two PNG reads for FR, one for NR) is the same code for both; `forward ratio` leaves it out "
        "(median over rounds of ours / pyiqa of the time after decode).",
        "",
        "| metric | iqabench s/img | pyiqa s/img | ratio | per-round ratios | target | decode s/img | forward ratio | load averages (1 min) before each process |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["summary"]:
        verdict = "met" if row["meets_target"] else ("MISSED" if row["ratio"] is not None else "not measured")
        lines.append(f"| {row['metric']} | {_fmt(row['ours_s'], 4)} | {_fmt(row['pyiqa_s'], 4)} | {_fmt(row['ratio'])} | "
                     f"{', '.join(f'{r:.3f}' for r in row['round_ratios']) or '—'} | {verdict} | {_fmt(row.get('decode_s'), 4)} | {_fmt(row.get('forward_ratio'))} | {_loads(row['loads'])} |")
    errors = [f"- {row['metric']}: {e}" for row in doc["summary"] for e in row.get("errors", [])]
    if errors:
        lines += ["", "Failures:", *errors]
    return lines + [""]


def section_overhead(doc: dict | None, title: str = "## 2. Orchestrator overhead and 4. scaling (2 workers vs 1)",
                     source: str = "benchmarks/out/overhead.json") -> list[str]:
    lines = [title, ""]
    if doc is None or not doc.get("summary"):
        return lines + [f"Not measured ({source} is missing or has no overhead rounds).", ""]
    s = doc["summary"]
    lines += [
        f"Dataset: {doc['pairs']} full-reference pairs (384×256 PNG, each pair two file reads), metric "
        f"`{doc['metric']}`, batch size {doc['batch_size']}, {doc['cpus']} CPUs. The ideal is the plain in-process "
        f"loop (decode + metric, 1 torch thread) divided by 2 workers. `wall` is the whole `iqabench bench` process "
        f"(Python start, Ray start, plan, scoring, Parquet, CSVs, MLflow); `scoring` is the scoring phase bench "
        f"reports (actor start-up included). Medians of {len(doc['rounds'])} round(s). Measured {doc['date']}.",
        "",
        "| quantity | seconds | ratio | target |",
        "|---|---|---|---|",
        f"| plain loop (1 process) | {_fmt(s['loop_seconds'], 1)} | | |",
        f"| ideal = loop / 2 | {_fmt(s['ideal_seconds'], 1)} | | |",
        f"| bench, 2 workers, wall | {_fmt(s['bench2_wall_seconds'], 1)} | {_fmt(s['overhead_wall_ratio'], 2)}× ideal | ≤ 1.15× |",
        f"| bench, 2 workers, scoring | {_fmt(s['bench2_scoring_seconds'], 1)} | {_fmt(s['overhead_scoring_ratio'], 2)}× ideal | ≤ 1.15× |",
        f"| bench, 1 worker, wall | {_fmt(s['bench1_wall_seconds'], 1)} | scaling {_fmt(s['scaling_wall'], 2)}× | ≥ 1.8× |",
        f"| bench, 1 worker, scoring | {_fmt(s['bench1_scoring_seconds'], 1)} | scaling {_fmt(s['scaling_scoring'], 2)}× | ≥ 1.8× |",
    ]
    if "running2_wall_seconds" in s:
        lines += [
            f"| running cluster, 2 workers, wall | {_fmt(s['running2_wall_seconds'], 1)} | "
            f"{_fmt(s['overhead_wall_ratio_running_cluster'], 2)}× ideal | ≤ 1.15× |",
            f"| running cluster, 2 workers, scoring | {_fmt(s['running2_scoring_seconds'], 1)} | "
            f"{_fmt(s['overhead_scoring_ratio_running_cluster'], 2)}× ideal | ≤ 1.15× |",
            f"| running cluster, 1 worker, wall | {_fmt(s['running1_wall_seconds'], 1)} | "
            f"scaling {_fmt(s['scaling_wall_running_cluster'], 2)}× | ≥ 1.8× |",
            f"| running cluster, 1 worker, scoring | {_fmt(s['running1_scoring_seconds'], 1)} | "
            f"scaling {_fmt(s['scaling_scoring_running_cluster'], 2)}× | ≥ 1.8× |",
            "",
            "`running cluster`: the same runs against a one-node Ray cluster started for them "
            "(`ray start --head`, `RAY_ADDRESS` set), as on a cluster: no Ray start-up or shutdown inside the run "
            "(the cluster is up only during these two runs).",
        ]
    lines += [
        "",
        "Per round (load average before each run):",
        "",
    ]
    for i, r in enumerate(doc["rounds"]):
        lines.append(
            f"- round {i}: loop {_fmt(r['loop']['seconds'], 1)} s (load {r['loop']['load_average_before'][0]:.2f}); "
            f"bench×2 wall {_fmt(r['bench2']['wall_seconds'], 1)} s / scoring {_fmt(r['bench2']['scoring_seconds'], 1)} s "
            f"(load {r['bench2']['load_average_before'][0]:.2f}); bench×1 wall {_fmt(r['bench1']['wall_seconds'], 1)} s / "
            f"scoring {_fmt(r['bench1']['scoring_seconds'], 1)} s (load {r['bench1']['load_average_before'][0]:.2f})"
            + "".join(
                f"; {name} wall {_fmt(r[name]['wall_seconds'], 1)} s / scoring {_fmt(r[name]['scoring_seconds'], 1)} s "
                f"(load {r[name]['load_average_before'][0]:.2f})" for name in ("running2", "running1") if name in r)
            + "".join(f"; ERROR in {name}: " + r[name]['error'][-300:].replace("\n", " ")
                      for name in ("bench2", "bench1", "running2", "running1") if r.get(name, {}).get("error"))
        )
    lines += ["", f"Command of the 2-worker run: `{doc['rounds'][0]['bench2']['command']}`", ""]
    return lines


def section_reads(doc: dict | None) -> list[str]:
    lines = ["## 3. Decode once", ""]
    if doc is None or not doc.get("reads"):
        return lines + ["Not measured.", ""]
    lines += [
        "Every image decode (`datasets_io.decode.decode_bytes`, which every read goes through) of every process of the run (driver and Ray workers) is counted "
        "(benchmarks/readcount/sitecustomize.py). Target: reads = image files, whatever the number of metrics.",
        "",
        "| metrics | image files (2 per pair) | reads | processes that read | load before |",
        "|---|---|---|---|---|",
    ]
    for count, row in sorted(doc["reads"].items()):
        lines.append(f"| {count}: {', '.join(row['metrics'])} | {row['images']} | {row.get('reads', '—')} | "
                     f"{row.get('reading_processes', '—')} | {row['load_average_before'][0]:.2f} |")
        if row.get("error"):
            lines.append(f"|  | ERROR: {row['error'][-300:].replace(chr(10), ' ')} | | | |")
    return lines + [""]


def section_startup(doc: dict | None) -> list[str]:
    lines = ["## 5. Start-up: `make bench` (embedded demo) end to end", ""]
    if doc is None:
        return lines + ["Not measured.", ""]
    lines += [f"Target: under {doc['target_seconds']:.0f} s. Fresh output folder each time (nothing cached); "
              f"`make install` run before, not timed. Measured {doc['date']}.", "",
              "| run | cells | wall s | scoring s | exit | load before |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(doc["runs"]):
        lines.append(f"| {i} | {r['cells']} | {r['wall_seconds']:.1f} | {_fmt(r['scoring_seconds'], 1)} | "
                     f"{r['returncode']} | {r['load_average_before'][0]:.2f} |")
    return lines + [f"", f"Command: `{doc['runs'][0]['command']}`", ""]


def precision_table(doc: dict) -> list[str]:
    """Markdown rows of precision.json, one per deep metric and reduced precision (also printed by precision.py)."""
    lines = ["| metric | precision | max rel. dev. | median rel. dev. | max dev. / fp32 range | Spearman ρ | "
             "fp32 s/img | reduced s/img | speed-up |", "|---|---|---|---|---|---|---|---|---|"]
    for entry in doc["metrics"]:
        full = entry.get("float32", {})
        if not entry["reduced"]:
            lines.append(f"| {entry['metric']} | — | {full.get('error', 'no reduced precision measured')} | | | | "
                         f"{_fmt(full.get('seconds_per_image'), 4)} | | |")
        for precision, low in entry["reduced"].items():
            if "error" in low:
                lines.append(f"| {entry['metric']} | {precision} | ERROR: {low['error'][:200]} | | | | "
                             f"{_fmt(full.get('seconds_per_image'), 4)} | | |")
                continue
            lines.append(
                f"| {entry['metric']} | {precision} | {low['max_rel_dev']:.2e} | {low['median_rel_dev']:.2e} | "
                f"{'—' if low['max_dev_over_range'] is None else format(low['max_dev_over_range'], '.2e')} | "
                f"{_fmt(low['spearman'], 4)} | {full['seconds_per_image']:.4f} | {low['seconds_per_image']:.4f} | "
                f"{low['speedup']:.2f}× |")
    return lines


def section_precision(doc: dict | None) -> list[str]:
    lines = ["## Reduced precision (deep metrics)", ""]
    if doc is None:
        return lines + ["Not measured (benchmarks/out/precision.json is missing; `benchmarks/precision.py`).", ""]
    m = doc["machine"]
    where = f"GPU {m['gpu']} (CUDA {m['cuda']}), " if "gpu" in m else ""
    support = "; ".join(
        f"{p}: {s['status']}" + (f" (probe {s['probe_seconds']:.4f} s vs float32 {s['probe_seconds_float32']:.4f} s)"
                                 if s.get("supported") else f" ({s.get('reason', '')})")
        for p, s in doc["precision_support"].items())
    loads = [e["load_average_before"][0] for e in doc["metrics"]]
    lines += [
        f"Device `{doc['device']}`: {where}{m['cpu']}, {m['cpus']} CPUs "
        f"(flags: {', '.join(m['cpu_flags']) or 'none'}), "
        f"{m['torch_threads']} torch thread(s), torch {m['torch']}. Measured {doc['date']}; 1-minute load average "
        f"before each metric {min(loads, default=0):.2f}–{max(loads, default=0):.2f}.",
        "",
        f"Command: `{doc['command']}`. Weights: {doc['weights']}. Pairs: {len(doc['pairs'])} demo pairs. "
        f"Protocol: {doc['protocol']}.",
        "",
        f"Precisions on this device: {support}.",
        "",
        *[line for c in doc.get("caveats", []) for line in (f"**Caveat:** {c}", "")],
        *precision_table(doc),
    ]
    errors = [f"- {e['metric']} {p}: {r['error']}" for e in doc["metrics"] for p, r in
              [("float32", e.get("float32", {})), *e["reduced"].items()] if "error" in r]
    if errors:
        lines += ["", "Failures:", *errors]
    return lines + [""]


def section_efficiency(csv_path: Path) -> list[str]:
    lines = ["## Efficiency table (`iqabench efficiency`, pyiqa's format)", ""]
    if not csv_path.is_file():
        return lines + [f"Not measured ({csv_path} is missing; see `benchmarks/run_all.sh`).", ""]
    rows = list(csv.reader(csv_path.open()))
    lines += [
        f"`{csv_path.relative_to(HERE.parent) if csv_path.is_relative_to(HERE.parent) else csv_path}`, written by "
        "`iqabench efficiency --device cpu` for every registered metric (seconds per ~1080×800 image, batch 1, "
        "float32, decode + forward, median of the timed steps; deep metrics on random weights of the published "
        "layouts, which do not change their cost). The job's log, with the spread and best-batch throughput, is "
        "`benchmarks/out/efficiency.log`.",
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--notes", type=Path, default=HERE / "NOTES.md",
                        help="hand-written analysis appended verbatim (profiles, what limits each missed target)")
    args = parser.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    lines = [
        "# iqabench performance results",
        "",
        "Generated by `benchmarks/run_all.sh` (benchmarks/write_results.py); every number below is measured.",
        "",
        f"- Machine: {_cpu()}, {os.cpu_count()} CPUs, {_memory_gib()} RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; host `{platform.node()}`",
        f"- Written: {time.strftime('%Y-%m-%d %H:%M:%S %z')}; git HEAD {commit or 'unknown'} (plus the working tree)",
        "- The machine is shared: the 1-minute load average before each measurement is listed next to it; with 2 "
        "cores, a load above ~2 means the numbers are contended and only the interleaved ratios are meaningful.",
        "- Commands: `benchmarks/setup_baseline.sh` (once), then `benchmarks/run_all.sh`, which runs "
        "`benchmarks/compare_pyiqa.py`, `benchmarks/overhead.py`, `benchmarks/startup.py`, "
        "`benchmarks/precision.py` and this script.",
        "",
    ]
    lines += section_pyiqa(_load(args.out / "compare_pyiqa.json"))
    lines += section_overhead(_load(args.out / "overhead.json"))
    heavy = _load(args.out / "heavy" / "overhead.json")
    if heavy is not None:
        lines += section_overhead(
            heavy, f"## 2b. The same with a heavier metric (`{heavy['metric']}`): overhead once compute dominates",
            "benchmarks/out/heavy/overhead.json")
    lines += section_reads(_load(args.out / "overhead.json"))
    lines += section_startup(_load(args.out / "startup.json"))
    lines += section_precision(_load(args.out / "precision.json"))
    lines += section_efficiency(args.out / "efficiency" / "Efficiency_benchmark.csv")
    if args.notes.is_file():
        lines += [args.notes.read_text().rstrip(), ""]
    args.results.write_text("\n".join(lines))
    print(f"Wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
