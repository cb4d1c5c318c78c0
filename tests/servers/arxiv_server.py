"""A tiny stand-in for rss.arxiv.org on 127.0.0.1, for the fetch tests.

Each path answers a script of replies, one per request, in order; the last reply repeats.
Every request is recorded (path and headers) so a test can check what was asked and how
often. Unknown paths answer 404 like a real server would.

    with ArxivServer() as srv:
        srv.script("/rss/cs.LG+cs.AI", Reply(429, b"", {"Retry-After": "7"}), Reply(200, body))
        PoliteSession(...).get(srv.url + "/rss/cs.LG+cs.AI")
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to trip a client timeout)
    content_type: str = "application/rss+xml; charset=utf-8"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class ArxivServer:
    def __init__(self) -> None:
        self._scripts: dict[str, list[Reply]] = {}
        self._served: dict[str, int] = {}
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0  # most requests being answered at once (arXiv allows one)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                reply = server._next(self.path, dict(self.headers))
                try:
                    if reply.delay:
                        time.sleep(reply.delay)
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                finally:
                    # Counted done before the body goes out: once the client has the body it
                    # may send its next request before this thread gets to run again.
                    with server._lock:
                        server.in_flight -= 1
                try:
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test): nothing to answer

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[path] = list(replies)
            self._served[path] = 0

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def _next(self, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(Seen(path, headers))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            replies = self._scripts.get(path)
            if not replies:
                return Reply(404, b"<html><body>Not Found</body></html>", content_type="text/html")
            n = self._served[path]
            self._served[path] = n + 1
            return replies[min(n, len(replies) - 1)]

    def __enter__(self) -> "ArxivServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
