"""A small local Slack Socket Mode server for tests: real WebSockets on 127.0.0.1, standard
library only.

What it does, as Slack does it (https://docs.slack.dev/apis/events-api/using-socket-mode/):
the URL `apps.connections.open` hands out (`new_url()`, which the local Web API server in
slack_server.py calls) carries a one-time ticket; the RFC 6455 handshake answers
Sec-WebSocket-Accept; the first message is `{"type": "hello", ...}`; envelopes go out as
unmasked text frames and the client's acks (`{"envelope_id": ..., "payload": ...}`) come
back masked and are recorded with how long they took. Pings are answered with pongs, a
close frame with a close frame; `disconnect()` sends the `disconnect` message Slack sends
before it recycles a connection. Whatever breaks the protocol (an unmasked client frame, a
bad handshake, an ack for no envelope) is kept in `errors`.

    with SocketModeServer() as sm, SlackServer(socket_mode=sm) as slack:
        ... start the app with SLACK_API_URL=slack.api_url and an xapp- token ...
        sm.wait_connected()
        eid = sm.push("slash_commands", {"command": "/arxiv", "text": "help", ...})
        assert sm.wait_ack(eid).latency < 3
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
APP_ID = "A0APP"


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode("ascii")


def encode_frame(opcode: int, payload: bytes = b"", *, mask: bytes | None = None) -> bytes:
    """One final frame; servers send unmasked frames, clients masked ones (`mask`)."""
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += struct.pack("!BH", bit | 126, n)
    else:
        head += struct.pack("!BQ", bit | 127, n)
    if mask:
        payload = bytes(b ^ m for b, m in zip(payload, itertools.cycle(mask)))
        head += mask
    return head + payload


def _is_key(key: str) -> bool:
    """A Sec-WebSocket-Key is 16 random bytes in base64."""
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except ValueError:  # binascii.Error
        return False


class ProtocolError(Exception):
    def __init__(self, message: str, code: int = 1002):
        super().__init__(message)
        self.code = code


def read_frame(rfile) -> tuple[bool, int, bytes, bool]:
    """(fin, opcode, unmasked payload, was masked) of the next frame; EOFError at the end."""
    def exact(n: int) -> bytes:
        data = rfile.read(n)
        if len(data) < n:
            raise EOFError
        return data

    b1, b2 = exact(2)
    if b1 & 0x70:
        raise ProtocolError("reserved bits set without a negotiated extension")
    fin, opcode, masked, n = bool(b1 & 0x80), b1 & 0x0F, bool(b2 & 0x80), b2 & 0x7F
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exact(8))[0]
    mask = exact(4) if masked else b""
    payload = exact(n)
    if masked:
        payload = bytes(b ^ m for b, m in zip(payload, itertools.cycle(mask)))
    if opcode >= OP_CLOSE and (not fin or n > 125):
        raise ProtocolError("control frames are final and at most 125 bytes")
    return fin, opcode, payload, masked


@dataclass
class Ack:
    envelope_id: str
    payload: dict | None  # what the app answered in the ack (a slash command's reply), else None
    latency: float  # seconds from sending the envelope to receiving its ack
    connection: int


@dataclass
class Connection:
    """One client connection; `id` counts from 1 in the order the handshakes succeeded."""
    id: int
    sock: socket.socket
    path: str
    headers: dict[str, str]
    opened_at: float = field(default_factory=time.monotonic)
    pings: list[bytes] = field(default_factory=list)  # payloads of the client's pings
    pongs: list[bytes] = field(default_factory=list)  # payloads of the client's pongs
    close_code: int | None = None  # the code of the client's close frame, if it sent one
    closed: bool = False
    ended_by: str = ""  # "client close frame" | "eof" | "server" | "protocol error"
    _send_lock: threading.Lock = field(default_factory=threading.Lock)
    _close_sent: bool = False

    def send(self, opcode: int, payload: bytes = b"") -> None:
        with self._send_lock:
            if self._close_sent:
                raise ConnectionError(f"connection {self.id} is closing")
            if opcode == OP_CLOSE:
                self._close_sent = True
            self.sock.sendall(encode_frame(opcode, payload))

    def send_json(self, message: dict) -> None:
        self.send(OP_TEXT, json.dumps(message).encode("utf-8"))

    def ping(self, payload: bytes = b"") -> None:
        self.send(OP_PING, payload)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the reader ends the connection when the client leaves."""
        self.send(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8"))


class SocketModeServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, app_id: str = APP_ID):
        self.app_id = app_id
        self.cond = threading.Condition(threading.RLock())
        self.tickets: dict[str, bool] = {}  # ticket -> used
        self.connections: list[Connection] = []
        self.received: list[dict] = []  # every text message from clients, in order
        self.pushed: dict[str, tuple[dict, float, int]] = {}  # envelope id -> (envelope, sent at, connection)
        self.acks: dict[str, list[Ack]] = {}
        self.errors: list[str] = []
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.2)  # the accept loop checks for stop() this often
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- lifecycle -------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def new_url(self) -> str:
        """A fresh one-time WebSocket URL, shaped like Slack's wss://…/link/?ticket=…&app_id=…"""
        ticket = uuid.uuid4().hex
        with self.cond:
            self.tickets[ticket] = False
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    def start(self) -> "SocketModeServer":
        self._accepting = self._spawn(self._accept_loop, "socket-mode-accept")
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._accepting.join(timeout=5)  # no connection starts after this
        with self.cond:
            conns = list(self.connections)
        for conn in conns:
            with conn._send_lock:
                conn._close_sent = True
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader blocked on recv
            except OSError:
                pass
        for t in list(self._threads):
            t.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> "SocketModeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, target, name: str, *args) -> threading.Thread:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()
        return t

    # ---- talking to the app ----------------------------------------------------------
    def current(self) -> Connection:
        """The newest open connection (where Slack would send the next envelope)."""
        with self.cond:
            open_ = [c for c in self.connections if not c.closed]
        if not open_:
            raise AssertionError("no open Socket Mode connection")
        return open_[-1]

    def push(self, type_: str, payload: dict, *, accepts_response_payload: bool | None = None,
             connection: Connection | None = None, **extra) -> str:
        """Send an envelope (`slash_commands`, `interactive` or `events_api`); returns its id.
        `accepts_response_payload` defaults to what Slack sends for that kind of payload."""
        if accepts_response_payload is None:
            accepts_response_payload = type_ == "slash_commands" or (
                type_ == "interactive" and payload.get("type") in ("view_submission", "block_suggestion"))
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "payload": payload, "type": type_,
                    "accepts_response_payload": accepts_response_payload, **extra}
        if type_ == "events_api":
            envelope.setdefault("retry_attempt", 0)
            envelope.setdefault("retry_reason", "")
        conn = connection or self.current()
        with self.cond:
            self.pushed[envelope_id] = (envelope, time.monotonic(), conn.id)
        conn.send_json(envelope)
        return envelope_id

    def disconnect(self, reason: str = "refresh_requested", connection: Connection | None = None) -> None:
        """Slack's notice that it is about to recycle the connection: the client opens a new one."""
        (connection or self.current()).send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-local"}})

    # ---- waiting and inspection ------------------------------------------------------
    def wait_for(self, check: Callable[[], Any], timeout: float = 10.0, what: str = "it") -> Any:
        """Until `check()` (called under the lock) is truthy; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (got := check()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{what} did not happen within {timeout} s; errors: {self.errors}")
                self.cond.wait(left)
            return got

    def wait_connected(self, count: int = 1, timeout: float = 30.0) -> Connection:
        """The `count`-th connection, once its handshake is done and `hello` sent."""
        return self.wait_for(lambda: len(self.connections) >= count and self.connections[count - 1],
                             timeout, f"Socket Mode connection #{count}")

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> Ack:
        return self.wait_for(lambda: (self.acks.get(envelope_id) or [None])[0], timeout,
                             f"the ack of envelope {envelope_id}")

    def wait_pong(self, conn: Connection, payload: bytes, timeout: float = 10.0) -> None:
        self.wait_for(lambda: payload in conn.pongs, timeout, f"a pong from connection {conn.id}")

    def wait_closed(self, conn: Connection, timeout: float = 10.0) -> str:
        return self.wait_for(lambda: conn.closed and conn.ended_by, timeout, f"connection {conn.id} to end")

    # ---- the server side -------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(None)
            self._spawn(self._serve, "socket-mode-conn", sock)

    def _error(self, message: str) -> None:
        with self.cond:
            self.errors.append(message)
            self.cond.notify_all()

    def _handshake(self, sock: socket.socket, rfile) -> Connection | None:
        request_line = rfile.readline(8192).decode("latin-1").rstrip("\r\n")
        headers: dict[str, str] = {}
        while (line := rfile.readline(8192).decode("latin-1").rstrip("\r\n")):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        method, _, rest = request_line.partition(" ")
        path = rest.rsplit(" ", 1)[0]
        ticket = (parse_qs(urlparse(path).query).get("ticket") or [""])[0]
        key = headers.get("sec-websocket-key", "")
        with self.cond:
            known = self.tickets.get(ticket) is False
            if known:
                self.tickets[ticket] = True  # one connection per URL, as Slack's tickets
        problem = (
            "not a GET" if method != "GET" else
            "no Upgrade: websocket" if headers.get("upgrade", "").lower() != "websocket" else
            "no Connection: Upgrade" if "upgrade" not in headers.get("connection", "").lower() else
            "Sec-WebSocket-Version is not 13" if headers.get("sec-websocket-version") != "13" else
            "bad Sec-WebSocket-Key" if not _is_key(key) else
            "unknown or used ticket" if not known else None)
        if problem:
            self._error(f"handshake refused ({problem}): {request_line!r}")
            status = "401 Unauthorized" if problem.endswith("ticket") else "400 Bad Request"
            sock.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            return None
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n").encode("ascii"))
        with self.cond:
            conn = Connection(len(self.connections) + 1, sock, path, headers)
            open_now = 1 + sum(not c.closed for c in self.connections)
            conn.send_json({"type": "hello", "num_connections": open_now,
                            "debug_info": {"host": "applink-local", "build_number": 1,
                                           "approximate_connection_time": 18060},
                            "connection_info": {"app_id": self.app_id}})
            self.connections.append(conn)
            self.cond.notify_all()
        return conn

    def _serve(self, sock: socket.socket) -> None:
        conn = None
        rfile = sock.makefile("rb")
        try:
            conn = self._handshake(sock, rfile)
            if conn is not None:
                conn.ended_by = self._read_loop(conn, rfile)
        except (OSError, EOFError, ValueError) as exc:
            if conn is None and not self._stopped.is_set():
                self._error(f"handshake failed: {exc!r}")
        finally:
            with self.cond:
                if conn is not None:
                    conn.closed = True
                    conn.ended_by = conn.ended_by or ("server" if self._stopped.is_set() else "eof")
                self.cond.notify_all()
            rfile.close()
            sock.close()

    def _read_loop(self, conn: Connection, rfile) -> str:
        message, message_op = b"", None
        while True:
            try:
                fin, opcode, payload, masked = read_frame(rfile)
                if not masked:
                    raise ProtocolError("unmasked frame from the client (RFC 6455 5.1)")
            except ProtocolError as exc:
                self._error(f"connection {conn.id}: {exc}")
                try:
                    conn.close(exc.code, str(exc)[:100])
                except OSError:
                    pass
                return "protocol error"
            except (EOFError, OSError):
                return "server" if self._stopped.is_set() else "eof"
            if opcode in (OP_PING, OP_PONG):
                with self.cond:
                    (conn.pings if opcode == OP_PING else conn.pongs).append(payload)
                    self.cond.notify_all()
                if opcode == OP_PING:
                    try:
                        conn.send(OP_PONG, payload)
                    except OSError:  # closing
                        pass
            elif opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                with self.cond:
                    conn.close_code = code
                try:
                    conn.close(1000 if code == 1005 else code)  # echo it, unless we started it
                except OSError:
                    pass
                return "client close frame"
            elif opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                if opcode != OP_CONTINUATION:
                    message, message_op = b"", opcode
                message += payload
                if fin:
                    self._received(conn, message_op, message)
            else:
                self._error(f"connection {conn.id}: unknown opcode {opcode:#x}")

    def _received(self, conn: Connection, opcode: int | None, data: bytes) -> None:
        try:
            message = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self._error(f"connection {conn.id}: not JSON: {data[:200]!r}")
            return
        with self.cond:
            self.received.append(message)
            eid = message.get("envelope_id") if isinstance(message, dict) else None
            if opcode != OP_TEXT:
                self.errors.append(f"connection {conn.id}: a binary message")
            if eid is None:
                self.errors.append(f"connection {conn.id}: a message that is no ack: {message!r:.200}")
            elif eid not in self.pushed:
                self.errors.append(f"connection {conn.id}: ack for an envelope never sent: {eid}")
            else:
                _, sent_at, _ = self.pushed[eid]
                self.acks.setdefault(eid, []).append(
                    Ack(eid, message.get("payload"), time.monotonic() - sent_at, conn.id))
            self.cond.notify_all()
