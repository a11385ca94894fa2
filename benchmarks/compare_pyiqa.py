"""Target 1: per metric, CPU seconds per 1080×800 image, iqabench vs pyiqa, measured interleaved in one run.

For each metric and each round: iqabench in a fresh process, then pyiqa in a fresh process (the baseline venv),
same images, same protocol (:mod:`orchestrator.efficiency.timing`), same thread count (torch threads and the OpenMP/MKL
variables). The load average is recorded before every process. The ratio of a round is ours / pyiqa of that
round; the reported ratio is the median over rounds. Writes ``<out>/compare_pyiqa.json``.

    .venv/bin/python benchmarks/compare_pyiqa.py --rounds 3 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLASSICAL = ("psnr", "ssim", "ms_ssim", "cw_ssim", "fsim", "vif", "gmsd", "nlpd", "vsi", "niqe", "piqe", "entropy",
             "brisque", "mad")
TARGET = 0.5


def _registered() -> set[str]:
    sys.path.insert(0, str(REPO))
    import metrics

    return set(metrics.available())


def run_one(python: Path, impl: str, metric: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    command = [str(python), str(HERE / "time_one.py"), "--impl", impl, "--metric", metric, "--threads",
               str(args.threads), "--warmup", str(args.warmup), "--repeats", str(args.repeats), "--size", args.size,
               "--images", str(args.out / "images"), "--device", args.device]
    load = list(os.getloadavg())
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=args.timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"impl": impl, "metric": metric, "error": f"exit {done.returncode}: {done.stderr.strip()[-600:]}",
                "load_average_before": load}
    row = json.loads(lines[-1])
    row.update(load_average_before=load, process_seconds=time.perf_counter() - started, command=" ".join(command))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--metrics", nargs="+", help="default: the classical metrics that are registered")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--size", default="1080x800")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--ours", type=Path, default=REPO / ".venv" / "bin" / "python")
    parser.add_argument("--baseline", type=Path, default=HERE / ".venv-pyiqa" / "bin" / "python")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--resummarize", action="store_true",
                        help="recompute the summary of an existing <out>/compare_pyiqa.json; time nothing")
    args = parser.parse_args(argv)
    if args.resummarize:
        path = args.out / "compare_pyiqa.json"
        document = json.loads(path.read_text())
        names = list(dict.fromkeys(r["metric"] for r in document["runs"]))
        document["summary"] = summarize(document["runs"], names)
        path.write_text(json.dumps(document, indent=1, default=str))
        return 0
    if not args.baseline.is_file():
        parser.error(f"{args.baseline} is missing: run benchmarks/setup_baseline.sh first")
    registered = _registered()
    names = args.metrics or [m for m in CLASSICAL if m in registered]
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    threads = str(args.threads)
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               TORCH_HOME=str(args.baseline.parent.parent / "torch-home"), PYTHONPATH=str(REPO))
    runs: list[dict] = []
    for metric in names:
        for round_index in range(args.rounds):
            for impl, python in (("iqabench", args.ours), ("pyiqa", args.baseline)):
                row = run_one(python, impl, metric, args, env)
                row["round"] = round_index
                runs.append(row)
                shown = f"{row['median_seconds']:.4f} s" if not row.get("error") else f"FAILED {row['error'][:200]}"
                print(f"{metric:<9} round {round_index} {impl:<8} {shown} (load {row['load_average_before'][0]:.2f})",
                      flush=True)
    summary = summarize(runs, names)
    document = {"threads": args.threads, "size": args.size, "device": args.device, "rounds": args.rounds,
                "warmup": args.warmup, "repeats": args.repeats, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                "target": TARGET, "summary": summary, "runs": runs}
    (args.out / "compare_pyiqa.json").write_text(json.dumps(document, indent=1, default=str))
    for row in summary:
        print(f"{row['metric']:<9} ours {row['ours_s']} pyiqa {row['pyiqa_s']} ratio {row['ratio']} "
              f"{'ok' if row['meets_target'] else 'MISSED'}")
    return 0


def summarize(runs: list[dict], names: list[str]) -> list[dict]:
    summary = []
    for metric in names:
        mine = [r for r in runs if r["metric"] == metric]
        per_round = {}
        for row in mine:
            per_round.setdefault(row["round"], {})[row["impl"]] = row
        ratios = [r["iqabench"]["median_seconds"] / r["pyiqa"]["median_seconds"] for r in per_round.values()
                  if all(k in r and not r[k].get("error") for k in ("iqabench", "pyiqa"))]
        ours = [r["median_seconds"] for r in mine if r["impl"] == "iqabench" and not r.get("error")]
        base = [r["median_seconds"] for r in mine if r["impl"] == "pyiqa" and not r.get("error")]
        errors = sorted({f"{r['impl']}: {r['error'][:300]}" for r in mine if r.get("error")})
        ratio = statistics.median(ratios) if ratios else None
        forward = [r["iqabench"]["median_forward_seconds"] / r["pyiqa"]["median_forward_seconds"]
                   for r in per_round.values()
                   if all(k in r and r[k].get("median_forward_seconds") for k in ("iqabench", "pyiqa"))]
        decode = [r["median_seconds"] - r["median_forward_seconds"] for r in mine if r.get("median_forward_seconds")]
        summary.append({
            "metric": metric,
            "ours_s": round(statistics.median(ours), 4) if ours else None,
            "pyiqa_s": round(statistics.median(base), 4) if base else None,
            "ratio": round(ratio, 3) if ratio is not None else None,
            "round_ratios": [round(r, 3) for r in ratios],
            "forward_ratio": round(statistics.median(forward), 3) if forward else None,
            "decode_s": round(statistics.median(decode), 4) if decode else None,
            "loads": [round(r["load_average_before"][0], 2) for r in mine],
            "meets_target": ratio is not None and ratio <= TARGET,
            "errors": errors,
        })
    return summary


if __name__ == "__main__":
    sys.exit(main())
