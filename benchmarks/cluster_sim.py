"""Cluster simulator: how well does ``iqabench bench`` keep a GPU cluster busy? (issue #14, item 8)

Starts a private local Ray cluster with fake GPUs (``ray start --num-gpus N``, own process group, private temp
folder, free loopback ports, token auth; stopped by process group, never ``ray stop``), generates tiny datasets
(8×8 RGB PNGs, pyiqa meta-info CSVs, a ``--data_opt`` YAML), and runs the REAL ``python -m jobs.cli bench
--use_gpu`` against it with simulated metrics (``benchmarks/sim_metrics.py``, a metric plugin whose models sleep
a configured time per image and declare a configured GPU share). Then it reads the per-image Parquet files
``scores/<dataset>/<metric>.parquet`` (columns ``started``/``finished``: when the actor call that scored the image
began and ended) and reports::

    makespan     = last finished − first started  (the scoring phase; the bench's wall time is reported apart)
    lower bound  = Σ_metrics images × scaled seconds per image × GPU share  ÷  GPUs   +   the longest load
    efficiency   = lower bound ÷ makespan

FR metrics score only FR datasets, NR metrics every dataset. It prints one summary block and writes
``sim_report.json`` and ``gpu_use.png`` (GPU shares busy over time, from the actor calls' intervals × share, with
the cluster's GPUs as a line) under ``--out``.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/cluster_sim.py \\
        --costs benchmarks/sim_profiles/three_metric_costs.csv \\
        --datasets benchmarks/sim_profiles/three_metric_datasets.csv --gpus 4 --cpus 8 --out results/sim

``--time-scale`` multiplies every cost (per-image seconds and load seconds); by default it is chosen so that the
lower bound is about ``--target-seconds`` (30 s), but never so small that the shortest per-image sleep drops under
1 ms (Ray's per-call overhead would then dominate), rounded down to 1, 2 or 5 × 10^k. ``--dataset-scale`` scales
every dataset's image count (at least 1 image). ``--metrics`` / ``--only-datasets`` pick subsets.
``--max-actors`` refuses a run whose one dataset pass could start more actors than that (the machine is shared).
Its default is 8 GB over what one actor holds: ~0.45 GB where the scoring actor imports torch for every model
(16 actors), ~0.1 GB where it scores ``numpy_scoring`` models without torch (80 actors); the simulator reads
``orchestrator/run/actors.py`` to tell which.

Profiles (``benchmarks/sim_profiles/``, documented in its README.md; CSVs carry no comments):

- ``default_costs.csv``: the 80 metrics of pyiqa's efficiency table (``Efficiency_benchmark.csv``): seconds per
  image = its ``cuda_v100`` column (1080×800 images, batch 1, decode + forward); GPU share = the smallest of
  1/16, 1/8, 1/4, 1/2, 1 of a 16 GB V100 that holds its ``Peak GPU Mem (GB)``; load seconds = an ASSUMPTION:
  1 s + 2 s per GB of peak GPU memory, capped at 6 s (weights read and moved to the GPU); mode FR for the
  full-reference metrics (psnr, psnry, ssim, ssimc, ms_ssim, cw_ssim, fsim, gmsd, mad, nlpd, vif, vsi, lpips*,
  dists, pieapp, ahiq, ckdn, topiq_fr*, wadiqam_fr, stlpips*, msswd, deepdc), NR for the rest.
- ``default_datasets.csv``: the 18 entries of pyiqa's ``default_dataset_configs.yml`` with their scored (test)
  sizes at full scale; run it with ``--dataset-scale 0.05``. Sizes and their sources are in the README.
- ``three_metric_costs.csv`` / ``three_metric_datasets.csv``: 0.002 / 0.02 / 0.1 s per image, 1 / 3 / 5 s load,
  0.25 / 0.5 / 1 GPU; NR datasets of 400 / 200 / 100 images.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.sim_metrics import (  # noqa: E402
    COSTS_ENV, FAKE_GPUS_ENV, SCALE_ENV, DatasetSize, MetricCost, SimProfileError, load_costs, load_datasets,
    sim_name,
)

PROFILES = REPO / "benchmarks" / "sim_profiles"
PLUGIN = "benchmarks.sim_metrics"
IMAGE_SIZE = 8
#: Distorted images per generated reference image (FR datasets).
DIST_PER_REF = 25
MIN_SLEEP_S = 0.001
#: Host memory (GB, proportional set size measured on this VM) of one scoring actor holding a simulated model:
#: an actor that imports torch for every model, and one that scores ``numpy_scoring`` models without torch.
ACTOR_GB = {"torch": 0.45, "numpy": 0.1}
#: What the actors of one pass may hold together by default (--max-actors = this ÷ one actor's memory).
ACTOR_BUDGET_GB = 8.0


def actor_kind() -> str:
    """``numpy`` when the scoring actor of this tree scores ``numpy_scoring`` models without torch, else ``torch``."""
    try:
        source = (REPO / "orchestrator" / "run" / "actors.py").read_text(encoding="utf-8")
    except OSError:
        return "torch"
    return "numpy" if "numpy_scoring" in source else "torch"
OBJECT_STORE_BYTES = 300 * 2**20


# ----------------------------------------------------------------------------------------------- the bound


@dataclass(frozen=True)
class MetricWork:
    name: str  # the sim metric's registry name
    metric: str
    mode: str
    images: int
    seconds_per_image: float  # scaled
    load_seconds: float  # scaled
    gpu_share: float

    @property
    def gpu_seconds(self) -> float:
        return self.images * self.seconds_per_image * self.gpu_share


@dataclass(frozen=True)
class Bound:
    gpus: float
    time_scale: float
    work: tuple[MetricWork, ...]

    @property
    def gpu_seconds(self) -> float:
        return sum(w.gpu_seconds for w in self.work)

    @property
    def longest_load(self) -> float:
        return max((w.load_seconds for w in self.work if w.images), default=0.0)

    @property
    def seconds(self) -> float:
        return self.gpu_seconds / self.gpus + self.longest_load

    @property
    def images(self) -> int:
        return sum(w.images for w in self.work)


def applies(metric_mode: str, dataset_mode: str) -> bool:
    """FR metrics score FR datasets only; NR metrics score every dataset."""
    return metric_mode == "NR" or dataset_mode == "FR"


def lower_bound(costs: Sequence[MetricCost], datasets: Sequence[DatasetSize], gpus: float,
                time_scale: float) -> Bound:
    if gpus <= 0:
        raise ValueError(f"gpus must be > 0, got {gpus}")
    work = tuple(
        MetricWork(name=c.name, metric=c.metric, mode=c.mode,
                   images=sum(d.images for d in datasets if applies(c.mode, d.mode)),
                   seconds_per_image=c.seconds_per_image * time_scale, load_seconds=c.load_seconds * time_scale,
                   gpu_share=c.gpu_share)
        for c in costs
    )
    return Bound(gpus=gpus, time_scale=time_scale, work=work)


def _nice_floor(value: float) -> float:
    """The largest 1, 2 or 5 × 10^k not above ``value``."""
    exponent = math.floor(math.log10(value))
    for mantissa in (5, 2, 1):
        if mantissa * 10**exponent <= value * (1 + 1e-9):
            return float(f"{mantissa * 10.0**exponent:.3g}")
    return 10.0**exponent


def auto_time_scale(costs: Sequence[MetricCost], datasets: Sequence[DatasetSize], gpus: float,
                    target_seconds: float) -> float:
    """Scale so that the lower bound is about ``target_seconds`` (rounded down to 1/2/5 × 10^k), but the shortest
    per-image sleep stays >= 1 ms."""
    unscaled = lower_bound(costs, datasets, gpus, 1.0).seconds
    floor = MIN_SLEEP_S / min(c.seconds_per_image for c in costs)
    return max(_nice_floor(target_seconds / unscaled), floor)


def scale_datasets(datasets: Sequence[DatasetSize], scale: float) -> list[DatasetSize]:
    if scale <= 0:
        raise ValueError(f"--dataset-scale must be > 0, got {scale}")
    return [DatasetSize(d.dataset, d.mode, max(1, round(d.images * scale))) for d in datasets]


def pick(items: Sequence, wanted: Sequence[str] | None, name_of, what: str, source: Path) -> list:
    """The items named in ``wanted`` (profile names or sim names), in profile order; unknown names raise."""
    if not wanted:
        return list(items)
    known = {}
    for item in items:
        for name in name_of(item):
            known[name] = item
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise SimProfileError(f"{source}: no {what} named {', '.join(unknown)}")
    chosen = {id(known[w]) for w in wanted}
    return [item for item in items if id(item) in chosen]


def max_actors_per_pass(costs: Sequence[MetricCost], datasets: Sequence[DatasetSize], cpus: int) -> int:
    """Upper bound on the actors one dataset pass can start: each metric gets at most max(1, CPUs // metrics)
    actors (the placement's CPU cap), so a pass holds at most max(metrics of the pass, CPUs)."""
    most = max((sum(applies(c.mode, d.mode) for c in costs) for d in datasets), default=0)
    return max(most, cpus) if most else 0


# ---------------------------------------------------------------------------------------- dataset generation


def _image(seed: Iterable[int]):
    import numpy as np

    rng = np.random.default_rng(list(seed))
    return rng.integers(0, 256, size=(IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)


def generate_dataset(size: DatasetSize, root: Path, index: int) -> dict:
    """Write ``size.images`` PNGs (plus references for FR) and a pyiqa meta-info CSV; returns the option entry."""
    import csv

    import numpy as np
    from PIL import Image

    folder = root / size.key
    dist_dir = folder / "dist"
    dist_dir.mkdir(parents=True, exist_ok=True)
    meta = root / "meta_info" / f"meta_info_{size.key}.csv"
    meta.parent.mkdir(parents=True, exist_ok=True)
    mos = np.random.default_rng([7, index]).uniform(1.0, 5.0, size.images)
    entry = {"name": size.key, "dataroot_target": str(dist_dir), "meta_info_file": str(meta),
             "mos_range": [1, 5], "lower_better": False}
    with open(meta, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if size.mode == "FR":
            ref_dir = folder / "ref"
            ref_dir.mkdir(exist_ok=True)
            refs = max(1, math.ceil(size.images / DIST_PER_REF))
            for r in range(refs):
                Image.fromarray(_image([index, 1, r])).save(ref_dir / f"ref{r:03d}.png")
            writer.writerow(["ref_name", "dist_name", "mos"])
            for i in range(size.images):
                name = f"img{i:05d}.png"
                Image.fromarray(_image([index, 2, i])).save(dist_dir / name)
                writer.writerow([f"ref{i % refs:03d}.png", name, f"{mos[i]:.4f}"])
            entry.update(type="GeneralFRDataset", dataroot_ref=str(ref_dir))
        else:
            writer.writerow(["dist_name", "mos"])
            for i in range(size.images):
                name = f"img{i:05d}.png"
                Image.fromarray(_image([index, 2, i])).save(dist_dir / name)
                writer.writerow([name, f"{mos[i]:.4f}"])
            entry.update(type="GeneralNRDataset")
    return entry


def generate_datasets(sizes: Sequence[DatasetSize], root: Path) -> Path:
    """All datasets under ``root`` and the ``--data_opt`` YAML naming them (keys ``sim_<dataset>``)."""
    import yaml

    options = {size.key: generate_dataset(size, root, index) for index, size in enumerate(sizes)}
    path = root / "sim_data_opt.yml"
    path.write_text(yaml.safe_dump(options, sort_keys=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------- the cluster


def start_sim_cluster(cpus: int, gpus: int, env: dict[str, str], timeout: float = 180.0):
    """A one-node Ray cluster with ``gpus`` fake GPUs (the project's test helpers, ``tests/scaleout/cluster.py``)."""
    from tests.scaleout.cluster import RayCluster, _ray_start, free_port, wait_http

    temp_dir = Path(tempfile.mkdtemp(prefix="iqs-sim-", dir="/tmp"))  # short: Ray's socket paths are limited
    port, dashboard = free_port(), free_port()
    cluster = RayCluster(temp_dir=temp_dir, env=env, gcs_address=f"127.0.0.1:{port}",
                         dashboard_url=f"http://127.0.0.1:{dashboard}")
    log = temp_dir / "ray-start.log"
    cluster.logs.append(log)
    args = ["--head", "--port", str(port), "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
            "--dashboard-port", str(dashboard), "--ray-client-server-port", str(free_port()),
            "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus), "--num-gpus", str(gpus),
            "--temp-dir", str(temp_dir), "--disable-usage-stats", "--object-store-memory", str(OBJECT_STORE_BYTES),
            "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port())]
    try:
        cluster.groups.append(_ray_start(args, env, log, timeout))
        wait_http(f"{cluster.dashboard_url}/api/version", timeout,
                  headers={"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"})
    except BaseException:
        cluster.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return cluster


def sim_env(costs_csv: Path, time_scale: float, home: Path) -> dict[str, str]:
    """The environment of the Ray node and of the bench: token auth, the plugin and its costs, a private home."""
    from tests.scaleout.cluster import cluster_env

    env = {k: v for k, v in cluster_env(secrets.token_hex(24)).items() if not k.startswith("IQABENCH_")}
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
        "IQABENCH_METRIC_PLUGINS": PLUGIN,
        COSTS_ENV: str(costs_csv),
        SCALE_ENV: repr(float(time_scale)),
        FAKE_GPUS_ENV: "1",
        "IQABENCH_HOME": str(home),
        # No measured resources: the planner sees what the sim specs declare.
        "IQABENCH_RESOURCES": str(home / "no-resources.json"),
    })
    return env


def write_costs(costs: Sequence[MetricCost], path: Path) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["metric", "mode", "seconds_per_image", "load_seconds", "gpu_share"])
        for c in costs:
            writer.writerow([c.metric, c.mode, repr(c.seconds_per_image), repr(c.load_seconds), repr(c.gpu_share)])
    return path


#: What today's bench says when a matrix names FR metrics and NR datasets together.
REFUSED_MIX = "is full-reference but dataset"


def single_run(costs: Sequence[MetricCost], sizes: Sequence[DatasetSize]) -> list[tuple[list, list]]:
    return [(list(costs), list(sizes))]


def split_runs(costs: Sequence[MetricCost], sizes: Sequence[DatasetSize]) -> list[tuple[list, list]]:
    """FR datasets with every metric, then NR datasets with the NR metrics (empty groups left out)."""
    groups = [(list(costs), [d for d in sizes if d.mode == "FR"]),
              ([c for c in costs if c.mode == "NR"], [d for d in sizes if d.mode == "NR"])]
    return [(m, d) for m, d in groups if m and d]


def bench_command(metrics: Sequence[str], datasets: Sequence[str], data_opt: Path, out: Path,
                  batch_size: int, dry_run: bool = False) -> list[str]:
    command = [sys.executable, "-m", "jobs.cli", "bench", "-m", *metrics, "-d", *datasets, "--data_opt", str(data_opt),
               "--use_gpu", "--out", str(out), "--batch_size", str(batch_size), "--bootstrap_resamples", "20"]
    return command + (["--dry-run"] if dry_run else [])


#: The exit code recorded for a bench stopped at --timeout (as timeout(1) reports it).
TIMED_OUT = 124


def run_logged(command: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float) -> tuple[int, float]:
    """Run ``command`` in its own process group, output to ``log``; returns (exit code, wall seconds). A command
    still running after ``timeout`` seconds is stopped (its whole process group) and reports :data:`TIMED_OUT`."""
    from tests.scaleout.cluster import kill_group

    start = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid, grace=5)
            proc.wait()
            code = TIMED_OUT
        except BaseException:  # Ctrl-C / SIGTERM: stop the bench and everything it started
            kill_group(proc.pid, grace=5)
            proc.wait()
            raise
    return code, time.monotonic() - start


# ------------------------------------------------------------------------------------------ reading the results


INTERVAL_COLUMNS = ["run", "dataset", "metric", "started", "finished", "share", "images", "errors"]


def read_intervals(out: Path, shares: dict[str, float], run: int = 0):
    """One row per actor call found in ``out/scores/*/*.parquet``: run, dataset, metric, started, finished, share,
    images, errors (the images of a call share its started/finished)."""
    import pandas as pd

    frames = []
    for path in sorted((out / "scores").glob("*/*.parquet")):
        metric, dataset = path.stem, path.parent.name
        if metric not in shares:
            continue
        frame = pd.read_parquet(path)
        frame = frame[[c for c in ("started", "finished", "error", "node_id") if c in frame.columns]]
        frame = frame.dropna(subset=["started", "finished"])
        if frame.empty:
            continue
        frame = frame.assign(failed=frame["error"].notna())
        keys = [c for c in ("started", "finished", "node_id") if c in frame.columns]
        calls = frame.groupby(keys, dropna=False).agg(images=("failed", "size"), errors=("failed", "sum")).reset_index()
        calls["run"], calls["dataset"], calls["metric"], calls["share"] = run, dataset, metric, shares[metric]
        frames.append(calls[INTERVAL_COLUMNS])
    if not frames:
        return pd.DataFrame(columns=INTERVAL_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values("started", ignore_index=True)


def busy_steps(intervals) -> tuple[list[float], list[float]]:
    """(times since the first start, GPU shares busy from each time on): a step function."""
    if len(intervals) == 0:
        return [], []
    # Each bench run starts where the previous one's scoring ended (the gap between two processes is left out).
    offset, origin = 0.0, {}
    for run, part in sorted(intervals.groupby("run"), key=lambda item: item[1]["started"].min()):
        origin[run] = float(part["started"].min()) - offset
        offset += float(part["finished"].max() - part["started"].min())
    events: dict[float, float] = {}
    for row in intervals.itertuples():
        start, end = row.started - origin[row.run], row.finished - origin[row.run]
        events[start] = events.get(start, 0.0) + row.share
        events[end] = events.get(end, 0.0) - row.share
    times, level, levels = sorted(events), 0.0, []
    for t in times:
        level += events[t]
        levels.append(max(0.0, round(level, 9)))
    return times, levels


def makespan_of(intervals) -> float | None:
    """Σ over bench runs of (last finished − first started): the scoring phase(s), without the time between two
    bench processes when the matrix had to be split (that time is in the bench wall time)."""
    if len(intervals) == 0:
        return None
    spans = intervals.groupby("run").agg(first=("started", "min"), last=("finished", "max"))
    return float((spans["last"] - spans["first"]).sum())


def summarise(intervals, bound: Bound, bench_wall: float | None, bench_code: int | None, config: dict) -> dict:
    makespan = makespan_of(intervals)
    per_metric = {}
    for w in bound.work:
        mine = intervals[intervals["metric"] == w.name] if len(intervals) else intervals
        per_metric[w.name] = {
            "metric": w.metric, "mode": w.mode, "gpu_share": w.gpu_share, "images_expected": w.images,
            "images_scored": int(mine["images"].sum() - mine["errors"].sum()) if len(mine) else 0,
            "errors": int(mine["errors"].sum()) if len(mine) else 0,
            "seconds_per_image": w.seconds_per_image, "load_seconds": w.load_seconds, "gpu_seconds": w.gpu_seconds,
            "busy_gpu_seconds": float(((mine["finished"] - mine["started"]) * mine["share"]).sum()) if len(mine) else 0.0,
        }
    busy = float(((intervals["finished"] - intervals["started"]) * intervals["share"]).sum()) if len(intervals) else 0.0
    return {
        **config,
        "images_expected": bound.images,
        "images_scored": sum(m["images_scored"] for m in per_metric.values()),
        "errors": sum(m["errors"] for m in per_metric.values()),
        "gpu_seconds": bound.gpu_seconds,
        "longest_load_s": bound.longest_load,
        "lower_bound_s": bound.seconds,
        "makespan_s": makespan,
        "span_s": float(intervals["finished"].max() - intervals["started"].min()) if len(intervals) else None,
        "efficiency": (bound.seconds / makespan) if makespan else None,
        "busy_gpu_seconds": busy,
        "mean_gpus_busy": (busy / makespan) if makespan else None,
        "bench_wall_s": bench_wall,
        "bench_exit_code": bench_code,
        "per_metric": per_metric,
    }


def write_report(report: dict, intervals, out: Path) -> tuple[Path, Path]:
    """``sim_report.json`` and ``gpu_use.png`` under ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    report_path = out / "sim_report.json"
    report_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    times, levels = busy_steps(intervals)
    fig, ax = plt.subplots(figsize=(9, 4))
    if times:
        ax.step(times, levels, where="post", label="GPU shares busy (actor calls × share)")
    gpus = report["gpus"]
    end = max([*(times or [0.0]), report.get("lower_bound_s") or 0.0, 1.0])
    ax.hlines(gpus, 0, end, colors="black", linestyles="--", label=f"{gpus:g} GPUs")
    if report.get("lower_bound_s"):
        ax.axvline(report["lower_bound_s"], color="tab:green", linestyle=":", label="lower bound")
    efficiency = report.get("efficiency")
    title = f"{report.get('profile', '')}: makespan {report.get('makespan_s') or 0:.1f} s, " \
            f"bound {report.get('lower_bound_s') or 0:.1f} s" + (f", efficiency {efficiency:.0%}" if efficiency else "")
    ax.set(xlabel="seconds since the first image started", ylabel="GPUs", title=title, ylim=(0, gpus * 1.15))
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    plot_path = out / "gpu_use.png"
    fig.savefig(plot_path, dpi=100)
    plt.close(fig)
    return report_path, plot_path


def summary_block(report: dict) -> str:
    def sec(value) -> str:
        return "n/a" if value is None else f"{value:.1f} s"

    efficiency = report.get("efficiency")
    return "\n".join([
        "== cluster simulation ==",
        f"profile      {report['profile']}",
        f"cluster      {report['gpus']} fake GPUs, {report['cpus']} CPUs; time scale {report['time_scale']:g}, "
        f"dataset scale {report['dataset_scale']:g}",
        f"work         {len(report['per_metric'])} metrics × {len(report['datasets'])} datasets, "
        f"{report['images_scored']}/{report['images_expected']} metric-images scored, {report['errors']} errors",
        f"GPU-seconds  {report['gpu_seconds']:.1f} (longest load {report['longest_load_s']:.1f} s)",
        f"lower bound  {sec(report['lower_bound_s'])}",
        f"makespan     {sec(report['makespan_s'])}  (scoring: first image started → last finished)",
        f"efficiency   {'n/a' if efficiency is None else f'{efficiency:.1%}'}  (bound ÷ makespan; "
        f"mean GPUs busy {report['mean_gpus_busy'] or 0:.2f} of {report['gpus']})",
        f"bench wall   {sec(report['bench_wall_s'])}  ({len(report.get('bench_runs', [])) or 1} bench run(s), "
        f"exit code {report['bench_exit_code']})",
    ])


# ------------------------------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--costs", type=Path, required=True, help="costs CSV: metric,mode,seconds_per_image,load_seconds,gpu_share")
    p.add_argument("--datasets", type=Path, required=True, help="datasets CSV: dataset,mode,images")
    p.add_argument("--gpus", type=int, default=4, help="fake GPUs of the simulated node (default: 4)")
    p.add_argument("--cpus", type=int, default=8, help="CPUs of the simulated node (default: 8)")
    p.add_argument("--time-scale", type=float, help="multiplies every cost (default: auto, see --target-seconds)")
    p.add_argument("--target-seconds", type=float, default=30.0,
                   help="auto time scale: aim the lower bound at about this many seconds (default: 30)")
    p.add_argument("--dataset-scale", type=float, default=1.0, help="multiplies every dataset's image count (default: 1)")
    p.add_argument("--metrics", nargs="+", metavar="METRIC", help="only these metrics of the costs CSV")
    p.add_argument("--only-datasets", nargs="+", metavar="DATASET", help="only these datasets of the datasets CSV")
    p.add_argument("--batch-size", type=int, default=8, help="bench --batch_size (default: 8)")
    p.add_argument("--max-actors", type=int,
                   help=f"refuse a run whose dataset pass could start more actors (default: {ACTOR_BUDGET_GB:g} GB ÷ "
                        f"one actor's memory: {ACTOR_GB['torch']} GB with torch, {ACTOR_GB['numpy']} GB without)")
    p.add_argument("--timeout", type=float, default=900.0, help="stop the bench after this many seconds (default: 900)")
    p.add_argument("--out", type=Path, default=Path("results/sim"), help="where sim_report.json and gpu_use.png go")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (datasets, bench output, logs)")
    p.add_argument("--dry-run", action="store_true", help="generate the data and run `bench --dry-run` only (no Ray)")
    args = p.parse_args(argv)
    for name in ("gpus", "cpus", "batch_size", "max_actors"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.time_scale is not None and not args.time_scale > 0:
        p.error("--time-scale must be > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        costs = pick(load_costs(args.costs), args.metrics, lambda c: (c.metric, c.name), "metric", args.costs)
        sizes = pick(load_datasets(args.datasets), args.only_datasets, lambda d: (d.dataset, d.key), "dataset",
                     args.datasets)
        sizes = scale_datasets(sizes, args.dataset_scale)
    except (SimProfileError, ValueError) as exc:
        print(f"cluster_sim: error: {exc}", file=sys.stderr)
        return 2
    modes = {d.mode for d in sizes}
    costs = [c for c in costs if applies(c.mode, "FR" if "FR" in modes else "NR")]  # drop metrics with no dataset
    if not costs:
        print("cluster_sim: error: no metric applies to the chosen datasets", file=sys.stderr)
        return 2
    time_scale = args.time_scale or auto_time_scale(costs, sizes, args.gpus, args.target_seconds)
    bound = lower_bound(costs, sizes, args.gpus, time_scale)
    shortest = min(w.seconds_per_image for w in bound.work)
    actors = max_actors_per_pass(costs, sizes, args.cpus)
    print(f"Simulating {len(costs)} metrics × {len(sizes)} datasets ({sum(d.images for d in sizes)} images) on "
          f"{args.gpus} fake GPUs / {args.cpus} CPUs, time scale {time_scale:g}")
    print(f"Lower bound {bound.seconds:.1f} s = {bound.gpu_seconds:.1f} GPU-s / {args.gpus} GPUs + longest load "
          f"{bound.longest_load:.1f} s; shortest per-image sleep {shortest * 1000:.2f} ms; up to {actors} actors a pass")
    if shortest < MIN_SLEEP_S:
        print(f"warning: per-image sleeps under {MIN_SLEEP_S * 1000:g} ms: Ray's per-call overhead will dominate")
    kind = actor_kind()
    max_actors = args.max_actors or int(ACTOR_BUDGET_GB / ACTOR_GB[kind])
    if actors > max_actors and not args.dry_run:
        print(f"cluster_sim: error: one dataset pass could start {actors} actors (~{actors * ACTOR_GB[kind]:.0f} GB "
              f"with this tree's {'torch-importing ' if kind == 'torch' else ''}scoring actor) > --max-actors "
              f"{max_actors}; pick fewer --metrics or --cpus, or raise --max-actors if the machine has the memory",
              file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="iqs-simwork-"))
    cluster = None
    try:
        costs_csv = write_costs(costs, work / "sim_costs.csv")
        data_opt = generate_datasets(sizes, work / "data")
        env = sim_env(costs_csv, time_scale, work / "home")
        shares = {w.name: w.gpu_share for w in bound.work}
        if not args.dry_run:
            cluster = start_sim_cluster(args.cpus, args.gpus, env)
            env = {**env, "RAY_ADDRESS": cluster.gcs_address}
            print(f"Ray cluster up at {cluster.gcs_address} (temp {cluster.temp_dir}); running the bench ...", flush=True)
        deadline = time.monotonic() + args.timeout
        runs: list[dict] = []
        frames = []
        for groups in (single_run(costs, sizes), split_runs(costs, sizes)):
            runs, frames = [], []
            for index, (metrics, datasets) in enumerate(groups):
                command = bench_command([c.name for c in metrics], [d.key for d in datasets], data_opt,
                                        work / f"bench{index}", args.batch_size, dry_run=args.dry_run)
                log = work / f"bench{index}.log"
                code, wall = run_logged(command, env, work, log, max(1.0, deadline - time.monotonic()))
                text = log.read_text(errors="replace")
                runs.append({"metrics": [c.name for c in metrics], "datasets": [d.key for d in datasets],
                             "exit_code": code, "wall_s": wall, "command": " ".join(command[1:]), "log": text})
                if not args.dry_run:
                    frames.append(read_intervals(work / f"bench{index}", shares, run=index))
                if code == TIMED_OUT:
                    print(f"cluster_sim: the bench did not finish within --timeout {args.timeout:g} s and was stopped; "
                          "the report covers the bench runs that finished", file=sys.stderr)
                    break
            if not (len(groups) == 1 and runs[0]["exit_code"] == 2 and REFUSED_MIX in runs[0]["log"]):
                break
            print("This bench refuses FR metrics × NR datasets in one matrix: running FR datasets (every metric), "
                  "then NR datasets (NR metrics) as two bench runs", flush=True)
        for run in runs:
            if run["exit_code"] != 0:
                print(f"bench ({', '.join(run['datasets'])}) exited with code {run['exit_code']}; last lines:\n"
                      + "\n".join(run["log"].splitlines()[-30:]), file=sys.stderr)
        if args.dry_run:
            for run in runs:
                print(run["log"][-6000:])
            print(f"bench --dry-run exit code(s) {[r['exit_code'] for r in runs]}"
                  + (f"; files under {work}" if args.keep else ""))
            return max(r["exit_code"] for r in runs)
        import pandas as pd

        intervals = pd.concat(frames, ignore_index=True) if frames else read_intervals(work / "none", shares)
        code = max(r["exit_code"] for r in runs)
        wall = sum(r["wall_s"] for r in runs)
        config = {
            "profile": f"{args.costs.name} + {args.datasets.name}", "costs_csv": str(args.costs),
            "datasets_csv": str(args.datasets), "gpus": args.gpus, "cpus": args.cpus, "time_scale": time_scale,
            "dataset_scale": args.dataset_scale, "batch_size": args.batch_size,
            "datasets": {d.key: {"dataset": d.dataset, "mode": d.mode, "images": d.images} for d in sizes},
            "bench_runs": [{k: v for k, v in r.items() if k != "log"} for r in runs],
            "timed_out": any(r["exit_code"] == TIMED_OUT for r in runs),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        report = summarise(intervals, bound, wall, code, config)
        report_path, plot_path = write_report(report, intervals, args.out)
        print(summary_block(report))
        print(f"wrote {report_path} and {plot_path}" + (f"; kept {work}" if args.keep else ""))
        if report["errors"]:
            print(f"warning: {report['errors']} image(s) failed; see summary.csv of the bench output "
                  f"(--keep keeps it)", file=sys.stderr)
        return 0 if code == 0 and report["makespan_s"] else 1
    except KeyboardInterrupt:
        return 130
    finally:
        if cluster is not None:
            # A second Ctrl-C / SIGTERM must not cut the cleanup short (it would leave our Ray node running).
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                cluster.stop()
                shutil.rmtree(cluster.temp_dir, ignore_errors=True)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the bench and the cluster like Ctrl-C does


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
