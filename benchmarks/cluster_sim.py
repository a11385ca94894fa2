"""Cluster simulator: how well does ``iqabench bench`` keep a GPU cluster busy? (issue #14, item 8)

Starts a private local Ray cluster with fake GPUs (``ray start --num-gpus N``, own process group, private temp
folder, free loopback ports, token auth; stopped by process group, never ``ray stop``), generates tiny datasets
(8×8 RGB PNGs, pyiqa meta-info CSVs, a ``--data_opt`` YAML), and runs the REAL ``python -m jobs.cli bench
--use_gpu`` against it, once, on the whole matrix (FR metrics score FR datasets only, NR metrics every dataset),
with simulated metrics (``benchmarks/sim_metrics.py``, a metric plugin whose models sleep a configured time per
image, declare a configured GPU share and score through ``score_numpy``, so their actors never import torch).

The planner is told the truth, as a user would after ``iqabench efficiency``: the simulator writes a
``resources.json`` with each sim metric's scaled seconds per image (``cuda`` and ``cpu``), load seconds and
``at_pixels`` = 64 (the generated 8×8 images: no size scaling), and points ``IQABENCH_RESOURCES`` at it (no
``host_peak_mb`` / ``gpu`` keys: memory and GPU shares stay the ones the sim specs declare). It reports::

    makespan     = finished_at − started_at of <bench out>/scoring.json: the whole scheduling phase, actor
                   start-up included (the Parquet intervals' first start → last finish only if it is missing)
    lower bound  = Σ_metrics images × scaled seconds per image × GPU share  ÷  GPUs   +   the longest load
    efficiency   = lower bound ÷ makespan
    predicted    = the planner's own prediction (scoring.json ``predicted_seconds``), and its error
                   |predicted − makespan| ÷ makespan

and writes ``sim_report.json`` (with the bench's ``scoring.json`` and its pools section) and ``gpu_use.png``
(GPU shares busy over time, from the actor calls' Parquet intervals × share, time 0 = ``started_at``, with the
cluster's GPUs, the bound and the prediction marked) under ``--out``.

``--predict-only`` starts nothing: it builds the planner's pools and prediction
(``orchestrator.run.pools.make_pools`` / ``predict``, one ``MetricDemand`` per metric: work = images × seconds per
image, its GPU share and load) for ``--gpus`` / ``--cpus`` and prints the predicted makespan and bounds; its time
scale is 1 (real seconds) unless ``--time-scale`` is given. That is how the full-zoo projection is made::

    PYTHONPATH=. .venv/bin/python benchmarks/cluster_sim.py --predict-only --gpus 64 --cpus 512 \\
        --costs benchmarks/sim_profiles/default_costs.csv --datasets benchmarks/sim_profiles/default_datasets.csv

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/cluster_sim.py \\
        --costs benchmarks/sim_profiles/three_metric_costs.csv \\
        --datasets benchmarks/sim_profiles/three_metric_datasets.csv --gpus 4 --cpus 8 --out results/sim/three

``--time-scale`` multiplies every cost (per-image seconds and load seconds); by default it is chosen so that the
lower bound is about ``--target-seconds`` (30 s), rounded down to 1, 2 or 5 × 10^k, but never so small that the
shortest per-image sleep drops under 1 ms (Ray's per-call overhead would then dominate) or the longest model load
under the planner's estimate of an actor's start (``ACTOR_START_SECONDS``, 2 s: a Ray worker process starting,
which no time scale shrinks). ``--dataset-scale`` scales
every dataset's image count (at least 1 image). ``--metrics`` / ``--only-datasets`` pick subsets.
``--bench-verbose`` runs ``bench -v`` and has every simulated model print one trace line: the report then has,
per pool, when the bench asked Ray for each actor (``actor_requests_s``) and, per actor, when its model was built
(worker process up, imports done), when it had loaded and which fake GPU Ray gave it (``actor_traces``), all in
seconds since ``started_at``; ``gpu_use.png`` marks the requests. The bench log (each line prefixed by the wall
clock) and ``intervals.csv`` (one row per actor call) are written beside the report.
Memory guard: a simulated actor holds ~0.1 GB (a Ray worker without torch); the run is refused when the most
actors the cluster could hold at once (GPUs ÷ the smallest GPU share, CPUs ÷ the smallest CPU reservation of the
planner's pools) times that exceeds ``--memory-gb`` (default: the memory available now less 2 GB).

Profiles (``benchmarks/sim_profiles/``, documented in its README.md; CSVs carry no comments):

- ``default_costs.csv``: the 80 metrics of pyiqa's efficiency table (``Efficiency_benchmark.csv``): seconds per
  image = its ``cuda_v100`` column (1080×800 images, batch 1, decode + forward); GPU share = the smallest of
  1/16, 1/8, 1/4, 1/2, 1 of a 16 GB V100 that holds its ``Peak GPU Mem (GB)``; load seconds = an ASSUMPTION:
  1 s + 2 s per GB of peak GPU memory, capped at 6 s; mode FR for the full-reference metrics, NR for the rest.
- ``default_datasets.csv``: the 18 entries of pyiqa's ``default_dataset_configs.yml`` with their scored (test)
  sizes at full scale; run it scaled (``--dataset-scale 0.01``). Sizes and their sources are in the README.
- ``three_metric_costs.csv`` / ``three_metric_datasets.csv``: 0.002 / 0.02 / 0.1 s per image, 1 / 3 / 5 s load,
  0.25 / 0.5 / 1 GPU; NR datasets of 400 / 200 / 100 images.
- ``ten_metric_costs.csv`` / ``ten_metric_datasets.csv``: an unseen profile (10 metrics, 0.013–0.51 s per image,
  GPU shares 1/16–1, mixed FR/NR, loads 1–6 s; 5 mixed datasets of a few hundred images).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.sim_metrics import (  # noqa: E402
    COSTS_ENV, MEMORY_MB, SCALE_ENV, TRACE_ENV, TRACE_MARK, DatasetSize, MetricCost, SimProfileError, load_costs,
    load_datasets,
)

PROFILES = REPO / "benchmarks" / "sim_profiles"
PLUGIN = "benchmarks.sim_metrics"
IMAGE_SIZE = 8
#: Distorted images per generated reference image (FR datasets).
DIST_PER_REF = 25
MIN_SLEEP_S = 0.001
#: Host memory (GB) of one scoring actor holding a simulated model: a Ray worker that never imports torch
#: (~70 MB measured on this VM), rounded up.
ACTOR_GB = 0.1
#: Memory left to everything else when --memory-gb is derived from the memory available now.
MEMORY_HEADROOM_GB = 2.0
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

    @property
    def work_seconds(self) -> float:
        """Seconds one actor needs for every image of the metric."""
        return self.images * self.seconds_per_image


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
    per-image sleep stays >= 1 ms (Ray's per-call overhead) and the longest model load stays >= the planner's
    estimate of an actor's start (a worker process starting: a fixed cost of this machine that no time scale
    shrinks; compressed below it, the simulation would stand for a cluster whose every actor start costs many
    times its real share of the run)."""
    from orchestrator.run.cost import ACTOR_START_SECONDS

    unscaled = lower_bound(costs, datasets, gpus, 1.0).seconds
    per_call = MIN_SLEEP_S / min(c.seconds_per_image for c in costs)
    longest_load = max(c.load_seconds for c in costs)
    per_actor = ACTOR_START_SECONDS / longest_load if longest_load > 0 else 0.0
    return max(_nice_floor(target_seconds / unscaled), per_call, per_actor)


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


