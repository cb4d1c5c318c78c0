"""The chat call to an OpenAI(-compatible) server, through the real `openai` client.

Works with any base_url (OpenAI, Azure-style proxies, vLLM, llama.cpp, Ollama):
  - response format: a strict JSON schema where the server supports it; where it refuses
    one, `json_object` with the schema already in the prompt. In "auto" mode, before any
    schema call has worked, a refusal switches the run to json_object for good: a 400/422
    that names the format, or a 500 that comes back on a retry of the same request and goes
    away with json_object (llama.cpp). A lone 500 is retried like any other.
  - retries with back-off on 408/409/429/5xx, timeouts and connection errors, honouring
    Retry-After (seconds or an HTTP date, capped). The client's own retries are off so
    every attempt is seen, logged and recorded (a failed attempt may still be billed).
  - a 200 reply that is not a chat completion (a proxy's HTML page, `{"error": ...}`,
    no choices, a cut-off body) is a failed try like a 5xx.
  - a 4xx other than those (bad key, unknown model) is fatal: retrying cannot help.
  - a Retry-After longer than the time left before the deadline ends the call at once, and
    says so (`wait_asked`): no try can be made in time, for this call or any other.
  - a model's refusal (`content: null`, `refusal: ...`) is a reply: its text comes back.
  - a deadline (the scorer's time limit for the LLM phase) bounds every try and back-off,
    and `timeout` bounds a whole try, not each read: a server that trickles bytes cannot
    keep a call open (bot/llm/deadline.py).
  - per-try detail is logged at DEBUG only: the scorer reports a failed run in one line.
"""
from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from .replies import REPLY_SCHEMA
from .usage import CallRecord

log = logging.getLogger(__name__)
RETRYABLE_STATUS = {408, 409, 429}
RESPONSE_FORMATS = ("auto", "json_schema", "json_object")
# A 400/422 about the response format names it (OpenAI: "Invalid parameter: 'response_format'
# of type 'json_schema' is not supported with this model"; vLLM and proxies likewise).
SCHEMA_REFUSAL = re.compile(r"response_format|json_schema|\bschema\b", re.I)


@dataclass
class CallOutcome:
    content: str | None = None
    finish_reason: str = ""
    attempts: list[CallRecord] = field(default_factory=list)  # every HTTP attempt, billed or not
    error: str = ""  # why it gave up (empty on success)
    fatal: bool = False  # retrying cannot help (auth, unknown model): stop calling
    refusal: str = ""  # the model declined to answer (its words; untrusted)
    wait_asked: float | None = None  # the server asked to wait past the deadline: stop calling
    too_long: bool = False  # the server said the request does not fit its context: split the batch
    context_tokens: int | None = None  # the context size the server named in that answer, if any

    @property
    def ok(self) -> bool:
        return self.content is not None


# Kinds of endpoint, each with what it honours (output limit field, schema in json_object,
# where it tells its context size) and how long a call may take on it.
SERVER_KINDS = ("auto", "openai", "llama.cpp", "vllm", "ollama", "other")


class ChatProvider(Protocol):
    model: str
    kind: str  # one of SERVER_KINDS but "auto": what the endpoint turned out to be
    timeout: float  # seconds one try may take

    def complete(self, messages: list[dict], max_tokens: int, n_papers: int = 0,
                 deadline: float | None = None, ids: list[str] | None = None) -> CallOutcome:
        """One call for the papers `ids` (the reply schema may name them), retried until `deadline`."""
        ...

    def context_tokens(self) -> int | None:
        """The endpoint's context window in tokens (a setting, or what the server says), None if unknown."""
        ...


