"""``ray job submit`` onto a two-node Ray cluster on this machine, logging to a real MLflow tracking server.

The head and a second node start with ``ray start`` (1 CPU each, token authentication with a token of this
test only, private temp folder, free loopback ports); ``mlflow/serve.sh`` serves a SQLite store. The job
(psnr + ssim on 40 demo images, 2 actors per metric) gets the tracking URI, data root and weights cache
through its runtime_env; the test checks that both nodes scored images, that scores and correlations equal a
local computation without Ray, and reads the runs back from the server over HTTP.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from datasets_io.decode import read_image
from datasets_io.demo import ensure_demo

from .cluster import BIN, REPO, MlflowServer, RayCluster, start_cluster, start_mlflow

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]

METRICS = ("psnr", "ssim")
LIMIT = 24


def job_runtime_env(tracking_uri: str, home: Path, weights: Path) -> dict:
    """What docs/cluster.md tells users to pass with ``--runtime-env-json`` (excludes live in .rayignore)."""
    return {
        "env_vars": {
            "MLFLOW_TRACKING_URI": tracking_uri,
            "IQABENCH_HOME": str(home),
            "IQABENCH_DATA_ROOT": str(home / "datasets"),
            "TORCH_HOME": str(weights),
            "HF_HOME": str(weights / "hf"),
        }
    }


@dataclass
class Job:
    """A finished ``ray job submit`` and what the tests inspect about it."""

    cluster: RayCluster
    server: MlflowServer
    out: Path
    demo_root: Path
    completed: subprocess.CompletedProcess
    seconds: float
    #: A copy of the working dir as the head node unpacked it (None if it was not found).
    package: Path | None
    #: The cluster's nodes as the dashboard's state API lists them.
    nodes: list[dict]

    def frame(self, metric: str) -> pd.DataFrame:
        return pd.read_parquet(self.out / "scores" / "demo" / f"{metric}.parquet")


def _dashboard_json(cluster: RayCluster, path: str) -> dict:
    request = urllib.request.Request(f"{cluster.dashboard_url}{path}",
                                     headers={"Authorization": f"Bearer {cluster.env['RAY_AUTH_TOKEN']}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    base = tmp_path_factory.mktemp("scaleout")
    home = base / "home"
    demo_root = ensure_demo(home / "datasets" / "demo")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:  # the server and the nodes start side by side
        server_future = pool.submit(start_mlflow, base / "mlflow")
        cluster_future = pool.submit(start_cluster, (1, 1))
        server = cluster = None
        try:
            server = server_future.result()
            cluster = cluster_future.result()
        except BaseException:
            for future in (server_future, cluster_future):
                if future.exception() is None:
                    future.result().stop()
            raise
    print(f"\nMLflow server and 2-node Ray cluster up in {time.perf_counter() - t0:.1f} s")
    try:
        out = base / "out"
        command = [
            str(BIN / "ray"), "job", "submit", "--address", cluster.dashboard_url, "--working-dir", ".",
            "--runtime-env-json", json.dumps(job_runtime_env(server.url, home, base / "weights")), "--",
            "python", "-m", "jobs.benchmark", "-m", *METRICS, "-d", "demo", "--limit", str(LIMIT),
            "--batch_size", "4", "--num_workers", "2", "--out", str(out),
        ]
        started = time.perf_counter()
        completed = subprocess.run(command, env=cluster.env, cwd=REPO, capture_output=True, text=True, timeout=480)
        seconds = time.perf_counter() - started
        for line in completed.stdout.splitlines():
            if line.startswith(("Scoring ", "Scored ", "Logging to")) or "execution finished" in line:
                print("  job:", line.strip()[-160:])
        shipped = sorted((cluster.temp_dir / "session_latest" / "runtime_resources" / "working_dir_files").glob("_ray_pkg_*"))
        package = base / "shipped"
        if shipped:  # keep a copy of what the cluster received before the nodes (and their files) go
            shutil.copytree(shipped[0], package, symlinks=True)
        nodes = _dashboard_json(cluster, "/api/v0/nodes")["data"]["result"]["result"]
        yield Job(cluster, server, out, demo_root, completed, seconds, package if shipped else None, nodes)
    finally:
        cluster.stop()
        server.stop()
        shutil.rmtree(cluster.temp_dir, ignore_errors=True)


def test_job_succeeded(job):
    assert job.completed.returncode == 0, (job.completed.stdout[-6000:] + job.completed.stderr[-3000:]
                                           + job.cluster.log_tail())
    assert "succeeded" in job.completed.stdout + job.completed.stderr
    for name in ("summary.csv", "benchmark_results.csv", "scores/demo/psnr.parquet", "scores/demo/ssim.parquet"):
        assert (job.out / name).is_file(), name
    print(f"\nray job submit → succeeded in {job.seconds:.1f} s (2 nodes × 1 CPU, {LIMIT} images × {len(METRICS)} metrics)")


def test_working_dir_shipped_is_small_and_has_no_data(job):
    assert job.package is not None, "no working_dir package found in the head node's runtime resources"
    files = [p for p in job.package.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    names = {p.relative_to(job.package).as_posix() for p in files}
    # Every room of the package travels (an unanchored "results/" in .rayignore once dropped orchestrator/results).
    for module in ("jobs/benchmark.py", "orchestrator/run/actors.py", "orchestrator/results/store.py",
                   "orchestrator/stats/analysis.py", "datasets_io/decode.py", "metrics/spec.py"):
        assert module in names, module
    for excluded in (".venv/", ".git/", "results/", "datasets/", "tests/data/"):
        assert not any(n.startswith(excluded) for n in names), excluded
    assert size < 10 * 2**20, f"{size / 2**20:.1f} MiB shipped"
    print(f"\nworking_dir shipped: {len(files)} files, {size / 2**20:.2f} MiB")


def test_both_nodes_scored_images(job):
    cluster_nodes = {n["node_id"] for n in job.nodes if n["state"] == "ALIVE"}
    assert len(cluster_nodes) == 2
    used = set()
    for metric in METRICS:
        frame = job.frame(metric)
        assert len(frame) == LIMIT and frame["error"].isna().all()
        assert frame["node_id"].notna().all()
        used |= set(frame["node_id"])
        print(f"\n{metric}: images per node {frame['node_id'].str[:8].value_counts().to_dict()}")
    assert used == cluster_nodes


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float().div_(255.0)


def _local_scores(job, metric: str, options: dict) -> np.ndarray:
    import metrics

    model = metrics.create(metric, device="cpu", **options)
    frame = job.frame(metric)
    values = []
    with torch.inference_mode():
        for row in frame.itertuples():
            dist = read_image(job.demo_root / "dist" / row.dist_name)
            ref = read_image(job.demo_root / "ref" / row.ref_name)
            values.append(float(model(_tensor(dist), _tensor(ref))[0]))
    return np.array(values)


def test_scores_and_correlations_equal_a_local_run(job):
    from orchestrator.stats.correlation import correlations

    summary = pd.read_csv(job.out / "summary.csv").set_index("metric")
    for metric in METRICS:
        frame = job.frame(metric)
        local = _local_scores(job, metric, json.loads(summary.loc[metric, "options"]))
        np.testing.assert_allclose(frame["score"].to_numpy(), local, rtol=1e-6, atol=1e-9)
        reference = correlations(frame.assign(score=local))
        row = summary.loc[metric]
        assert row["n"] == reference.n == LIMIT and row["n_failed"] == 0
        for key in ("plcc", "srcc", "krcc"):
            assert row[key] == pytest.approx(getattr(reference, key), abs=1e-6), (metric, key)


def test_runs_read_back_from_the_tracking_server_over_http(job):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=job.server.url)
    experiment = client.get_experiment_by_name("iqabench")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("iqabench.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("iqabench.role") == "cell"]
    assert len(parents) == 1 and len(children) == len(METRICS)
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    summary = pd.read_csv(job.out / "summary.csv").set_index("metric")
    for child in children:
        metric = child.data.params["metric"]
        for key in ("plcc", "srcc", "krcc", "n"):
            assert child.data.metrics[key] == pytest.approx(float(summary.loc[metric, key]), rel=1e-9)
        # The per-image table went through the server's artifact proxy into its artifact root.
        local = Path(client.download_artifacts(child.info.run_id, f"scores/{metric}.parquet", str(job.out.parent)))
        pd.testing.assert_frame_equal(pd.read_parquet(local), job.frame(metric))
        assert list((job.server.data / "artifacts").rglob(f"{child.info.run_id}/**/{metric}.parquet"))