# ------------------------------------------------------------------------------------------------ the planner


def planner_cluster(gpus: float, cpus: float):
    """The cluster shape the bench sees on the simulated node (one node; Ray's memory left unchecked; the planner's
    estimate of an actor's start)."""
    from orchestrator.run.cost import ACTOR_START_SECONDS
    from orchestrator.run.pools import ClusterShape

    return ClusterShape(float(cpus), (float(gpus),), actor_start_seconds=ACTOR_START_SECONDS)


def planner_demands(bound: Bound) -> list:
    """What the bench's planner knows of each metric once ``resources.json`` tells it the truth: one
    ``MetricDemand`` per metric with images (work = images × seconds per image, its GPU share and load)."""
    from orchestrator.run.pools import MetricDemand

    return [MetricDemand(w.name, 1.0, w.gpu_share, MEMORY_MB, w.load_seconds, w.work_seconds)
            for w in bound.work if w.images]


def planner_prediction(bound: Bound, cpus: float):
    """(pools, prediction) of ``orchestrator.run.pools`` for ``bound``'s work on ``bound.gpus`` GPUs, ``cpus``."""
    from orchestrator.run.pools import make_pools, predict

    cluster = planner_cluster(bound.gpus, cpus)
    pools = make_pools(planner_demands(bound), cluster)
    return pools, predict(pools, cluster)


