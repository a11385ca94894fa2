"""The watchdog of a local Ray cluster started by :func:`orchestrator.run.ray_session.start_ray` (stdlib only).

Run as a script (``python ray_watchdog.py TEMP_DIR -- ray start --head --block ...``) by the driver, with a pipe on its
standard input. It makes itself the child subreaper of everything it starts (Linux ``PR_SET_CHILD_SUBREAPER``:
Ray processes that daemonise or whose parent dies are re-parented to the watchdog, not to init), starts ``ray
start --block`` in its own session, and reads its standard input until end of file. End of file comes when the
driver closes the pipe (a clean shutdown) or when the driver dies in any way, ``kill -9`` included, because the
kernel closes a dead process's descriptors. Then it stops the cluster: SIGTERM to every process descending from
the watchdog but ``ray start`` itself, and after a grace period SIGKILL to every one still there.
The watchdog exits once none is left, so a driver that waits for it knows the cluster is gone. The cluster's
``TEMP_DIR`` (logs, sockets; ``ray start``'s output is ``TEMP_DIR/ray-start.log``) is removed then, except when
the cluster died on its own: the driver reads the log to say why, and removes the folder itself.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36
#: Seconds the cluster's processes get to exit on SIGTERM before the survivors are killed (as `ray.shutdown()`
#: gives its own; a gcs_server or raylet that drains takes longer, and no driver is left to drain for).
GRACE_S = 1.0
#: Seconds to keep killing and reaping before giving up (a process in uninterruptible sleep, say).
KILL_S = 20.0


def _become_subreaper() -> None:
    """Adopt orphaned descendants (Linux); elsewhere only the process group is cleaned up."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        print(f"ray_watchdog: prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(err)}", file=sys.stderr)


def descendants(root: int) -> list[int]:
    """Process ids below ``root`` in the process tree, read from ``/proc`` (empty where there is none)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except FileNotFoundError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # exited while we looked
        if fields[0] == "Z":
            continue  # a zombie is already dead; reaping removes it
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _reap() -> None:
    """Collect every exited child (adopted ones included) so that none lingers as a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop(head: subprocess.Popen) -> None:
    """SIGTERM to every process of the cluster, SIGKILL to what is left after a grace period, until none is left.

    ``ray start --block`` itself is not asked to stop: on SIGTERM it drains the node for up to 30 s, which a
    cluster whose only driver is gone does not need. Neither do its raylet and GCS, which also drain on SIGTERM: they get a second, as under ``ray.shutdown()``.
    """
    me = os.getpid()
    _signal([pid for pid in descendants(me) if pid != head.pid], signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        _reap()
        if not [pid for pid in descendants(me) if pid != head.pid]:
            break
        time.sleep(0.05)
    try:
        os.killpg(head.pid, signal.SIGKILL)  # the whole group at once; without /proc, the only way to reach it
    except ProcessLookupError:
        pass
    give_up = time.monotonic() + KILL_S
    while time.monotonic() < give_up:
        _reap()
        left = descendants(me)
        if not left:
            return
        _signal(left, signal.SIGKILL)
        time.sleep(0.05)
    print(f"ray_watchdog: processes {descendants(me)} survived SIGKILL", file=sys.stderr)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: ray_watchdog.py TEMP_DIR -- COMMAND...", file=sys.stderr)
        return 2
    temp_dir, command = argv[0], argv[2:]
    log_path = os.path.join(temp_dir, "ray-start.log")
    _become_subreaper()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only end of file on stdin (the driver's death) stops us
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the driver, which then closes the pipe
    with open(log_path, "ab") as log:
        head = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    closed = threading.Event()

    def read_until_eof() -> None:
        while os.read(sys.stdin.fileno(), 4096):
            pass
        closed.set()

    threading.Thread(target=read_until_eof, daemon=True).start()
    while not closed.wait(1.0):
        if head.poll() is not None:
            break  # ray start failed or its cluster died: clean up what is left and say so
        _reap()
    stop(head)
    if not closed.is_set():
        return 1  # the cluster died first: its log stays for the driver
    shutil.rmtree(temp_dir, onerror=_report_rmtree_error)
    return 0


def _report_rmtree_error(function: object, path: str, exc_info: object) -> None:
    print(f"ray_watchdog: could not remove {path}: {exc_info}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