def retry_after_seconds(headers, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, `Retry-After` seconds or date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: fall back to our own back-off
    return max(0.0, parsed.timestamp() - (now if now is not None else time.time()))


class OpenAIChat:
    """One model behind one endpoint. Thread-safe: the scorer calls it from a pool."""

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 timeout: float = 60.0, max_tries: int = 4, response_format: str = "auto",
                 backoff_base: float = 1.0, backoff_cap: float = 30.0, retry_after_cap: float = 120.0,
                 reasoning_effort: str = "", prompt_cache_key: str = "", sleep: Callable[[float], None] = time.sleep):
        # openai and the HTTP stack under the deadline load only when an LLM is configured,
        # so a local-only run does not pay for importing them.
        from openai import OpenAI

        from .deadline import deadline_http_client

        if response_format not in RESPONSE_FORMATS:
            raise ValueError(f"response_format must be one of {RESPONSE_FORMATS}, got {response_format!r}")
        self.model = model
        # A local server needs no key, but the client insists on one: any placeholder works.
        self.client = OpenAI(api_key=api_key or "no-key-needed", base_url=base_url or None,
                             timeout=timeout, max_retries=0, http_client=deadline_http_client(timeout))
        self.timeout = timeout
        self.max_tries = max(1, max_tries)
        self.mode = "json_schema" if response_format in ("auto", "json_schema") else "json_object"
        self.auto = response_format == "auto"
        self._schema_works = False  # once a schema call succeeded, a later 500 is just a 500
        self.backoff_base, self.backoff_cap, self.retry_after_cap = backoff_base, backoff_cap, retry_after_cap
        self.reasoning_effort = reasoning_effort
        self.prompt_cache_key = prompt_cache_key
        self.sleep = sleep

    def response_format_param(self, fmt: str | None = None) -> dict:
        if (fmt or self.mode) == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "paper_scores", "strict": True, "schema": REPLY_SCHEMA}}
        return {"type": "json_object"}

    def _delay(self, attempt: int, headers=None) -> float:
        asked = retry_after_seconds(headers)
        if asked is not None:
            return min(asked, self.retry_after_cap)
        base = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # jitter: concurrent batches do not retry in step

    def _request(self, messages: list[dict], max_tokens: int, fmt: str) -> dict:
        kwargs = dict(model=self.model, messages=messages, max_completion_tokens=max_tokens,
                      response_format=self.response_format_param(fmt))
        if self.reasoning_effort:
            kwargs["reasoning_effort"] = self.reasoning_effort
        if self.prompt_cache_key:
            kwargs["prompt_cache_key"] = self.prompt_cache_key
        return kwargs

    def complete(self, messages: list[dict], max_tokens: int, n_papers: int = 0,
                 deadline: float | None = None) -> CallOutcome:
        """One call, retried; never past `deadline` (time.monotonic()): each try's timeout and
        each back-off are cut to the time left, and a try that cannot start is not made."""
        out = CallOutcome()
        attempt = schema_500s = 0
        probed = False
        while attempt < self.max_tries:
            left = _seconds_left(deadline)
            if left <= 0:
                out.error = f"{out.error}; no time left for another try" if out.error else "no time left for a try"
                return out
            attempt += 1
            fmt = self.mode
            failure = self._attempt(out, messages, max_tokens, n_papers, fmt, min(self.timeout, left))
            if failure is None:
                return out
            if failure.kind == "format":
                attempt -= 1  # the switch to json_object does not use up a try
                continue
            if failure.kind == "fatal":
                out.fatal = True
                return out
            schema_500s += fmt == "json_schema" and failure.status == 500
            if not probed and self._schema_suspect(schema_500s):
                probed = True  # once per call: json_object is not a cure for every 500
                if self._probe_json_object(out, messages, max_tokens, n_papers, deadline, schema_500s):
                    return out
            if self._asked_to_wait_past(out, failure, deadline):
                return out
            if not self._wait_before_retry(out.error, attempt, failure, deadline):
                break
        out.error = f"gave up after {attempt} tries: {out.error}"
        return out

    def _attempt(self, out: CallOutcome, messages: list[dict], max_tokens: int, n_papers: int, fmt: str,
                 timeout: float) -> "_Failure | None":
        """One recorded HTTP attempt with response format `fmt`."""
        rec = CallRecord(model=self.model, n_papers=n_papers)
        out.attempts.append(rec)
        failure = self._try_once(out, rec, self._request(messages, max_tokens, fmt), timeout)
        if failure is not None:
            out.error = rec.error
        return failure

    def _asked_to_wait_past(self, out: CallOutcome, failure: "_Failure", deadline: float | None) -> bool:
        """Whether the server's Retry-After ends after the deadline: then no retry, of this call
        or any other, can be made in time, and waiting for it would only hold the run."""
        asked = retry_after_seconds(failure.headers)
        if asked is None or asked <= _seconds_left(deadline):
            return False
        out.wait_asked = asked
        out.error = (f"the server asked to wait {asked:.0f} s (HTTP {failure.status} Retry-After), "
                     "longer than the time left")
        log.debug("LLM call failed: %s", out.error)
        return True

    def _wait_before_retry(self, error: str, attempt: int, failure: "_Failure", deadline: float | None) -> bool:
        """The back-off before the next try; False when there is none (no try or no time left)."""
        if attempt >= self.max_tries:
            log.debug("LLM call failed (%s), try %d/%d", error, attempt, self.max_tries)
            return False
        delay = self._delay(attempt, failure.headers)
        if delay >= _seconds_left(deadline):
            log.debug("LLM call failed (%s), try %d/%d; no time left to wait %.1fs for another",
                      error, attempt, self.max_tries, delay)
            return False
        log.debug("LLM call failed (%s), try %d/%d; next in %.1fs", error, attempt, self.max_tries, delay)
        self.sleep(delay)
        return True

    def _schema_suspect(self, schema_500s: int) -> bool:
        """Whether this call's 500s may be a refusal of json_schema (llama.cpp answers 500 to it):
        "auto" mode, no schema call has worked yet, and the same request got a 500 on a retry
        too (or on its only try), so a lone transient 500 never changes the format."""
        return (self.auto and self.mode == "json_schema" and not self._schema_works
                and schema_500s >= min(2, self.max_tries))

    def _probe_json_object(self, out: CallOutcome, messages: list[dict], max_tokens: int, n_papers: int,
                           deadline: float | None, schema_500s: int) -> bool:
        """The same call with json_object (not counted as a try); when it works, the server
        refuses the schema, and the run uses json_object from now on."""
        left = _seconds_left(deadline)
        if left <= 0:
            return False
        if self._attempt(out, messages, max_tokens, n_papers, "json_object", min(self.timeout, left)) is not None:
            log.debug("json_object failed too (%s): the 500s are not about the schema", out.error)
            return False
        self.mode = "json_object"
        log.info("server refused response_format json_schema (HTTP 500 on %d tries, json_object works); "
                 "using json_object with the schema in the prompt", schema_500s)
        return True

    def _try_once(self, out: CallOutcome, rec: CallRecord, kwargs: dict, timeout: float) -> "_Failure | None":
        """One HTTP attempt; fills `out` on success, else says what kind of failure it was."""
        import openai

        from .deadline import request_deadline

        t0 = time.monotonic()
        try:
            with request_deadline(t0 + timeout):
                resp = self.client.chat.completions.create(**kwargs, timeout=timeout)
            content, finish_reason, refusal = completion_reply(resp)
        except openai.APIStatusError as exc:
            message = re.sub(r"^Error code: \d+ - ", "", exc.message)  # the client's prefix repeats the status
            return self._failed(rec, t0, f"HTTP {exc.status_code}: {_short(message)}",
                                self._status_kind(exc.status_code, message), exc.response.headers, exc.status_code)
        except openai.APITimeoutError:
            return self._failed(rec, t0, "timeout", "retry")
        except openai.APIConnectionError as exc:
            # The client says only "Connection error."; the cause says what (refused, DNS, TLS).
            return self._failed(rec, t0, f"connection error: {_short(str(exc.__cause__ or exc))}", "retry")
        except (openai.APIResponseValidationError, NotACompletion, ValueError) as exc:
            # A proxy's page, an error object with 200, a cut-off body: a failed try like a 5xx.
            what = str(exc) if isinstance(exc, NotACompletion) else f"an unreadable body ({exc})"
            return self._failed(rec, t0, f"not a chat completion: {_short(what, 120)}", "retry")
        rec.latency_ms = int((time.monotonic() - t0) * 1000)
        _fill_usage(rec, resp)
        if kwargs["response_format"]["type"] == "json_schema":
            self._schema_works = True
        out.content, out.finish_reason, out.refusal, out.error = content, finish_reason, refusal, ""
        rec.finish_reason = finish_reason
        return None

    def _failed(self, rec: CallRecord, t0: float, error: str, kind: str, headers=None, status: int = 0) -> "_Failure":
        rec.latency_ms = int((time.monotonic() - t0) * 1000)
        rec.ok, rec.error = False, error
        return _Failure(kind, headers, status)

    def _status_kind(self, status: int, message: str) -> str:
        if self.auto and self.mode == "json_schema" and not self._schema_works and status in (400, 422) \
                and SCHEMA_REFUSAL.search(message):
            # A refusal that names the format: no retry can change it.
            log.info("server refused response_format json_schema (HTTP %s: %s); using json_object "
                     "with the schema in the prompt", status, _short(message, 120))
            self.mode = "json_object"
            return "format"
        if status in RETRYABLE_STATUS or status >= 500:
            return "retry"
        return "fatal"  # a bad key, an unknown model: retrying cannot help


