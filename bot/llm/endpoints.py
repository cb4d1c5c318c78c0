"""What an LLM endpoint is and what it honours, found out once and remembered.

Servers that speak the OpenAI chat API differ where it matters to the scorer:
  - the output limit: OpenAI's reasoning models reject `max_tokens` and want
    `max_completion_tokens`; llama-cpp-python and Ollama ignore `max_completion_tokens`
    (a cap of 20 came back as 1,634 tokens), llama.cpp's server honours it only in recent
    builds: each kind gets the field it honours.
  - the schema in json_object mode: llama.cpp and llama-cpp-python turn
    `response_format.schema` into a grammar, so the reply schema narrowed to the call's ids
    and count goes with it; OpenAI gets the same static schema every call (its schema and
    prompt caches stay warm) and no `schema` inside json_object.
  - the context window: llama.cpp's server says it in GET /props, vLLM in GET /v1/models
    (`max_model_len`), Ollama in POST /api/show and GET /api/ps; llama-cpp-python only names
    it when a request is too long.
  - how long a call may take: a CPU server took 118 s for one 20-paper call.

`identify` asks the server (a few seconds at most, never fatal); the table `llm_endpoints`
(this module is its home) keeps the answer per endpoint and model, with what later calls
learnt (json_schema refused, the other limit field, the context a too-long answer named),
so a later run neither re-probes a refused format nor re-identifies the server, until the
row is a week old (a server may be upgraded or replaced behind the same URL).
"""
from __future__ import annotations

import copy
import logging
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

from ..db import now
from .replies import REPLY_SCHEMA

log = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"  # the client's default base_url
# Seconds one try may take when no timeout is set. Unknown servers ("other") get the
# self-hosted figure: a timeout too short fails every call, one too long only waits on a
# hung server, and the run's time limit bounds that.
KIND_TIMEOUTS = {"openai": 60.0, "llama.cpp": 600.0, "vllm": 600.0, "ollama": 600.0, "other": 600.0}
LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")
KIND_LIMIT_FIELD = {"openai": "max_completion_tokens", "llama.cpp": "max_tokens", "vllm": "max_tokens",
                    "ollama": "max_tokens", "other": "max_tokens"}
PROBE_SECONDS = 5.0  # for the whole identification, all its requests together
REIDENTIFY_AFTER = timedelta(days=7)
# Ollama's OpenAI endpoint cannot set num_ctx per request and silently drops what does not
# fit (no error comes back), so an unknown context must be assumed small: Ollama's default
# before it began choosing by VRAM (older releases used 2048, newer ones 4k to 256k).
OLLAMA_DEFAULT_CONTEXT = 4096
MAX_CONTEXT = 100_000_000  # anything larger in a reply is garbage, not a context size

_WRITE_LOCK = threading.Lock()  # the scorer's worker threads share one connection


@dataclass
class Endpoint:
    """What is known of one model behind one base_url."""
    kind: str  # openai | llama.cpp | vllm | ollama | other
    context_tokens: int | None = None  # the server's context window, if it said
    response_format: str = ""  # "json_object" once json_schema was refused; "json_schema" once it worked
    limit_field: str = ""  # the output-limit field the server honours ("" = the kind's)
    schema_in_json_object: bool = True  # False once the server refused a schema inside json_object
    identified_at: str = ""
    answered: bool = True  # False: no probe got an HTTP answer (not worth remembering)

    @property
    def output_limit_field(self) -> str:
        return self.limit_field or KIND_LIMIT_FIELD.get(self.kind, "max_tokens")


# ---- which server -------------------------------------------------------------------------

def endpoint_url(base_url: str | None) -> str:
    """The base_url as stored: the client's default when none is set, no trailing slash."""
    return (base_url or OPENAI_URL).rstrip("/")


def shown_url(base_url: str | None) -> str:
    """The base_url as logged and stored: without a user, password or query (they may carry a
    key, and secrets are never logged or stored)."""
    parts = urlparse(endpoint_url(base_url))
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=netloc, query="", fragment="").geturl().rstrip("/")


