"""Targets 2-4: orchestrator overhead, decode once, and 2-worker scaling of ``iqabench bench``.

* a synthetic full-reference dataset of ``--pairs`` pairs (the demo's 384×256 images, hard-linked under new
  names, so every pair is a separate file read) in pyiqa's layout, with a ``--data_opt`` entry ``synth``;
* the ideal: a plain in-process loop (decode + metric, batch ``--batch_size``, one torch thread) over all
  pairs, divided by the number of workers;
* ``iqabench bench`` with 2 and with 1 worker(s) (fresh output folders, so nothing is cached): the process's
  wall clock (Ray start included), the scoring phase it reports ("Scored N image score(s) in X s") and its
  steady-state throughput (images finished between 10 % and 90 % of the run's images, per second), compared with
  the plain loop's rate times the workers;
* decode once: ``bench`` with 1 and with 5 metrics while every ``read_image`` call of every process is counted
  (``decode_bytes`` calls, ``benchmarks/readcount/sitecustomize.py``).

Runs alternate (loop, bench ×2, bench ×1) for ``--rounds`` rounds; the load average is recorded before each.
With ``--running_cluster``, each round then runs bench ×2 and ×1 against a Ray cluster started for them (``ray
start --head`` with this machine's CPUs, in its own process group; ``RAY_ADDRESS`` points the runs at it), the way
a cluster user runs it: no Ray start-up or shutdown in the run. Writes ``<out>/overhead.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

FIVE = ("psnr", "ssim", "gmsd", "ms_ssim", "nlpd")


def make_dataset(root: Path, pairs: int) -> Path:
    """``pairs`` demo pairs under ``root`` (hard links, or copies where links fail), with its option YAML."""
    import yaml

    from datasets_io.demo import ensure_demo

    demo = ensure_demo(root.parent / "demo")
    meta = (demo / "meta_info_demo.csv").read_text().splitlines()[1:]
    folder = root / f"synth{pairs}"
    stamp = folder / "meta.csv"
    if not stamp.is_file():
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "dist").mkdir(parents=True)
        (folder / "ref").mkdir()
        lines = ["ref_name,dist_name,mos"]
        for i in range(pairs):
            ref_name, dist_name, mos = meta[i % len(meta)].split(",")
            new_ref, new_dist = f"{i:05d}_{ref_name}", f"{i:05d}_{dist_name}"
            for src, dst in ((demo / "ref" / ref_name, folder / "ref" / new_ref),
                             (demo / "dist" / dist_name, folder / "dist" / new_dist)):
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copy(src, dst)
            lines.append(f"{new_ref},{new_dist},{mos}")
        stamp.write_text("\n".join(lines) + "\n")
    opt = folder / "data_opt.yml"
    opt.write_text(yaml.safe_dump({"synth": {
        "name": "synth", "type": "GeneralFRDataset", "dataroot_target": str(folder / "dist"),
        "dataroot_ref": str(folder / "ref"), "meta_info_file": str(stamp)}}))
    return opt


def plain_loop(opt: Path, metric: str, batch_size: int, device: str = "cpu") -> dict:
    """Decode + metric over every pair in this process, one torch thread; seconds (construction not timed)."""
    import numpy as np
    import torch
    import yaml

    import metrics
    from datasets_io.decode import read_image

    torch.set_num_threads(1)
    entry = yaml.safe_load(opt.read_text())["synth"]
    rows = [line.split(",") for line in Path(entry["meta_info_file"]).read_text().splitlines()[1:]]
    model = metrics.create(metric, device=device)
    load = list(os.getloadavg())
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(rows), batch_size):
            chunk = rows[first:first + batch_size]
            dist = np.stack([read_image(Path(entry["dataroot_target"]) / d) for _, d, _ in chunk])
            ref = np.stack([read_image(Path(entry["dataroot_ref"]) / r) for r, _, _ in chunk])
            to = lambda a: torch.from_numpy(a).to(device).permute(0, 3, 1, 2).float().div_(255.0)  # noqa: E731
            model(to(dist), to(ref)).cpu()
    return {"seconds": time.perf_counter() - start, "pairs": len(rows), "load_average_before": load}


def run_bench(opt: Path, metrics: tuple[str, ...], workers: int, out: Path, batch_size: int,
              count_reads: Path | None = None, limit: int | None = None, use_gpu: bool = False,
              cluster_env: dict[str, str] | None = None) -> dict:
    """``iqabench bench`` in a fresh process and output folder; wall clock and the scoring phase it reports.

    ``cluster_env``: the environment of a running cluster (``RAY_ADDRESS`` and its auth) instead of a local
    cluster started by the run."""
    if out.exists():
        shutil.rmtree(out)
    env = dict(cluster_env) if cluster_env is not None else dict(os.environ)
    if cluster_env is None:
        env.pop("RAY_ADDRESS", None)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{out.parent / (out.name + '-mlflow.db')}"
    command = [str(REPO / ".venv" / "bin" / "iqabench"), "bench", "-m", *metrics, "-d", "synth", "--data_opt",
               str(opt), "--out", str(out), "--num_workers", str(workers), "--batch_size", str(batch_size)]
    if limit:
        command += ["--limit", str(limit)]
    if use_gpu:
        command.append("--use_gpu")
    if count_reads is not None:
        if count_reads.exists():
            shutil.rmtree(count_reads)
        count_reads.mkdir(parents=True)
        env["IQABENCH_COUNT_READS_DIR"] = str(count_reads)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE / "readcount"), str(REPO), env.get("PYTHONPATH")]))
    load = list(os.getloadavg())
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - start
    scored = re.search(r"Scored \d+ image score\(s\) in ([0-9.]+) s", done.stdout)
    row = {"command": " ".join(command), "workers": workers, "metrics": list(metrics), "wall_seconds": wall,
           "scoring_seconds": float(scored.group(1)) if scored else None, "returncode": done.returncode,
           "load_average_before": load}
    if done.returncode != 0 or not scored:
        row["error"] = (done.stdout[-1500:] + done.stderr[-1500:]).strip()
    else:
        row["steady_images_per_second"] = steady_rate(out)
    if count_reads is not None:
        paths = [line for f in count_reads.glob("*.txt") for line in f.read_text().splitlines()]
        row.update(reads=len(paths), distinct_files=len(set(paths)), reading_processes=len(list(count_reads.glob("*.txt"))))
    return row


#: The steady state: between these fractions of the images finished (no actor start-up, no drain at the end).
STEADY_FROM, STEADY_TO = 0.1, 0.9


def steady_rate(out: Path) -> float | None:
    """Images per second while the run is in its steady state: the images finished between the
    :data:`STEADY_FROM` and :data:`STEADY_TO` quantiles of the finish times, over that span, from the per-image
    ``finished`` stamps of the run's cells."""
    import numpy as np
    import pyarrow.parquet as pq

    finished = [pq.read_table(f, columns=["finished"]).column(0).to_numpy() for f in out.glob("cells/*/scores.parquet")]
    if not finished:
        return None
    times = np.sort(np.concatenate(finished))
    low, high = int(STEADY_FROM * (len(times) - 1)), int(STEADY_TO * (len(times) - 1))
    span = times[high] - times[low]
    return float((high - low) / span) if span > 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--metric", default="ssim", help="the metric of the overhead and scaling runs")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--read_pairs", type=int, default=200, help="pairs of the read-counting runs (--limit)")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: the loop runs on the GPU and bench gets --use_gpu")
    parser.add_argument("--skip", nargs="*", default=[], choices=("overhead", "reads"))
    parser.add_argument("--running_cluster", action="store_true",
                        help="also run bench ×2 and ×1 against a Ray cluster started once for all rounds")
    args = parser.parse_args(argv)
    work = args.out / "overhead"
    work.mkdir(parents=True, exist_ok=True)
    opt = make_dataset(work / "data", args.pairs)
    document: dict = {"device": args.device, "pairs": args.pairs, "metric": args.metric, "batch_size": args.batch_size,
                      "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "cpus": os.cpu_count(), "rounds": []}
    if "overhead" not in args.skip:
        overhead_rounds(args, opt, work, document)
    if "reads" not in args.skip:
        reads = {}
        for metrics in ((args.metric,), FIVE):
            row = run_bench(opt, metrics, 2, work / f"reads{len(metrics)}", args.batch_size,
                            count_reads=work / f"reads{len(metrics)}-count", limit=args.read_pairs)
            row["images"] = 2 * args.read_pairs  # a distorted and a reference file per pair
            reads[str(len(metrics))] = row
            print(f"{len(metrics)} metric(s): {row.get('reads')} reads for {row['images']} image files "
                  f"({row.get('error', 'ok')[:300]})", flush=True)
        document["reads"] = reads
    (args.out / "overhead.json").write_text(json.dumps(document, indent=1, default=str))
    return 0


@contextlib.contextmanager
def running_cluster() -> Iterator[dict[str, str]]:
    """A one-node cluster with this machine's CPUs (the scale-out tests' launcher: own process group, 127.0.0.1,
    token auth), up only while the runs against it go; yields their environment (``RAY_ADDRESS`` set)."""
    sys.path.insert(0, str(REPO / "tests" / "scaleout"))
    from cluster import start_cluster

    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed benchmark still stops it
    cluster = start_cluster(cpus_per_node=(os.cpu_count() or 2,))
    try:
        time.sleep(5)  # let the fresh cluster's start-up work settle before timing against it
        yield {**cluster.env, "RAY_ADDRESS": cluster.gcs_address}
    finally:
        cluster.stop()
        shutil.rmtree(cluster.temp_dir, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def overhead_rounds(args: argparse.Namespace, opt: Path, work: Path, document: dict) -> None:
    """Per round: the loop, bench ×2 and ×1 with their own local cluster, then (``--running_cluster``) bench ×2 and
    ×1 against a cluster started for them (not running during the other runs, so its processes cost them nothing)."""
    gpu = args.device == "cuda"

    def timed(row: dict, name: str, workers: int, env: dict[str, str] | None) -> None:
        row[name] = run_bench(opt, (args.metric,), workers, work / name, args.batch_size, use_gpu=gpu, cluster_env=env)
        print(f"round {index}: {name} ({workers} worker(s){', running cluster' if env else ''}) wall "
              f"{row[name]['wall_seconds']:.1f} s, scoring {row[name]['scoring_seconds']} s, steady "
              f"{row[name].get('steady_images_per_second')} images/s "
              f"(load {row[name]['load_average_before'][0]:.2f}){' ERROR' if 'error' in row[name] else ''}", flush=True)

    for index in range(args.rounds):
        loop = plain_loop(opt, args.metric, args.batch_size, args.device)
        print(f"round {index}: plain loop {loop['seconds']:.1f} s (load {loop['load_average_before'][0]:.2f})", flush=True)
        row = {"loop": loop}
        timed(row, "bench2", 2, None)
        timed(row, "bench1", 1, None)
        if args.running_cluster:
            with running_cluster() as env:
                timed(row, "running2", 2, env)
                timed(row, "running1", 1, env)
        document["rounds"].append(row)
    document["summary"] = summarize(document["rounds"])


def summarize(rounds: list[dict]) -> dict:
    """Medians over the rounds; ratios to the ideal (loop / 2 workers) and 1-vs-2-worker scaling, per variant."""
    def med(values: list[float | None]) -> float | None:
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    loop = med([r["loop"]["seconds"] for r in rounds])
    ideal = loop / 2 if loop else None
    summary: dict = {"loop_seconds": loop, "ideal_seconds": ideal}
    for two, one, suffix in (("bench2", "bench1", ""), ("running2", "running1", "_running_cluster")):
        if two not in rounds[0]:
            continue
        wall2, score2 = med([r[two]["wall_seconds"] for r in rounds]), med([r[two]["scoring_seconds"] for r in rounds])
        wall1, score1 = med([r[one]["wall_seconds"] for r in rounds]), med([r[one]["scoring_seconds"] for r in rounds])
        prefix = "bench" if not suffix else "running"
        steady2 = med([r[two].get("steady_images_per_second") for r in rounds])
        steady1 = med([r[one].get("steady_images_per_second") for r in rounds])
        pairs = rounds[0]["loop"]["pairs"]
        summary.update({
            f"{prefix}2_steady_images_per_second": steady2, f"{prefix}1_steady_images_per_second": steady1,
            # Steady-state throughput against the plain loop's rate times the workers (target >= 0.95).
            f"steady_ratio{suffix}": steady2 / (2 * pairs / loop) if steady2 and loop else None,
            f"steady_ratio_one_worker{suffix}": steady1 / (pairs / loop) if steady1 and loop else None,
            f"{prefix}2_wall_seconds": wall2, f"{prefix}2_scoring_seconds": score2,
            f"{prefix}1_wall_seconds": wall1, f"{prefix}1_scoring_seconds": score1,
            f"overhead_wall_ratio{suffix}": wall2 / ideal if ideal and wall2 else None,
            f"overhead_scoring_ratio{suffix}": score2 / ideal if ideal and score2 else None,
            f"scaling_wall{suffix}": wall1 / wall2 if wall1 and wall2 else None,
            f"scaling_scoring{suffix}": score1 / score2 if score1 and score2 else None,
        })
    return summary


if __name__ == "__main__":
    sys.exit(main())
