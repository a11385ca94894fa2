"""A fake Hugging Face hub on 127.0.0.1 for download tests: the endpoints ``hf_hub_download`` uses.

``HEAD``/``GET /datasets/<owner>/<repo>/resolve/<revision>/<path>`` (dataset repos; ``FakeHub(kind="model")``
serves model repos at ``/<owner>/<repo>/resolve/...``) answer with the headers the hub sends
(``X-Repo-Commit``, ``ETag``, ``Content-Length``) and honour ``Range`` for resumed downloads; unknown files
get 404 with ``X-Error-Code: EntryNotFound``. Every request is logged in ``requests``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = r"^/{prefix}(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"
_PREFIX = {"dataset": "datasets/", "model": ""}


class FakeHub:
    def __init__(self, kind: str = "dataset") -> None:
        self.resolve = re.compile(_RESOLVE.format(prefix=_PREFIX[kind]))
        self.files: dict[tuple[str, str], bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo: str, path: str, data: bytes) -> None:
        self.files[(repo, path)] = data

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                match = hub.resolve.match(unquote(self.path.split("?")[0]))
                data = hub.files.get((match["repo"], match["path"])) if match else None
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Error-Message", "Entry not found")
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = hashlib.sha256(data).hexdigest()
                start = 0
                rng = self.headers.get("Range")
                if body and rng and (m := re.match(r"bytes=(\d+)-$", rng.strip())):
                    start = int(m.group(1))
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{etag}"')
                self.send_header("Accept-Ranges", "bytes")
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data[start:])

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

        return Handler


def FakeModelHub() -> FakeHub:  # noqa: N802 - reads like the class it builds
    """The fake hub serving model repos (``/<owner>/<repo>/resolve/<revision>/<path>``)."""
    return FakeHub(kind="model")


def isolate_for_downloads(monkeypatch, tmp_path) -> None:
    """A run that downloads from a :class:`FakeHub`: its own iqabench and Hugging Face homes under ``tmp_path``,
    MLflow under its ``--out``, no progress bars, no proxy for the local hub, and the hub online (``HF_ENDPOINT``
    is set by the caller once the hub is up)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("IQABENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