def server_root(base_url: str) -> str:
    """Where a server's own routes live (/props, /api/show): the base_url without /v1."""
    url = base_url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def known_kind(base_url: str | None) -> str | None:
    """The kind a base_url names by itself: none or api.openai.com is OpenAI."""
    if not base_url:
        return "openai"
    host = (urlparse(base_url).hostname or "").lower()
    return "openai" if host == "api.openai.com" else None


def identify(base_url: str | None, model: str, api_key: str | None = None, kind: str = "auto",
             seconds: float = PROBE_SECONDS, http=None) -> Endpoint:
    """The endpoint's kind (when `kind` is "auto") and context window, asked of the server in
    at most `seconds` (with `http`, an httpx2 client whose connections honour
    bot.llm.deadline, else a new one); whatever fails or does not answer is simply unknown."""
    named = known_kind(base_url) if kind == "auto" else kind
    if named in ("openai", "other"):
        return Endpoint(named, identified_at=now())
    from .deadline import deadline_http_client, request_deadline

    client = http or deadline_http_client(seconds)
    probe = _Probe(client, endpoint_url(base_url), api_key, seconds)
    try:
        with request_deadline(probe.deadline):
            found = _ask(probe, model, named)
    finally:
        if http is None:
            client.close()
    found.identified_at, found.answered = now(), probe.answered
    log.debug("LLM endpoint %s: %s, context %s", shown_url(base_url), found.kind, found.context_tokens or "unknown")
    return found


def _ask(probe: "_Probe", model: str, kind: str | None) -> Endpoint:
    """The probes for `kind` (None: find it out too), cheapest and most telling first."""
    listed = _listed_model(probe.get(f"{probe.base_url}/models"), model) if kind in (None, "vllm", "llama.cpp") else {}
    if kind in (None, "vllm") and (listed.get("owned_by") == "vllm" or "max_model_len" in listed):
        return Endpoint("vllm", _tokens(listed.get("max_model_len")))
    if kind in (None, "llama.cpp"):
        n_ctx = _props_n_ctx(probe.get(f"{probe.root}/props"))
        # llama-cpp-python (owned_by "me") has no /props: its context is named only when a
        # request does not fit.
        if n_ctx or kind or listed.get("owned_by") in ("me", "llamacpp"):
            # llama-cpp-python (no /props, owned_by "me") answers HTTP 500 to json_schema and
            # turns the schema inside json_object into a grammar: start there.
            python_server = not n_ctx and listed.get("owned_by") == "me"
            return Endpoint("llama.cpp", n_ctx, response_format="json_object" if python_server else "")
    if kind == "ollama" or (kind is None and _is_ollama_version(probe.get(f"{probe.root}/api/version"))):
        return Endpoint("ollama", _ollama_context(probe, model))
    return Endpoint(kind or "other")


def _is_ollama_version(body) -> bool:
    return isinstance(body, dict) and isinstance(body.get("version"), str)


def _listed_model(body, model: str) -> dict:
    """The /v1/models entry for `model` (or the only one listed)."""
    data = body.get("data") if isinstance(body, dict) else None
    entries = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
    for entry in entries:
        if entry.get("id") == model:
            return entry
    return entries[0] if len(entries) == 1 else {}


def _props_n_ctx(body) -> int | None:
    """llama.cpp's /props: the slot's n_ctx (the context a request gets, per parallel slot)."""
    if not isinstance(body, dict):
        return None
    settings = body.get("default_generation_settings")
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    return _tokens(n_ctx) or _tokens(body.get("n_ctx"))


def _ollama_context(probe: "_Probe", model: str) -> int:
    """The context Ollama runs `model` with: the Modelfile's num_ctx; else what the loaded
    model has (/api/ps, newer Ollama); else OLLAMA_CONTEXT_LENGTH when set here and the server
    is on this machine; else Ollama's small default. Never above what the model was trained for."""
    shown = probe.post(f"{probe.root}/api/show", {"model": model})
    shown = shown if isinstance(shown, dict) else {}
    trained = _trained_context(shown.get("model_info"))
    chosen = (_num_ctx(shown.get("parameters")) or _loaded_context(probe.get(f"{probe.root}/api/ps"), model)
              or _local_env_context(probe.root) or OLLAMA_DEFAULT_CONTEXT)
    return min(chosen, trained) if trained else chosen


