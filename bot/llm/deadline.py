"""A hard deadline for each HTTP request of the LLM client, whatever the server does.

httpx2's timeouts bound each connect, read and write, not the request: a server that sends
one byte every few seconds keeps a call open forever, and the worker thread making it keeps
the interpreter alive after the digest is written. Here every socket operation of a request
gets at most the time left before that request's deadline, so the call ends by it.

The deadline is per thread (the sync client does its socket I/O in the calling thread):
`with request_deadline(t): client.chat.completions.create(...)`.
"""
from __future__ import annotations

import math
import ssl
import threading
import time
from contextlib import contextmanager
from typing import Iterable, Iterator

import httpcore2
import httpx2

_current = threading.local()


@contextmanager
def request_deadline(deadline: float) -> Iterator[None]:
    """Requests made by this thread inside the block end by `deadline` (time.monotonic())."""
    before = getattr(_current, "deadline", math.inf)
    _current.deadline = deadline
    try:
        yield
    finally:
        _current.deadline = before


def _cut(timeout: float | None, expired: type[Exception]) -> float | None:
    """The timeout of one socket operation, cut to the time left; `expired` once none is."""
    left = getattr(_current, "deadline", math.inf) - time.monotonic()
    if left == math.inf:
        return timeout
    if left <= 0:
        raise expired("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cut(timeout, httpcore2.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cut(timeout, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore2.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _cut(timeout, httpcore2.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore2.NetworkBackend):
    def __init__(self):
        self._inner = httpcore2.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable | None = None) -> httpcore2.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(host, port, _cut(timeout, httpcore2.ConnectTimeout),
                                                       local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable | None = None) -> httpcore2.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _cut(timeout, httpcore2.ConnectTimeout),
                                                               socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx2.HTTPTransport):
    """httpx2's transport (TLS, keep-alive, httpx2's default connection limits: the scorer
    opens a handful at a time), with its connection pool on sockets that honour
    `request_deadline`."""

    def __init__(self, limits: httpx2.Limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20),
                 verify: ssl.SSLContext | bool = True):
        super().__init__(verify=verify, limits=limits)
        self._pool = httpcore2.ConnectionPool(
            ssl_context=httpx2.create_ssl_context(verify=verify), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=_DeadlineBackend())


def deadline_http_client(timeout: float) -> httpx2.Client:
    """The openai client's default HTTP client (redirects, proxies from the environment)
    whose direct connections honour `request_deadline`."""
    import openai

    return openai.DefaultHttpx2Client(timeout=timeout, transport=DeadlineTransport())