def most_actors(pools: Sequence, gpus: float, cpus: float) -> int:
    """The most actors ``pools`` can hold at once on the cluster: GPUs ÷ the smallest GPU share, CPUs ÷ the
    smallest CPU reservation (whichever is fewer)."""
    cluster = planner_cluster(gpus, cpus)
    limits = [cluster.usable_cpus / min(p.num_cpus for p in pools)] if pools else [0.0]
    shares = [p.num_gpus for p in pools if p.num_gpus > 0]
    if shares:
        limits.append(cluster.gpus / min(shares))
    return int(math.floor(min(limits) * 1.001))  # reservations are rounded to 3 decimals


def available_gb() -> float | None:
    """MemAvailable of /proc/meminfo in GB (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        return None
    return None


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    seconds = max(0.0, float(seconds))
    if seconds < 600:
        return f"{seconds:.1f} s"
    minutes, s = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{s:02d} ({seconds / 3600:.2f} h)"


def prediction_block(bound: Bound, cpus: float, pools: Sequence, prediction) -> str:
    actors_first = sum(prediction.initial_workers.values())
    actors_peak = sum(prediction.peak_workers.values())
    lines = [
        "== planner prediction (orchestrator.run.pools, no Ray) ==",
        f"cluster      {bound.gpus:g} GPUs, {cpus:g} CPUs; time scale {bound.time_scale:g}",
        f"work         {sum(1 for w in bound.work if w.images)} metrics, {bound.images} metric-images, "
        f"{bound.gpu_seconds:.1f} GPU-s (longest load {bound.longest_load:.1f} s)",
        f"pools        {len(pools)} ({sum(len(p.metrics) for p in pools)} metrics; {actors_first} actors at first, "
        f"Σ of pool peaks {actors_peak})" + (f"; waiting for room at first: {len(prediction.deferred)}"
                                             if prediction.deferred else ""),
        f"predicted    {clock(prediction.makespan)}",
        f"lower bound  {clock(bound.seconds)} (simulator: GPU-s ÷ GPUs + longest load; planner's own "
        f"{clock(prediction.lower_bound)})",
        f"efficiency   {bound.seconds / prediction.makespan if prediction.makespan else 1:.1%} predicted "
        f"(bound ÷ predicted makespan)",
    ]
    return "\n".join(lines)


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


def sim_env(costs_csv: Path, time_scale: float, home: Path, resources: Path) -> dict[str, str]:
    """The environment of the Ray node and of the bench: token auth, the plugin and its costs, the measured
    resources (``resources``), a private home."""
    from tests.scaleout.cluster import cluster_env

    env = {k: v for k, v in cluster_env(secrets.token_hex(24)).items() if not k.startswith("IQABENCH_")}
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
        "IQABENCH_METRIC_PLUGINS": PLUGIN,
        COSTS_ENV: str(costs_csv),
        SCALE_ENV: repr(float(time_scale)),
        "IQABENCH_HOME": str(home),
        "IQABENCH_RESOURCES": str(resources),
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


def resources_document(bound: Bound) -> dict:
    """``resources.json`` as ``iqabench efficiency`` would write it for the sim metrics: scaled seconds per image
    (``cuda`` and ``cpu`` alike), scaled load seconds, ``at_pixels`` = the generated image's pixels (so the cost
    model scales nothing). No ``host_peak_mb`` / ``gpu`` keys: they would override the declared memory and GPU
    shares."""
    from orchestrator.efficiency.measured_resources import VERSION

    return {"version": VERSION, "metrics": {
        w.name: {"seconds_per_image": {"cuda": w.seconds_per_image, "cpu": w.seconds_per_image},
                 "load_seconds": w.load_seconds, "at_pixels": IMAGE_SIZE * IMAGE_SIZE,
                 "source": "benchmarks/cluster_sim.py (simulated metric: its configured cost)"}
        for w in bound.work}}


def write_resources(bound: Bound, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(resources_document(bound), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def bench_command(metrics: Sequence[str], datasets: Sequence[str], data_opt: Path, out: Path,
                  batch_size: int, dry_run: bool = False, verbose: bool = False) -> list[str]:
    command = [sys.executable, "-m", "jobs.cli", "bench", "-m", *metrics, "-d", *datasets, "--data_opt", str(data_opt),
               "--use_gpu", "--out", str(out), "--batch_size", str(batch_size), "--bootstrap_resamples", "20"]
    return command + (["--dry-run"] if dry_run else []) + (["-v"] if verbose else [])


#: The exit code recorded for a bench stopped at --timeout (as timeout(1) reports it).
TIMED_OUT = 124


def run_logged(command: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float) -> tuple[int, float]:
    """Run ``command`` in its own process group, output to ``log`` with each line prefixed by the wall clock
    (seconds since the epoch, when the line was read: comparable with scoring.json's ``started_at``); returns
    (exit code, wall seconds). A command still running after ``timeout`` seconds is stopped (its whole process
    group) and reports :data:`TIMED_OUT`."""
    import threading

    from tests.scaleout.cluster import kill_group

    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)

        def copy() -> None:
            for raw in proc.stdout:  # type: ignore[union-attr]
                out.write(f"{time.time():.3f} {raw.decode('utf-8', 'replace')}")
                out.flush()

        reader = threading.Thread(target=copy, daemon=True)
        reader.start()
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
        finally:
            reader.join(timeout=10)
    return code, time.monotonic() - start


def actor_traces(log_text: str, origin: float | None) -> list[dict]:
    """The simulated models' trace lines (``--bench-verbose``): per actor its metric, when its model was built
    (worker up, imports done) and loaded (seconds since ``origin``), and the GPU ids Ray gave it."""
    import re

    found = []
    for match in re.finditer(TRACE_MARK + r" metric=(\S*) pid=(\d+) built=([\d.]+) loaded=([\d.]+) gpus=(\S*)", log_text):
        metric, pid, built, loaded, gpus = match.groups()
        found.append({"metric": metric, "pid": int(pid), "built_s": round(float(built) - (origin or 0.0), 2),
                      "loaded_s": round(float(loaded) - (origin or 0.0), 2), "gpus": gpus})
    return sorted(found, key=lambda t: t["built_s"])


def actor_requests(log_text: str, origin: float | None) -> dict[str, list[float]]:
    """Per pool, when the bench asked Ray for each of its actors (seconds since ``origin``), from the
    ``started an actor of <pool>`` lines that ``bench -v`` logs (empty without ``--bench-verbose``)."""
    found: dict[str, list[float]] = {}
    for line in log_text.splitlines():
        stamp, _, message = line.partition(" ")
        marker = message.find("started an actor of ")
        if marker < 0:
            continue
        pool = message[marker + len("started an actor of "):].rsplit(" (", 1)[0]
        try:
            at = float(stamp) - (origin or 0.0)
        except ValueError:
            continue
        found.setdefault(pool, []).append(round(at, 2))
    return found


# ------------------------------------------------------------------------------------------ reading the results


INTERVAL_COLUMNS = ["dataset", "metric", "started", "finished", "share", "images", "errors"]


def read_intervals(out: Path, shares: dict[str, float]):
    """One row per actor call found in ``out/scores/*/*.parquet``: dataset, metric, started, finished, share,
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
        calls["dataset"], calls["metric"], calls["share"] = dataset, metric, shares[metric]
        frames.append(calls[INTERVAL_COLUMNS])
    if not frames:
        return pd.DataFrame(columns=INTERVAL_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values("started", ignore_index=True)


def read_scoring(out: Path) -> dict | None:
    """The bench's ``<out>/scoring.json`` (None when it is missing or unreadable)."""
    try:
        document = json.loads((out / "scoring.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def busy_steps(intervals, origin: float | None = None) -> tuple[list[float], list[float]]:
    """(times since ``origin`` (default: the first start), GPU shares busy from each time on): a step function."""
    if len(intervals) == 0:
        return [], []
    origin = float(intervals["started"].min()) if origin is None else float(origin)
    events: dict[float, float] = {}
    for row in intervals.itertuples():
        start, end = float(row.started) - origin, float(row.finished) - origin
        events[start] = events.get(start, 0.0) + row.share
        events[end] = events.get(end, 0.0) - row.share
    times, level, levels = sorted(events), 0.0, []
    for t in times:
        level += events[t]
        levels.append(max(0.0, round(level, 9)))
    return times, levels


def span_of(intervals) -> float | None:
    """Last finished − first started of the actor calls (the scoring of images, without actor start-up)."""
    if len(intervals) == 0:
        return None
    return float(intervals["finished"].max() - intervals["started"].min())


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def summarise(intervals, bound: Bound, scoring: dict | None, planner: dict | None, bench_wall: float | None,
              bench_code: int | None, config: dict, bench_ended_at: float | None = None) -> dict:
    """The report: ``scoring`` is the bench's scoring.json (None: missing), ``planner`` the simulator's own replay
    of the planner (``predicted_s``, ``lower_bound_s``, actor counts); ``bench_ended_at``: when the bench process
    exited (epoch seconds), for what the run spent after its scoring (statistics, exports, MLflow)."""
    started_at = _number((scoring or {}).get("started_at"))
    finished_at = _number((scoring or {}).get("finished_at"))
    span = span_of(intervals)
    if started_at is not None and finished_at is not None:
        makespan, source = finished_at - started_at, "scoring.json finished_at − started_at"
    else:
        makespan, source = span, "Parquet intervals (scoring.json missing): first image started → last finished"
    predicted = _number((scoring or {}).get("predicted_seconds"))
    after_scoring = (bench_ended_at - finished_at) if bench_ended_at and finished_at else None
    per_metric = {}
    for w in bound.work:
        mine = intervals[intervals["metric"] == w.name] if len(intervals) else intervals
        per_metric[w.name] = {
            "metric": w.metric, "mode": w.mode, "gpu_share": w.gpu_share, "images_expected": w.images,
            "images_scored": int(mine["images"].sum() - mine["errors"].sum()) if len(mine) else 0,
            "errors": int(mine["errors"].sum()) if len(mine) else 0,
            "seconds_per_image": w.seconds_per_image, "load_seconds": w.load_seconds, "gpu_seconds": w.gpu_seconds,
            "busy_gpu_seconds": float(((mine["finished"] - mine["started"]) * mine["share"]).sum()) if len(mine) else 0.0,
            "first_started_s": (float(mine["started"].min()) - started_at) if len(mine) and started_at else None,
            "last_finished_s": (float(mine["finished"].max()) - started_at) if len(mine) and started_at else None,
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
        "makespan_source": source,
        "span_s": span,
        "first_image_after_s": (float(intervals["started"].min()) - started_at) if len(intervals) and started_at else None,
        "efficiency": (bound.seconds / makespan) if makespan else None,
        "predicted_s": predicted,
        "prediction_error": (abs(predicted - makespan) / makespan) if predicted is not None and makespan else None,
        "planner_lower_bound_s": _number((scoring or {}).get("lower_bound_seconds")),
        "planner_replay": planner,
        "busy_gpu_seconds": busy,
        "mean_gpus_busy": (busy / makespan) if makespan else None,
        "bench_wall_s": bench_wall,
        "bench_exit_code": bench_code,
        "after_scoring_s": after_scoring,
        "after_scoring_fraction": (after_scoring / makespan) if after_scoring is not None and makespan else None,
        "started_at": started_at,
        "finished_at": finished_at,
        "per_metric": per_metric,
        "scoring_json": scoring,
    }


def write_report(report: dict, intervals, out: Path) -> tuple[Path, Path]:
    """``sim_report.json`` and ``gpu_use.png`` under ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    report_path = out / "sim_report.json"
    report_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    origin = report.get("started_at")
    zero = origin if origin is not None else (float(intervals["started"].min()) if len(intervals) else 0.0)
    times, levels = busy_steps(intervals, zero)
    if len(intervals):
        intervals.to_csv(out / "intervals.csv", index=False)
    fig, (ax, by_metric) = plt.subplots(2, 1, figsize=(10, 8), sharex=True, height_ratios=(3, 2))
    if times:
        ax.step(times, levels, where="post", label="GPU shares busy (actor calls × share)")
    # Below: the GPU shares each of the (up to 8) costliest metrics keeps busy.
    top = sorted(report.get("per_metric", {}).items(), key=lambda item: -item[1].get("gpu_seconds", 0.0))[:8]
    for name, _ in top:
        mine_times, mine_levels = busy_steps(intervals[intervals["metric"] == name], zero) if len(intervals) \
            else ([], [])
        if mine_times:
            by_metric.step(mine_times, mine_levels, where="post", label=name, linewidth=1)
    by_metric.set(xlabel="seconds since scheduling started" if origin is not None else "seconds since the first "
                  "image started", ylabel="GPUs busy, by metric")
    if top:
        by_metric.legend(loc="upper right", fontsize="x-small", ncol=2)
    gpus = report["gpus"]
    makespan = report.get("makespan_s") or 0.0
    end = max([*(times or [0.0]), makespan, report.get("lower_bound_s") or 0.0, report.get("predicted_s") or 0.0, 1.0])
    ax.hlines(gpus, 0, end, colors="black", linestyles="--", label=f"{gpus:g} GPUs")
    if origin is not None:
        ax.axvline(0, color="tab:gray", linewidth=1, label="scheduling started (started_at)")
        ax.axvline(makespan, color="tab:red", linewidth=1, label="scheduling finished (finished_at)")
    if report.get("lower_bound_s"):
        ax.axvline(report["lower_bound_s"], color="tab:green", linestyle=":", label="lower bound")
    if report.get("predicted_s"):
        ax.axvline(report["predicted_s"], color="tab:purple", linestyle="-.", label="planner's prediction")
    asked = sorted(t for times_ in (report.get("actor_requests_s") or {}).values() for t in times_)
    if asked:
        ax.plot(asked, [gpus * 0.03] * len(asked), "|", color="tab:orange", markersize=12, label="actor asked for")
    efficiency = report.get("efficiency")
    title = f"{report.get('profile', '')}: makespan {makespan:.1f} s, bound {report.get('lower_bound_s') or 0:.1f} s" \
            + (f", efficiency {efficiency:.0%}" if efficiency else "") \
            + (f", predicted {report['predicted_s']:.1f} s" if report.get("predicted_s") else "")
    ax.set(ylabel="GPUs", ylim=(0, gpus * 1.15))
    ax.set_title(title, fontsize="medium")
    ax.legend(loc="lower left", fontsize="x-small")
    fig.tight_layout()
    plot_path = out / "gpu_use.png"
    fig.savefig(plot_path, dpi=100)
    plt.close(fig)
    return report_path, plot_path


def summary_block(report: dict) -> str:
    def sec(value) -> str:
        return "n/a" if value is None else f"{value:.1f} s"

    efficiency = report.get("efficiency")
    error = report.get("prediction_error")
    after = report.get("after_scoring_fraction")
    replay = report.get("planner_replay") or {}
    return "\n".join([
        "== cluster simulation ==",
        f"profile      {report['profile']}",
        f"cluster      {report['gpus']} fake GPUs, {report['cpus']} CPUs; time scale {report['time_scale']:g}, "
        f"dataset scale {report['dataset_scale']:g}",
        f"work         {len(report['per_metric'])} metrics × {len(report['datasets'])} datasets, "
        f"{report['images_scored']}/{report['images_expected']} metric-images scored, {report['errors']} errors",
        f"GPU-seconds  {report['gpu_seconds']:.1f} (longest load {report['longest_load_s']:.1f} s)",
        f"lower bound  {sec(report['lower_bound_s'])}",
        f"makespan     {sec(report['makespan_s'])}  ({report['makespan_source']}; first image after "
        f"{sec(report.get('first_image_after_s'))}, images {sec(report.get('span_s'))})",
        f"efficiency   {'n/a' if efficiency is None else f'{efficiency:.1%}'}  (bound ÷ makespan; "
        f"mean GPUs busy {report['mean_gpus_busy'] or 0:.2f} of {report['gpus']})",
        f"predicted    {sec(report.get('predicted_s'))}  (the bench's planner; error "
        f"{'n/a' if error is None else f'{error:.1%}'} of the makespan; replayed here "
        f"{sec(replay.get('predicted_s'))})",
        f"bench wall   {sec(report['bench_wall_s'])}  (exit code {report['bench_exit_code']})",
        f"after scoring {sec(report.get('after_scoring_s'))}  (statistics, exports, MLflow and exit, after the "
        f"scoring's end: {'n/a' if after is None else f'{after:.1%}'} of the makespan)",
    ])


# ------------------------------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--costs", type=Path, required=True, help="costs CSV: metric,mode,seconds_per_image,load_seconds,gpu_share")
    p.add_argument("--datasets", type=Path, required=True, help="datasets CSV: dataset,mode,images")
    p.add_argument("--gpus", type=int, default=4, help="fake GPUs of the simulated node (default: 4)")
    p.add_argument("--cpus", type=int, default=8, help="CPUs of the simulated node (default: 8)")
    p.add_argument("--time-scale", type=float,
                   help="multiplies every cost (default: auto, see --target-seconds; 1 with --predict-only)")
    p.add_argument("--target-seconds", type=float, default=30.0,
                   help="auto time scale: aim the lower bound at about this many seconds (default: 30)")
    p.add_argument("--dataset-scale", type=float, default=1.0, help="multiplies every dataset's image count (default: 1)")
    p.add_argument("--metrics", nargs="+", metavar="METRIC", help="only these metrics of the costs CSV")
    p.add_argument("--only-datasets", nargs="+", metavar="DATASET", help="only these datasets of the datasets CSV")
    p.add_argument("--batch-size", type=int, default=8, help="bench --batch_size (default: 8)")
    p.add_argument("--memory-gb", type=float,
                   help=f"refuse a run whose actors could hold more than this ({ACTOR_GB:g} GB each; default: the "
                        f"memory available now less {MEMORY_HEADROOM_GB:g} GB)")
    p.add_argument("--timeout", type=float, default=900.0, help="stop the bench after this many seconds (default: 900)")
    p.add_argument("--out", type=Path, default=Path("results/sim"), help="where sim_report.json and gpu_use.png go")
    p.add_argument("--bench-verbose", action="store_true",
                   help="run `bench -v`: its log then says when each actor was asked for and when its model was built "
                        "and loaded, on which GPU (actor_requests_s / actor_traces in the report)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (datasets, bench output, logs)")
    p.add_argument("--dry-run", action="store_true", help="generate the data and run `bench --dry-run` only (no Ray)")
    p.add_argument("--predict-only", action="store_true",
                   help="no Ray, no data: print the planner's predicted makespan and the lower bound")
    args = p.parse_args(argv)
    for name in ("gpus", "cpus", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.time_scale is not None and not args.time_scale > 0:
        p.error("--time-scale must be > 0")
    if args.memory_gb is not None and not args.memory_gb > 0:
        p.error("--memory-gb must be > 0")
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
    if args.predict_only:
        time_scale = args.time_scale or 1.0
    else:
        time_scale = args.time_scale or auto_time_scale(costs, sizes, args.gpus, args.target_seconds)
    bound = lower_bound(costs, sizes, args.gpus, time_scale)
    pools, prediction = planner_prediction(bound, args.cpus)
    planner = {"predicted_s": prediction.makespan, "lower_bound_s": prediction.lower_bound, "pools": len(pools),
               "initial_actors": sum(prediction.initial_workers.values()),
               "peak_actors": sum(prediction.peak_workers.values()), "deferred": list(prediction.deferred)}
    if args.predict_only:
        print(prediction_block(bound, args.cpus, pools, prediction))
        return 0
    shortest = min(w.seconds_per_image for w in bound.work)
    print(f"Simulating {len(costs)} metrics × {len(sizes)} datasets ({sum(d.images for d in sizes)} images) on "
          f"{args.gpus} fake GPUs / {args.cpus} CPUs, time scale {time_scale:g}")
    print(f"Lower bound {bound.seconds:.1f} s = {bound.gpu_seconds:.1f} GPU-s / {args.gpus} GPUs + longest load "
          f"{bound.longest_load:.1f} s; shortest per-image sleep {shortest * 1000:.2f} ms; planner predicts "
          f"{prediction.makespan:.1f} s with {len(pools)} pools")
    if shortest < MIN_SLEEP_S:
        print(f"warning: per-image sleeps under {MIN_SLEEP_S * 1000:g} ms: Ray's per-call overhead will dominate")
    actors = most_actors(pools, args.gpus, args.cpus)
    budget = args.memory_gb
    if budget is None:
        free = available_gb()
        budget = max(free - MEMORY_HEADROOM_GB, 1.0) if free is not None else math.inf
    if actors * ACTOR_GB > budget and not args.dry_run:
        print(f"cluster_sim: error: the cluster could hold {actors} simulated actors at once (~{actors * ACTOR_GB:.1f} "
              f"GB at {ACTOR_GB:g} GB each) > --memory-gb {budget:.1f}; pick fewer --gpus / --cpus, or raise "
              f"--memory-gb if the machine has the memory", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="iqs-simwork-"))
    cluster = None
    try:
        costs_csv = write_costs(costs, work / "sim_costs.csv")
        resources = write_resources(bound, work / "home" / "resources.json")
        data_opt = generate_datasets(sizes, work / "data")
        env = sim_env(costs_csv, time_scale, work / "home", resources)
        if args.bench_verbose:
            env.update({TRACE_ENV: "1", "RAY_DEDUP_LOGS": "0"})  # Ray would fold the actors' trace lines into one
        shares = {w.name: w.gpu_share for w in bound.work}
        if not args.dry_run:
            cluster = start_sim_cluster(args.cpus, args.gpus, env)
            env = {**env, "RAY_ADDRESS": cluster.gcs_address}
            print(f"Ray cluster up at {cluster.gcs_address} (temp {cluster.temp_dir}); running the bench ...", flush=True)
        bench_out = work / "bench"
        command = bench_command([c.name for c in costs], [d.key for d in sizes], data_opt, bench_out,
                                args.batch_size, dry_run=args.dry_run, verbose=args.bench_verbose)
        log = work / "bench.log"
        code, wall = run_logged(command, env, work, log, args.timeout)
        ended_at = time.time()
        text = log.read_text(errors="replace")
        if code == TIMED_OUT:
            print(f"cluster_sim: the bench did not finish within --timeout {args.timeout:g} s and was stopped",
                  file=sys.stderr)
        if code != 0:
            print(f"bench exited with code {code}; last lines:\n" + "\n".join(text.splitlines()[-30:]), file=sys.stderr)
        if args.dry_run:
            print(text[-6000:])
            print(f"bench --dry-run exit code {code}" + (f"; files under {work}" if args.keep else ""))
            return code
        intervals = read_intervals(bench_out, shares)
        scoring = read_scoring(bench_out)
        config = {
            "profile": f"{args.costs.name} + {args.datasets.name}", "costs_csv": str(args.costs),
            "datasets_csv": str(args.datasets), "gpus": args.gpus, "cpus": args.cpus, "time_scale": time_scale,
            "dataset_scale": args.dataset_scale, "batch_size": args.batch_size,
            "datasets": {d.key: {"dataset": d.dataset, "mode": d.mode, "images": d.images} for d in sizes},
            "bench_command": " ".join(command[1:]), "timed_out": code == TIMED_OUT,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_average": os.getloadavg(),
        }
        report = summarise(intervals, bound, scoring, planner, wall, code, config, ended_at)
        report["actor_requests_s"] = actor_requests(text, report["started_at"])
        report["actor_traces"] = actor_traces(text, report["started_at"])
        report_path, plot_path = write_report(report, intervals, args.out)
        (args.out / "bench.log").write_text(text, encoding="utf-8")
        print(summary_block(report))
        print(f"wrote {report_path}, {plot_path} and bench.log" + (f"; kept {work}" if args.keep else ""))
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