def _trained_context(info) -> int | None:
    if not isinstance(info, dict):
        return None
    arch = info.get("general.architecture")
    return _tokens(info.get(f"{arch}.context_length")) if isinstance(arch, str) else None


def _num_ctx(parameters) -> int | None:
    found = re.search(r"^\s*num_ctx\s+(\d+)\s*$", parameters, re.M) if isinstance(parameters, str) else None
    return _tokens(int(found.group(1))) if found else None


def _loaded_context(body, model: str) -> int | None:
    models = body.get("models") if isinstance(body, dict) else None
    for entry in models if isinstance(models, list) else []:
        if isinstance(entry, dict) and model in (entry.get("name"), entry.get("model")):
            return _tokens(entry.get("context_length"))
    return None


def _local_env_context(root: str) -> int | None:
    host = (urlparse(root).hostname or "").lower()
    if host not in ("localhost", "127.0.0.1", "::1"):
        return None  # another machine's `ollama serve` has its own environment
    value = os.environ.get("OLLAMA_CONTEXT_LENGTH", "").strip()
    return _tokens(int(value)) if value.isdigit() else None


def _tokens(value) -> int | None:
    """A context size from a reply: a whole positive number of sane size, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_CONTEXT else None


class _Probe:
    """GET/POST JSON within one overall deadline; any failure is None."""

    def __init__(self, client, base_url: str, api_key: str | None, seconds: float):
        self.client = client
        self.base_url, self.root = base_url, server_root(base_url)
        self.deadline = time.monotonic() + seconds
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.answered = False  # some request got an HTTP answer: the server is there

    def get(self, url: str):
        return self._json("GET", url)

    def post(self, url: str, body: dict):
        return self._json("POST", url, body)

    def _json(self, method: str, url: str, body: dict | None = None):
        left = self.deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            resp = self.client.request(method, url, json=body, headers=self.headers, timeout=left)
        except Exception as exc:  # refused, timed out, TLS: the answer is just unknown
            log.debug("LLM endpoint probe %s %s: %s", method, url, exc)
            return None
        self.answered = True
        if resp.status_code != 200:
            return None
        try:
            return resp.json()
        except ValueError:
            return None


# ---- what a call sends --------------------------------------------------------------------

# A comment is one line (the prompt asks for at most 12 words): the grammar stops a model that
# rambles before it spends the batch's output cap on one comment.
GRAMMAR_COMMENT_CHARS = 120


def call_schema(ids: list[str] | None) -> dict:
    """The reply schema for one call, for a server that turns it into a grammar: one [i, r, n]
    per paper, in order, each naming its paper's number as a constant (an enum of numbers let
    SmolLM2 answer one paper twice and leave another out), scores as the enum 1..10
    (llama-cpp-python's grammar ignores minimum/maximum; SmolLM2 wrote novelty 27), and
    comments, flags and screened numbers drawn from the call's papers, comments cut to a line.
    Static without ids."""
    if not ids:
        return REPLY_SCHEMA
    schema = copy.deepcopy(REPLY_SCHEMA)
    n = len(dict.fromkeys(ids))
    numbers = {"type": "integer", "enum": list(range(1, n + 1))}
    score = {"type": "integer", "enum": list(range(1, 11))}
    props = schema["properties"]
    props["scores"] = {"type": "array", "minItems": n, "maxItems": n,
                       "prefixItems": [{"type": "array", "prefixItems": [{"const": i}, score, score],
                                        "minItems": 3, "maxItems": 3} for i in range(1, n + 1)]}
    comment = props["comments"]["items"]
    comment["properties"]["i"] = numbers
    comment["properties"]["c"] = {"type": "string", "maxLength": GRAMMAR_COMMENT_CHARS}
    props["comments"]["maxItems"] = n
    props["flagged"]["items"] = props["read"]["items"] = numbers
    props["flagged"]["maxItems"] = props["read"]["maxItems"] = n
    return schema


def response_format(kind: str, fmt: str, ids: list[str] | None = None, schema_in_json_object: bool = True) -> dict:
    """The response_format of a call in format `fmt` to a server of `kind`."""
    if kind == "openai":
        if fmt == "json_schema":
            return _json_schema_format(REPLY_SCHEMA)
        return {"type": "json_object"}  # OpenAI takes no schema there
    schema = call_schema(ids)
    if fmt == "json_schema":
        return _json_schema_format(schema)
    if not schema_in_json_object:
        return {"type": "json_object"}
    return {"type": "json_object", "schema": schema}


def _json_schema_format(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "paper_scores", "strict": True, "schema": schema}}


# ---- a request too long for the context -----------------------------------------------------

_CONTEXT_NAMED = (
    re.compile(r"maximum context length is (\d+) tokens", re.I),  # OpenAI, vLLM, llama-cpp-python's server
    re.compile(r"exceeds? (?:the )?context window of (\d+)", re.I),  # llama-cpp-python's Llama
    re.compile(r"exceeds the available context size \((\d+) tokens\)", re.I),  # llama.cpp, newer builds
)
_TOO_LONG = re.compile(r"context_length_exceeded|exceeds? the available context size|exceeds? (?:the )?context "
                       r"window|maximum context length|exceed_context_size|input (?:is )?too long|prompt is too long",
                       re.I)


def too_long_answer(message: str, body) -> tuple[bool, int | None]:
    """Whether an error answer says the request does not fit the context, and the context
    size it names (None if it names none)."""
    fields = body if isinstance(body, dict) else {}
    marked = fields.get("code") == "context_length_exceeded" or fields.get("type") == "exceed_context_size_error"
    # The client's message may hold only "Error code: 400": the body says it (a bare string, "detail").
    message = " ".join([message] + [str(v) for v in (body if isinstance(body, dict) else {"": body}).values()
                                    if isinstance(v, str)])
    if not (marked or _TOO_LONG.search(message)):
        return False, None
    named = _tokens(fields.get("n_ctx"))
    for pattern in _CONTEXT_NAMED:
        found = pattern.search(message)
        if named is None and found:
            named = _tokens(int(found.group(1)))
    return True, named


def refused_limit_field(message: str, body, sent: str) -> bool:
    """Whether an error answer refuses the output-limit field `sent` ("Unsupported parameter:
    'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.")."""
    fields = body if isinstance(body, dict) else {}
    if fields.get("param") == sent and fields.get("code") in ("unsupported_parameter", "invalid_request_error"):
        return True
    return bool(re.search(rf"\b{sent}\b", message)) and bool(
        re.search(r"unsupported|not supported|unrecognized|unknown|not permitted|not allowed|extra (?:inputs|fields)",
                  message, re.I))


def other_limit_field(field: str) -> str:
    return LIMIT_FIELDS[1 - LIMIT_FIELDS.index(field)]


# ---- memory ---------------------------------------------------------------------------------

def recall(db, base_url: str | None, model: str) -> Endpoint | None:
    """What was stored for this endpoint and model, unless it is old enough to ask again."""
    if db is None or "llm_endpoints" not in db.table_names():
        return None
    rows = list(db.query("select * from llm_endpoints where base_url = ? and model = ?",
                         [shown_url(base_url), model]))
    if not rows or _older_than(rows[0]["identified_at"], REIDENTIFY_AFTER):
        return None
    row = rows[0]
    return Endpoint(row["kind"], _tokens(row["context_tokens"]), row["response_format"] or "",
                    row["limit_field"] or "", row["json_object_schema"] != 0, row["identified_at"])


def remember(db, base_url: str | None, model: str, endpoint: Endpoint) -> None:
    """Store what is known of this endpoint and model (one row, replaced)."""
    if db is None:
        return
    row = {"base_url": shown_url(base_url), "model": model, "kind": endpoint.kind,
           "response_format": endpoint.response_format, "limit_field": endpoint.limit_field,
           "json_object_schema": int(endpoint.schema_in_json_object),
           "context_tokens": endpoint.context_tokens, "identified_at": endpoint.identified_at or now(),
           "updated_at": now()}
    try:
        with _WRITE_LOCK:
            db["llm_endpoints"].upsert(row, pk=("base_url", "model"))
    except sqlite3.Error as exc:  # a memory only: the call it came from goes on
        log.warning("could not store what the LLM endpoint %s is (%s)", row["base_url"], exc)


def _older_than(stamp: str | None, age: timedelta) -> bool:
    try:
        when = datetime.fromisoformat(stamp or "")
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - when > age
