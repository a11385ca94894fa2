"""Ray for one job: connect to a cluster or start a private local one, quietly, and leave nothing behind.

:func:`start_ray` connects to ``address`` (or ``RAY_ADDRESS``); without one it starts a local cluster that is the
job's own: a fresh temporary directory and free ports on 127.0.0.1 (it cannot collide with another cluster on the
machine), and a watchdog (:mod:`orchestrator.run.ray_watchdog`) that stops every process of that cluster when the
driver closes its pipe, at a normal exit or when the driver is killed (``kill -9`` included).

Quiet unless ``verbose``: Ray's own INFO lines, the workers' output on the driver's console and Ray Data's
progress bars are off (:func:`ray_settings` says exactly what is set). :func:`cluster_resources` reads what the
cluster offers, for the placement.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from orchestrator.run import ray_watchdog

log = logging.getLogger(__name__)

#: Seconds a local cluster gets to come up (a loaded machine can take tens of seconds).
START_TIMEOUT_S = 180.0
#: Ray options that size a new local cluster; anything else in ``init_kwargs`` goes to ``ray.init``.
_START_OPTIONS = {"num_cpus", "num_gpus", "object_store_memory", "resources", "include_dashboard"}
#: Ray's file that names a running cluster's GCS address, written once the head node is up.
_ADDRESS_FILE = "ray_current_cluster"


@dataclass(frozen=True)
class RaySettings:
    """How Ray is made quiet (or not): ``ray.init`` arguments, environment defaults and Ray Data switches."""

    logging_level: int
    log_to_driver: bool
    #: Set with ``os.environ.setdefault`` (a value the user exported wins); inherited by a local cluster.
    env: dict[str, str] = field(default_factory=dict)
    data_progress_bars: bool = False


def ray_settings(verbose: bool) -> RaySettings:
    """Quiet by default: WARNING and up from Ray, no worker output on the console, no Ray Data progress bars;
    ``verbose`` turns all of them back on (with Ray's deduplication of repeated worker lines)."""
    if verbose:
        return RaySettings(logging.INFO, True, {"RAY_DEDUP_LOGS": "1"}, data_progress_bars=True)
    return RaySettings(
        logging.WARNING, False,
        {"RAY_DATA_DISABLE_PROGRESS_BARS": "1", "RAY_DATA_LOG_LEVEL": "WARNING", "RAY_DEDUP_LOGS": "1",
         "RAY_USAGE_STATS_ENABLED": "0"},
        data_progress_bars=False,
    )


def logging_is_verbose() -> bool:
    """Whether iqabench's loggers are at DEBUG (the jobs' ``-v``): the ``verbose`` a driver passes to
    :func:`start_ray` when it has no flag of its own."""
    return log.isEnabledFor(logging.DEBUG)


def _apply_data_settings(settings: RaySettings) -> None:
    """Ray Data reads its environment on import; when it is already imported, set its context and console."""
    if "ray.data" not in sys.modules:
        return
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = settings.data_progress_bars
    context.print_on_execution_start = settings.data_progress_bars
    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.INFO if settings.data_progress_bars else logging.WARNING)


def quiet_environment(verbose: bool) -> RaySettings:
    """Apply the environment defaults and Ray Data switches of :func:`ray_settings` now (``start_ray`` does this
    itself; a job calls it early so that a Ray or Ray Data imported before ``start_ray`` is quiet too)."""
    settings = ray_settings(verbose)
    for name, value in settings.env.items():
        os.environ.setdefault(name, value)
    _apply_data_settings(settings)
    if not settings.data_progress_bars:
        from ray.util.debug import log_once

        # Ray Data warns once per process that its progress bars are off ("To enable, set ..."): they are off
        # on purpose here, and -v turns them on. Taking Ray's own once-only key leaves that line out.
        log_once("ray_data_progress_manager_disabled")
    return settings


@dataclass(frozen=True)
class ClusterResources:
    """What the Ray cluster offers: totals and the GPUs of each live node."""

    cpus: float
    gpus: float
    memory_bytes: float | None
    gpus_per_node: tuple[float, ...]


def cluster_resources() -> ClusterResources:
    """The connected Ray cluster's CPUs, GPUs, memory (bytes; ``None`` when Ray reports none) and GPUs per node."""
    import ray

    totals = ray.cluster_resources()
    per_node = tuple(float(n["Resources"].get("GPU", 0.0)) for n in ray.nodes() if n.get("Alive"))
    memory = totals.get("memory")
    return ClusterResources(float(totals.get("CPU", 0.0)), float(totals.get("GPU", 0.0)),
                            float(memory) if memory is not None else None, per_node)


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 now (held together while chosen, so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _start_command(temp_dir: Path, start_options: dict[str, Any]) -> list[str]:
    """``ray start --head --block`` on ports free now (all distinct), in ``temp_dir``, sized by ``start_options``."""
    import json

    port, client, agent_http, agent_grpc, runtime_env, metrics, node_manager, object_manager, dashboard = free_ports(9)
    command = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--disable-usage-stats",
        "--node-ip-address=127.0.0.1", f"--port={port}", f"--ray-client-server-port={client}",
        f"--dashboard-agent-listen-port={agent_http}", f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={runtime_env}", f"--metrics-export-port={metrics}",
        f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}", f"--temp-dir={temp_dir}",
        f"--include-dashboard={bool(start_options.get('include_dashboard', False))}", f"--dashboard-port={dashboard}",
    ]
    for name in ("num_cpus", "num_gpus", "object_store_memory"):
        if start_options.get(name) is not None:
            command.append(f"--{name.replace('_', '-')}={start_options[name]}")
    if start_options.get("resources"):
        command.append(f"--resources={json.dumps(start_options['resources'])}")
    return command