@dataclass
class _Failure:
    kind: str  # retry | fatal | format (the server refused the json_schema format: try json_object)
    headers: object = None  # the reply's headers (Retry-After), when there was a reply
    status: int = 0  # the HTTP status of an error reply (0: none)


class NotACompletion(ValueError):
    """A 200 reply that is not a chat completion (the openai client returns a proxy's page as str)."""


def completion_reply(resp) -> tuple[str, str, str]:
    """The content, finish_reason and refusal of a chat completion; NotACompletion for anything else."""
    from openai.types.chat import ChatCompletion
    from openai.types.chat.chat_completion import Choice

    if not isinstance(resp, ChatCompletion):
        raise NotACompletion(_describe_body(resp))
    choices = resp.choices
    if not isinstance(choices, list) or not choices:
        raise NotACompletion("a JSON reply without choices")
    first = choices[0]
    if not isinstance(first, Choice) or first.message is None:
        raise NotACompletion("a choice without a message")
    content = first.message.content
    if content is not None and not isinstance(content, str):
        raise NotACompletion("a message whose content is not text")
    refusal = first.message.refusal if isinstance(first.message.refusal, str) else ""
    return content or "", first.finish_reason or "", refusal


def _describe_body(resp) -> str:
    """What came back instead of a completion, briefly: an HTML page's title, or its start."""
    text = str(resp)
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    if title:
        return f"an HTML page ({_short(title.group(1), 60)})"
    return f"a {type(resp).__name__} reply ({_short(re.sub(r'<[^>]*>', ' ', text), 60)})"


def _seconds_left(deadline: float | None) -> float:
    return math.inf if deadline is None else deadline - time.monotonic()


def _fill_usage(rec: CallRecord, resp) -> None:
    u = getattr(resp, "usage", None)
    if u is None:
        return
    rec.prompt_tokens = u.prompt_tokens or 0
    rec.completion_tokens = u.completion_tokens or 0
    details = getattr(u, "prompt_tokens_details", None)
    rec.cached_tokens = (getattr(details, "cached_tokens", None) or 0) if details else 0


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
