"""Processes the scale-out tests start and stop themselves: a two-node Ray cluster and an MLflow server.

Everything binds to 127.0.0.1 on free ports, keeps its files under a private temporary folder and runs in its
own process group, which is what stopping kills (``ray stop`` would kill every Ray cluster on the machine).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: Per node: the tests move a few MiB of images; the default (30% of RAM) would reserve GiBs of shared memory.
OBJECT_STORE_BYTES = 200 * 2**20


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None,
              headers: dict[str, str] | None = None) -> None:
    """Wait until ``url`` answers 200 (or the process that should serve it exits)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s (last error: {last})")


def pids_using(marker: str) -> list[int]:
    """Processes of this user whose command line mentions ``marker`` (our private temp folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while we looked
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_groups(pgids: list[int], grace: float = 5.0) -> None:
    """SIGTERM these process groups together, then SIGKILL whatever is left of them after ``grace`` seconds."""
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_group_alive(g) for g in pgids):
        time.sleep(0.2)
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_group(pgid: int, grace: float = 5.0) -> None:
    kill_groups([pgid], grace)


@dataclass
class RayCluster:
    """A head node and worker nodes on this machine, started with ``ray start`` in their own process groups."""

    temp_dir: Path
    env: dict[str, str]
    gcs_address: str
    dashboard_url: str
    groups: list[int] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        kill_groups(self.groups)
        # Anything that left our process groups but still runs out of our temp folder: stop it by pid.
        for pid in pids_using(str(self.temp_dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in self.logs if p.exists())


def cluster_env(auth_token: str) -> dict[str, str]:
    """The environment for ``ray start`` and ``ray job submit``: token auth with a token of this cluster only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=auth_token,
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONUNBUFFERED="1",
    )
    return env


def _ray_start(args: list[str], env: dict[str, str], log: Path, timeout: float) -> int:
    """Run ``ray start`` (which returns once the node is up) in a new session; returns its process group id."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(BIN / "ray"), "start", *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=tempfile.gettempdir())
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid, grace=2)
            raise RuntimeError(f"ray start {' '.join(args)} did not finish in {timeout:.0f} s; see {log}") from None
    if code != 0:
        kill_group(proc.pid, grace=2)
        raise RuntimeError(f"ray start failed with code {code}:\n{log.read_text(errors='replace')[-3000:]}")
    return proc.pid


def start_cluster(cpus_per_node: tuple[int, ...] = (1, 1), timeout: float = 180.0) -> RayCluster:
    """Head node (dashboard on 127.0.0.1) plus one worker node per further entry of ``cpus_per_node``."""
    # Short path: Ray's unix sockets live under it and socket paths are limited to ~107 bytes.
    temp_dir = Path(tempfile.mkdtemp(prefix="iqs-ray-", dir="/tmp"))
    env = cluster_env(secrets.token_hex(24))
    port, dashboard = free_port(), free_port()
    cluster = RayCluster(temp_dir=temp_dir, env=env, gcs_address=f"127.0.0.1:{port}",
                         dashboard_url=f"http://127.0.0.1:{dashboard}")

    def node_ports() -> list[str]:
        return [
            "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port()),
        ]

    try:
        for index, cpus in enumerate(cpus_per_node):
            log = temp_dir / f"ray-start-{index}.log"
            cluster.logs.append(log)
            common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus), "--num-gpus", "0",
                      "--temp-dir", str(temp_dir), "--disable-usage-stats", *node_ports(),
                      "--object-store-memory", str(OBJECT_STORE_BYTES)]
            if index == 0:
                args = ["--head", "--port", str(port), "--include-dashboard", "true",
                        "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
                        "--ray-client-server-port", str(free_port()), *common]
            else:
                args = ["--address", cluster.gcs_address, *common]
            cluster.groups.append(_ray_start(args, env, log, timeout))
        wait_http(f"{cluster.dashboard_url}/api/version", timeout,
                  headers={"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"})
    except BaseException:
        cluster.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return cluster


@dataclass
class MlflowServer:
    url: str
    data: Path
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        kill_group(self.proc.pid)
        self.proc.wait(timeout=30)


def start_mlflow(data: Path, timeout: float = 90.0) -> MlflowServer:
    """``mlflow/serve.sh`` on a free loopback port with a SQLite store under ``data``."""
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    log = data / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_PORT=str(port), MLFLOW_DATA=str(data), MLFLOW_BIN=str(BIN / "mlflow"),
               MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", str(REPO / "mlflow" / "serve.sh")], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=data)
    server = MlflowServer(url=f"http://127.0.0.1:{port}", data=data, proc=proc, log=log)
    try:
        wait_http(f"{server.url}/health", timeout, proc)
    except BaseException:
        server.stop()
        raise RuntimeError(f"MLflow did not start:\n{log.read_text(errors='replace')[-3000:]}")
    return server