def _token_auth_by_default() -> None:
    """Token authentication for the private cluster, as a plain local ``ray.init()`` has it since Ray 2.5x,
    unless the user chose a mode (``RAY_AUTH_MODE``). The cluster inherits the variable; the driver, which read
    its mode when Ray was imported, refreshes its configuration the way Ray's own ``ray.init()`` does."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    from ray._raylet import Config

    os.environ["RAY_AUTH_MODE"] = "token"
    Config.initialize("")


class LocalCluster:
    """A private local Ray head node under a watchdog; :meth:`stop` (or the driver's death) ends all of it."""

    def __init__(self, start_options: dict[str, Any]) -> None:
        # Ray's socket paths must stay short (AF_UNIX limit), so the directory is made in /tmp where it exists.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="iqabench-ray-", dir="/tmp" if os.path.isdir("/tmp") else None))
        self.log_path = self.temp_dir / "ray-start.log"
        read_end, self._write_end = os.pipe()  # the watchdog reads until EOF: our exit or death closes it
        try:
            self.watchdog = subprocess.Popen(
                [sys.executable, ray_watchdog.__file__, str(self.temp_dir), "--",
                 *_start_command(self.temp_dir, start_options)],
                stdin=read_end, start_new_session=True,
            )
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)

    def wait_until_up(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """The head node's address, once it has written it; raise with the start log if it does not."""
        deadline = time.monotonic() + timeout_s
        address_file = self.temp_dir / _ADDRESS_FILE
        while not (address_file.is_file() and address_file.read_text(encoding="utf-8").strip()):
            if self.watchdog.poll() is not None:
                raise RuntimeError(f"the local Ray cluster did not start: {self._log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local Ray cluster did not start in {timeout_s:.0f} s: {self._log_tail()}")
            time.sleep(0.05)
        return address_file.read_text(encoding="utf-8").strip()

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "no output"
        return " | ".join(lines[-8:]) or "no output"

    def stop(self) -> None:
        """Close the watchdog's pipe and wait until it has stopped the cluster and removed its directory."""
        os.close(self._write_end)
        limit = ray_watchdog.GRACE_S + ray_watchdog.KILL_S + 10.0
        try:
            self.watchdog.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            log.warning("The watchdog of the local Ray cluster in %s did not finish in %.0f s (pid %d)",
                        self.temp_dir, limit, self.watchdog.pid)
            return
        if self.temp_dir.exists():  # the cluster died on its own: the watchdog left its log for us
            shutil.rmtree(self.temp_dir, onerror=_warn_rmtree_error)


def _warn_rmtree_error(function: object, path: str, exc_info: object) -> None:
    log.warning("Could not remove %s: %s", path, exc_info[1] if isinstance(exc_info, tuple) else exc_info)


def _driver_options(init_kwargs: dict[str, Any], settings: RaySettings) -> dict[str, Any]:
    options = {"logging_level": settings.logging_level, "log_to_driver": settings.log_to_driver}
    options.update(init_kwargs)
    return options


@contextlib.contextmanager
def start_ray(address: str | None, *, verbose: bool = False, **init_kwargs: Any) -> Iterator[bool]:
    """Connect the driver to Ray for the ``with`` block; yields whether this call started the cluster.

    ``address`` (else ``RAY_ADDRESS``) names a running cluster; without one (or with ``"local"``) a private local
    cluster is started and, on exit, stopped with all its processes. ``init_kwargs`` go to ``ray.init``; the
    sizing ones (``num_cpus``, ``num_gpus``, ``object_store_memory``, ``resources``, ``include_dashboard``)
    size the local cluster instead (a running cluster keeps its own size: they are dropped). A driver already
    connected is left as it is (yields ``False``).
    """
    import ray

    if ray.is_initialized():
        yield False
        return
    settings = quiet_environment(verbose)
    address = address or os.environ.get("RAY_ADDRESS") or None
    # ray.init refuses sizing options when it connects to a running cluster
    start_options = {k: init_kwargs.pop(k) for k in list(init_kwargs) if k in _START_OPTIONS}
    if address and address != "local":
        log.info("Connecting to the Ray cluster at %s", address)
        ray.init(address=address, **_driver_options(init_kwargs, settings))
        try:
            yield False
        finally:
            ray.shutdown()
        return
    log.info("Starting a local Ray cluster")
    started = time.perf_counter()
    _token_auth_by_default()
    cluster = LocalCluster(start_options)
    try:
        cluster_address = cluster.wait_until_up()
        ray.init(address=cluster_address, **_driver_options(init_kwargs, settings))
        log.debug("Local Ray cluster at %s (%s) up in %.1f s", cluster_address, cluster.temp_dir,
                  time.perf_counter() - started)
        try:
            yield True
        finally:
            ray.shutdown()
    finally:
        cluster.stop()
