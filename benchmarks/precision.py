"""What reduced precision costs the deep metrics: score deviation, rank agreement and speed vs float32.

For each deep metric, ``--pairs`` pairs of the embedded demo dataset (384×256 PNGs, evenly spaced over its 80
rows) are scored one at a time (batch 1; FR metrics get the pair, NR metrics the distorted image) in float32 and
in each reduced precision (the metric's ``precision`` option: the network runs under ``torch.autocast``, scores
stay float32). Per metric and precision: max and median relative deviation |s_p − s_32| / |s_32|, the largest
deviation as a fraction of the float32 scores' range over the pairs, Spearman's ρ between the float32 and
reduced-precision scores, and the median forward seconds per image (decode excluded, ``--warmup`` untimed
forwards per model, precisions interleaved pair by pair so that a change of machine load hits all of them).

Precisions: which ones torch's autocast supports on the device is probed (a convolution and a linear layer
under autocast); a supported precision is measured by default unless the probe shows it more than
``--max-slowdown`` times slower than float32 (no fast kernels: e.g. float16 on most CPUs), in which case it is
recorded as skipped with the probe's times; ``--precisions`` forces a list.

Weights: by default whatever the caches hold (the published files if downloaded; each metric's entry says
whether its files are the published ones). ``--random-weights DIR`` seeds random weights of the published
layouts into DIR (tests/_helpers/random_weights.py) and uses them; the output then says that the deviations were
measured under random weights, which do not have the activation statistics of trained networks.

    python benchmarks/precision.py --device cpu --pairs 8 --random-weights benchmarks/out/random-weights

Writes ``<out>/precision.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from write_results import precision_table  # noqa: E402

REDUCED = ("bfloat16", "float16")
RANDOM_WEIGHTS_CAVEAT = (
    "Measured under random weights of the published layouts (tests/_helpers/random_weights.py), not the published "
    "checkpoints: trained networks have other activation statistics, so their reduced-precision deviations can "
    "differ. The scores themselves are meaningless; only the float32-vs-reduced comparison is."
)
CPU_TIMING_CAVEAT = (
    "CPU times come from a shared machine (load averages listed); bfloat16 is fast only on CPUs with native "
    "bfloat16 instructions (avx512_bf16 / amx_bf16), float16 only with avx512_fp16 / amx_fp16; elsewhere autocast "
    "falls back to slow kernels."
)


def deep_metric_names() -> list[str]:
    import metrics
    from metrics.registry import module_of

    return [name for name in metrics.available() if module_of(name).startswith("metrics.deep.")]


def demo_pairs(count: int) -> list[dict[str, Any]]:
    """``count`` (dist, ref) pairs of the demo dataset, evenly spaced over its rows, as 1×3×H×W float32 tensors."""
    import csv

    from datasets_io.decode import read_image
    from datasets_io.demo import META_FILE, ensure_demo

    root = ensure_demo()
    with open(root / META_FILE, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    indices = sorted({int(round(i)) for i in np.linspace(0, len(rows) - 1, num=min(count, len(rows)))})

    def tensor(path: Path) -> torch.Tensor:
        return torch.from_numpy(read_image(path).copy()).permute(2, 0, 1)[None].float() / 255.0

    return [{"name": rows[i]["dist_name"], "dist": tensor(root / "dist" / rows[i]["dist_name"]),
             "ref": tensor(root / "ref" / rows[i]["ref_name"])} for i in indices]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def probe(device: str, precision: str, repeats: int = 5) -> dict[str, Any]:
    """Whether autocast runs a conv and a linear layer in ``precision`` on ``device``, and their time vs float32
    (one thread, best of ``repeats`` runs each, the two interleaved so that a burst of machine load hits both)."""
    dtype = getattr(torch, precision)
    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(32, 32, 3, padding=1).to(device)
    linear = torch.nn.Linear(256, 256).to(device)
    image = torch.rand(1, 32, 64, 96, generator=gen).to(device)
    tokens = torch.rand(512, 256, generator=gen).to(device)

    def run(low: bool) -> tuple[float, torch.dtype]:
        _sync(device)
        start = time.perf_counter()
        with torch.inference_mode(), torch.autocast(device_type=device.split(":")[0], dtype=dtype, enabled=low):
            out_dtype = conv(image).dtype
            linear(tokens)
        _sync(device)
        return time.perf_counter() - start, out_dtype

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the kernels' speed, not the thread pool's: stable on a loaded machine
    try:
        try:
            _, out_dtype = run(True)  # warm-up
        except (RuntimeError, TypeError, ValueError) as exc:
            return {"supported": False, "reason": f"{type(exc).__name__}: {exc}"}
        if out_dtype != dtype:
            return {"supported": False, "reason": f"autocast left the convolution in {out_dtype}"}
        run(False)
        low_s = full_s = math.inf
        for _ in range(repeats):
            low_s = min(low_s, run(True)[0])
            full_s = min(full_s, run(False)[0])
    finally:
        torch.set_num_threads(threads)
    return {"supported": True, "probe_seconds": low_s, "probe_seconds_float32": full_s, "slowdown": low_s / full_s}


def choose_precisions(device: str, forced: list[str] | None, max_slowdown: float) -> tuple[list[str], dict]:
    """The reduced precisions to measure and, for each of bfloat16/float16, the probe and the decision."""
    chosen, support = [], {}
    for precision in REDUCED:
        found = probe(device, precision)
        if not found["supported"]:
            found["status"] = "unsupported"
        elif forced is not None:
            found["status"] = "measured" if precision in forced else "not requested"
        elif found["slowdown"] > max_slowdown:
            found["status"] = (f"skipped: supported, but the probe ran {found['slowdown']:.0f}× slower than float32 "
                               f"(> --max-slowdown {max_slowdown:g}; force it with --precisions)")
        else:
            found["status"] = "measured"
        if found["status"] == "measured":
            chosen.append(precision)
        support[precision] = found
    return chosen, support


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def compare(full: list[float], low: list[float]) -> dict[str, Any]:
    """Deviation of ``low`` from ``full`` (same pairs) and their rank agreement."""
    from scipy.stats import spearmanr

    a, b = np.asarray(full, dtype=np.float64), np.asarray(low, dtype=np.float64)
    dev = np.abs(b - a)
    rel = dev / np.maximum(np.abs(a), 1e-12)
    spread = float(a.max() - a.min())
    rho = float(spearmanr(a, b).statistic) if len(a) > 2 and spread > 0 and np.ptp(b) > 0 else None
    return {
        "max_rel_dev": float(rel.max()),
        "median_rel_dev": float(np.median(rel)),
        "max_abs_dev": float(dev.max()),
        "max_dev_over_range": float(dev.max() / spread) if spread > 0 else None,
        "spearman": None if rho is None or math.isnan(rho) else rho,
    }


def measure_metric(name: str, pairs: list[dict[str, Any]], precisions: list[str], device: str,
                   warmup: int = 2) -> dict[str, Any]:
    """Score ``pairs`` with ``name`` in float32 and each of ``precisions``; errors are recorded, not raised."""
    import metrics
    from metrics.deep import weights

    spec = metrics.get_spec(name)
    real, why = weights.real_weights_present(name)
    entry: dict[str, Any] = {"metric": name, "mode": spec.mode, "published_weights": real, "weights_note": why,
                             "load_average_before": list(os.getloadavg())}
    models: dict[str, torch.nn.Module] = {}
    runs: dict[str, dict[str, Any]] = {}
    for precision in ("float32", *precisions):
        try:
            models[precision] = metrics.create(name, device=device, precision=precision)
            runs[precision] = {"scores": [], "seconds": []}
        except Exception as exc:  # noqa: BLE001 — a metric that cannot be built is recorded and the run goes on
            runs[precision] = {"error": f"build: {_error(exc)}"}
            print(f"  {name} {precision}: cannot build ({_error(exc)})", flush=True)
    if "float32" in models:
        entry["weight_sha256"] = dict(getattr(models["float32"], "weight_sha256", {}))

    def forward(model: torch.nn.Module, pair: dict[str, Any]) -> torch.Tensor:
        dist = pair["dist"].to(device)
        return model(dist, pair["ref"].to(device)) if spec.mode == "FR" else model(dist)

    with torch.inference_mode():
        for precision, model in models.items():  # warm-up, untimed (the first CPU calls pick and cache kernels)
            try:
                for _ in range(warmup):
                    forward(model, pairs[0])
            except Exception as exc:  # noqa: BLE001 — e.g. an op without a kernel in this precision: recorded
                runs[precision] = {"error": f"forward: {_error(exc)}"}
                print(f"  {name} {precision}: forward failed ({_error(exc)})", flush=True)
        live = [p for p in models if "error" not in runs[p]]
        for index, pair in enumerate(pairs):
            order = live[index % len(live):] + live[: index % len(live)] if live else []  # rotate who goes first
            for precision in order:
                if "error" in runs[precision]:
                    continue
                try:
                    _sync(device)
                    start = time.perf_counter()
                    score = forward(models[precision], pair)
                    _sync(device)
                    elapsed = time.perf_counter() - start
                except Exception as exc:  # noqa: BLE001 — recorded per metric and precision
                    runs[precision] = {"error": f"forward on {pair['name']}: {_error(exc)}"}
                    print(f"  {name} {precision}: forward failed ({_error(exc)})", flush=True)
                    continue
                runs[precision]["scores"].append(float(score.float().cpu().flatten()[0]))
                runs[precision]["seconds"].append(elapsed)
    for run in runs.values():
        if "error" not in run:
            run["seconds_per_image"] = statistics.median(run["seconds"])
            run["non_finite"] = int(sum(not math.isfinite(s) for s in run["scores"]))
    full = runs.get("float32", {"error": "not built"})
    entry["float32"] = full
    entry["reduced"] = {}
    for precision in precisions:
        low = runs[precision]
        if "error" not in low and "error" not in full:
            if low["non_finite"] or full["non_finite"]:
                low["error"] = f"non-finite scores: {low['non_finite']} in {precision}, {full['non_finite']} in float32"
            else:
                low.update(compare(full["scores"], low["scores"]))
                low["speedup"] = full["seconds_per_image"] / low["seconds_per_image"]
        elif "error" in full and "error" not in low:
            low["error"] = "float32 failed; nothing to compare against"
        entry["reduced"][precision] = low
    entry["load_average_after"] = list(os.getloadavg())
    return entry


def machine(device: str, threads: int) -> dict[str, Any]:
    from orchestrator.efficiency.table import cpu_model_name

    flags: list[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                wanted = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16"}
                flags = sorted(wanted & set(line.split(":", 1)[1].split()))
                break
    except OSError as exc:
        flags = [f"unreadable: {exc}"]
    info = {"cpu": cpu_model_name(), "cpus": os.cpu_count(), "cpu_flags": flags, "torch_threads": threads,
            "torch": torch.__version__, "python": platform.python_version(), "host": platform.node()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--metrics", nargs="+", help="deep metrics (default: every deep metric)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--pairs", type=int, default=8, help="demo pairs scored per metric and precision")
    parser.add_argument("--precisions", nargs="+", choices=REDUCED,
                        help="reduced precisions to measure (default: those autocast supports, within --max-slowdown)")
    parser.add_argument("--max-slowdown", type=float, default=8.0,
                        help="skip a precision whose probe runs this many times slower than float32 (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed forwards per model before timing")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared machine a multi-threaded op waits for its slowest "
                             "thread, which makes times erratic; the speed-up ratios are what this script is for)")
    parser.add_argument("--random-weights", type=Path, metavar="DIR",
                        help="seed random weights of the published layouts into DIR and use them")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args(argv)
    if args.pairs < 2:
        parser.error("--pairs must be >= 2 (a rank correlation needs pairs)")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible to torch")
    torch.set_num_threads(args.threads)
    deep = deep_metric_names()
    names = args.metrics or deep
    unknown = sorted(set(names) - set(deep))
    if unknown:
        parser.error(f"not deep metrics: {', '.join(unknown)} (deep metrics: {', '.join(deep)})")

    weights_note = "whatever the caches hold (see each metric's published_weights)"
    if args.random_weights is not None:
        from tests._helpers import random_weights

        start = time.perf_counter()
        os.environ.update(random_weights.seed_all(args.random_weights.resolve()))
        weights_note = f"random weights of the published layouts, seeded into {args.random_weights}"
        print(f"seeded random weights into {args.random_weights} in {time.perf_counter() - start:.1f} s", flush=True)

    precisions, support = choose_precisions(args.device, args.precisions, args.max_slowdown)
    for precision, found in support.items():
        print(f"{precision} on {args.device}: {found['status']}"
              + (f" (probe {found['probe_seconds']:.4f} s vs float32 {found['probe_seconds_float32']:.4f} s)"
                 if found["supported"] else f" ({found['reason']})"), flush=True)
    pairs = demo_pairs(args.pairs)
    doc: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": " ".join(["python", "benchmarks/precision.py", *(argv if argv is not None else sys.argv[1:])]),
        "device": args.device,
        "machine": machine(args.device, args.threads),
        "random_weights": args.random_weights is not None,
        "weights": weights_note,
        "caveats": ([RANDOM_WEIGHTS_CAVEAT] if args.random_weights is not None else [])
        + ([CPU_TIMING_CAVEAT] if args.device == "cpu" else []),
        "protocol": f"batch 1, demo pairs 384×256, decode excluded, {args.warmup} untimed warm-up forward(s) per "
                    "model, precisions interleaved pair by pair; seconds per image = median forward time over the "
                    "pairs (FR: per pair); rel. dev. = |s_p - s_32| / |s_32|",
        "pairs": [p["name"] for p in pairs],
        "precision_support": support,
        "precisions": precisions,
        "metrics": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        start = time.perf_counter()
        entry = measure_metric(name, pairs, precisions, args.device, args.warmup)
        entry["wall_seconds"] = time.perf_counter() - start
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()  # the metric's models are gone; give their memory back before the next one
        doc["metrics"].append(entry)
        (args.out / "precision.json").write_text(json.dumps(doc, indent=1))  # partial results survive a kill
        print(f"{name}: done in {entry['wall_seconds']:.1f} s (load {entry['load_average_before'][0]:.2f})",
              flush=True)
    print()
    if args.random_weights is not None:
        print(f"NOTE: {RANDOM_WEIGHTS_CAVEAT}\n")
    print("\n".join(precision_table(doc)))
    print(f"\nWrote {args.out / 'precision.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
