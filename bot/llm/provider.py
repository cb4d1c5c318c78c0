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
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

from . import endpoints
from .endpoints import KIND_TIMEOUTS, Endpoint
from .usage import CallRecord

log = logging.getLogger(__name__)
RETRYABLE_STATUS = {408, 409, 429}
RESPONSE_FORMATS = ("auto", "json_schema", "json_object")
# A 400/422 about the response format names it (OpenAI: "Invalid parameter: 'response_format'
# of type 'json_schema' is not supported with this model"; vLLM and proxies likewise).
SCHEMA_REFUSAL = re.compile(r"response_format|json_schema|\bschema\b", re.I)
CLIENT_TIMEOUT = 60.0  # the client's own calls (Batch API files and polls) when no timeout is set
FORCED_SCHEMA_REFUSED = ('the server refuses response_format json_schema ({}); set llm.response_format = "auto" '
                         'or "json_object" in settings.toml')


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
    """One model behind one endpoint. Thread-safe: the scorer calls it from a pool.

    What the endpoint is (its kind, context window) is asked of the server once, on first
    use, unless `db` remembers it (bot/llm/endpoints.py); `kind`, `timeout` and
    `context_tokens()` follow from it."""

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 timeout: float = 0, max_tries: int = 4, response_format: str = "auto", server: str = "auto",
                 context_tokens: int = 0, db=None, backoff_base: float = 1.0, backoff_cap: float = 30.0,
                 retry_after_cap: float = 120.0, reasoning_effort: str = "", prompt_cache_key: str = "",
                 sleep: Callable[[float], None] = time.sleep):
        # openai and the HTTP stack under the deadline load only when an LLM is configured,
        # so a local-only run does not pay for importing them.
        from openai import OpenAI

        from .deadline import deadline_http_client

        _check_settings(response_format, server, context_tokens, timeout)
        self.model = model
        self.base_url = base_url or None
        client_timeout = timeout or CLIENT_TIMEOUT
        self._http = deadline_http_client(client_timeout)  # the chat calls' and the server probes'
        # A local server needs no key, but the client insists on one: any placeholder works.
        self.client = OpenAI(api_key=api_key or "no-key-needed", base_url=self.base_url, timeout=client_timeout,
                             max_retries=0, http_client=self._http)
        self._api_key = api_key
        self._server, self._context_setting, self._timeout_setting, self._db = server, context_tokens, timeout, db
        self._endpoint: Endpoint | None = None  # found out on first use
        self._lock = threading.RLock()
        self.max_tries = max(1, max_tries)
        self.mode = "json_schema" if response_format in ("auto", "json_schema") else "json_object"
        self.auto = response_format == "auto"
        self._schema_works = False  # once a schema call succeeded, a later 500 is just a 500
        self._limit_switched = False  # the output-limit field changes at most once
        self.backoff_base, self.backoff_cap, self.retry_after_cap = backoff_base, backoff_cap, retry_after_cap
        self.reasoning_effort = reasoning_effort
        self.prompt_cache_key = prompt_cache_key
        self.sleep = sleep

    # -- the endpoint ------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self._known().kind

    @property
    def timeout(self) -> float:
        """Seconds one try may take: the setting, else the kind's (a CPU server is slow)."""
        return self._timeout_setting or KIND_TIMEOUTS.get(self.kind, KIND_TIMEOUTS["other"])

    def context_tokens(self) -> int | None:
        return self._context_setting or self._known().context_tokens

    def _known(self) -> Endpoint:
        with self._lock:
            if self._endpoint is None:
                self._endpoint = self._find_endpoint()
                if self.auto and self._endpoint.response_format == "json_object":
                    self.mode = "json_object"  # refused before: no re-probing json_schema every run
            return self._endpoint

    def _find_endpoint(self) -> Endpoint:
        stored = endpoints.recall(self._db, self.base_url, self.model)
        if stored is not None and self._server in ("auto", stored.kind):
            return stored
        found = endpoints.identify(self.base_url, self.model, self._api_key, self._server, http=self._http)
        if found.answered:  # nothing answered: ask again next time
            endpoints.remember(self._db, self.base_url, self.model, found)
        return found

    def _learn(self, **facts) -> None:
        """Keep what a reply taught about the endpoint, for this run and (with a db) the next."""
        with self._lock:
            known = self._known()
            learnt = replace(known, **facts)
            if learnt == known:
                return
            self._endpoint = learnt
        endpoints.remember(self._db, self.base_url, self.model, learnt)

    # -- the request -------------------------------------------------------------------------
    def response_format_param(self, fmt: str | None = None, ids: list[str] | None = None) -> dict:
        """The response_format of a call for the papers `ids` (none: the static reply schema)."""
        known = self._known()
        return endpoints.response_format(known.kind, fmt or self.mode, ids, known.schema_in_json_object)

    def _request(self, messages: list[dict], max_tokens: int, fmt: str, ids: list[str] | None) -> dict:
        kwargs = dict(model=self.model, messages=messages, response_format=self.response_format_param(fmt, ids))
        kwargs[self._known().output_limit_field] = max_tokens
        if self.reasoning_effort:
            kwargs["reasoning_effort"] = self.reasoning_effort
        if self.prompt_cache_key:
            kwargs["prompt_cache_key"] = self.prompt_cache_key
        return kwargs

    def _delay(self, attempt: int, headers=None) -> float:
        asked = retry_after_seconds(headers)
        if asked is not None:
            return min(asked, self.retry_after_cap)
        base = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # jitter: concurrent batches do not retry in step

    def complete(self, messages: list[dict], max_tokens: int, n_papers: int = 0,
                 deadline: float | None = None, ids: list[str] | None = None) -> CallOutcome:
        """One call, retried; never past `deadline` (time.monotonic()): each try's timeout and
        each back-off are cut to the time left, and a try that cannot start is not made."""
        out = CallOutcome()
        self._known()  # the endpoint is found out before the first try, not inside it
        call = _Call(messages, max_tokens, n_papers, ids)
        attempt = 0
        while attempt < self.max_tries:
            left = _seconds_left(deadline)
            if left <= 0:
                out.error = f"{out.error}; no time left for another try" if out.error else "no time left for a try"
                return out
            attempt += 1
            fmt = self.mode
            failure = self._attempt(out, call, fmt, min(self.timeout, left))
            if failure is None:
                return out
            if failure.kind == "switch":
                attempt -= 1  # a switch of format or limit field does not use up a try
                continue
            if failure.kind in ("fatal", "too_long"):
                return self._ended(out, failure)
            if fmt == "json_schema" and failure.status == 500 and self._schema_500(out, call, deadline):
                return out
            if self._asked_to_wait_past(out, failure, deadline):
                return out
            if not self._wait_before_retry(out.error, attempt, failure, deadline):
                break
        if call.schema_refused:  # json_schema forced, a 500 on every try, json_object works
            self._refuse_forced_schema(out, f"HTTP 500 on {call.schema_500s} tries, json_object works")
            return out
        out.error = f"gave up after {attempt} tries: {out.error}"
        return out

    def _ended(self, out: CallOutcome, failure: "_Failure") -> CallOutcome:
        """A call that no retry can help: fatal (stop calling), or too long (split the batch)."""
        if failure.kind == "too_long":
            out.too_long, out.context_tokens = True, failure.context_tokens
        else:
            out.fatal = True
        return out

    def _attempt(self, out: CallOutcome, call: "_Call", fmt: str, timeout: float) -> "_Failure | None":
        """One recorded HTTP attempt with response format `fmt`."""
        rec = CallRecord(model=self.model, n_papers=call.n_papers)
        out.attempts.append(rec)
        failure = self._try_once(out, rec, self._request(call.messages, call.max_tokens, fmt, call.ids), timeout)
        if failure is not None:
            out.error = failure.error or rec.error
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

    # -- json_schema refused -----------------------------------------------------------------
    def _schema_500(self, out: CallOutcome, call: "_Call", deadline: float | None) -> bool:
        """A 500 to json_schema, which may be a refusal of it (llama.cpp answers 500 to it).
        True when the call is over: switched to json_object ("auto") with its reply, or fatal
        (json_schema forced)."""
        call.schema_500s += 1
        if call.schema_refused:
            # Forced json_schema: a 500 again after json_object worked is no passing fault.
            self._refuse_forced_schema(out, f"HTTP 500 on {call.schema_500s} tries, json_object works")
            return True
        if call.probed or not self._schema_suspect(call.schema_500s):
            return False
        call.probed = True  # once per call: json_object is not a cure for every 500
        return self._probe_json_object(out, call, deadline)

    def _schema_suspect(self, schema_500s: int) -> bool:
        """Whether this call's 500s may be a refusal of json_schema: no schema call has worked
        yet, and the same request got a 500 on a retry too (or on its only try, or once where
        this endpoint refused json_schema before), so a lone transient 500 never changes the format."""
        needed = 1 if self._refused_before() else min(2, self.max_tries)
        return self.mode == "json_schema" and not self._schema_works and schema_500s >= needed

    def _refused_before(self) -> bool:
        return self._known().response_format == "json_object"

    def _probe_json_object(self, out: CallOutcome, call: "_Call", deadline: float | None) -> bool:
        """The same call with json_object (not counted as a try). When it works, the server
        refuses the schema: in "auto" mode the run uses json_object from now on (True, with the
        reply). With json_schema forced, the call is fatal once the schema fails again (or at
        once where this endpoint refused it before): a transient fault does not end the run."""
        left = _seconds_left(deadline)
        if left <= 0:
            return False
        failure = self._attempt(out, call, "json_object", min(self.timeout, left))
        if failure is not None and failure.kind == "too_long" and self.auto:
            # The server read the json_object request far enough to find it too long for its
            # context (llama-cpp-python): the 500s were the schema's, and the batch must be split.
            self._switch_to_json_object(f"HTTP 500 on {call.schema_500s} tries; json_object is read")
            self._ended(out, failure)
            return True
        if failure is not None:
            log.debug("json_object failed too (%s): the 500s are not about the schema", out.error)
            return False
        n = call.schema_500s
        why = f"HTTP 500 on {n} {'try' if n == 1 else 'tries'}, json_object works"
        if self.auto:
            self._switch_to_json_object(why)
            return True
        out.content = None  # forced json_schema: this reply is not in the format asked for
        if self._refused_before():
            self._refuse_forced_schema(out, why)
            return True
        call.schema_refused = True
        out.error = "HTTP 500 to json_schema; json_object works"
        return False

    def _refuse_forced_schema(self, out: CallOutcome, why: str) -> None:
        self._learn(response_format="json_object")
        out.content, out.fatal = None, True
        out.error = FORCED_SCHEMA_REFUSED.format(why)

    def _switch_to_json_object(self, why: str) -> None:
        self.mode = "json_object"
        self._learn(response_format="json_object")
        log.info("server refused response_format json_schema (%s); using json_object with the schema in the prompt",
                 why)

    # -- one try -----------------------------------------------------------------------------
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
            return self._refused(rec, t0, exc, kwargs)
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
        if kwargs["response_format"]["type"] == "json_schema" and not self._schema_works:
            self._schema_works = True
            self._learn(response_format="json_schema")
        out.content, out.finish_reason, out.refusal, out.error = content, finish_reason, refusal, ""
        rec.finish_reason = finish_reason
        return None

    def _refused(self, rec: CallRecord, t0: float, exc, kwargs: dict) -> "_Failure":
        """An HTTP error answer: too long for the context, a field or format refused, or else."""
        message = re.sub(r"^Error code: \d+ - ", "", exc.message)  # the client's prefix repeats the status
        error = f"HTTP {exc.status_code}: {_short(message)}"
        too_long, context = endpoints.too_long_answer(message, exc.body)
        if too_long:
            if context:
                self._learn(context_tokens=context)
            failure = self._failed(rec, t0, error, "too_long", exc.response.headers, exc.status_code)
            failure.context_tokens = context
            return failure
        failure = self._failed(rec, t0, error, "", exc.response.headers, exc.status_code)
        failure.kind = self._status_kind(exc.status_code, message, exc.body, kwargs, failure)
        return failure

    def _failed(self, rec: CallRecord, t0: float, error: str, kind: str, headers=None, status: int = 0) -> "_Failure":
        rec.latency_ms = int((time.monotonic() - t0) * 1000)
        rec.ok, rec.error = False, error
        return _Failure(kind, headers, status)

    def _status_kind(self, status: int, message: str, body, kwargs: dict, failure: "_Failure") -> str:
        if status in (400, 422) and self._switch_limit_field(message, body, kwargs):
            return "switch"
        if status in (400, 422) and self._drop_schema_in_json_object(message, kwargs):
            return "switch"
        if (self.mode == "json_schema" and not self._schema_works and status in (400, 422)
                and SCHEMA_REFUSAL.search(message)):
            # A refusal that names the format: no retry can change it.
            if not self.auto:
                self._learn(response_format="json_object")
                failure.error = FORCED_SCHEMA_REFUSED.format(f"HTTP {status}: {_short(message, 120)}")
                return "fatal"
            self._switch_to_json_object(f"HTTP {status}: {_short(message, 120)}")
            return "switch"
        if status in RETRYABLE_STATUS or status >= 500:
            return "retry"
        return "fatal"  # a bad key, an unknown model: retrying cannot help

    def _drop_schema_in_json_object(self, message: str, kwargs: dict) -> bool:
        """A 400 about the schema we sent inside json_object (a strict proxy may refuse the
        extra field): plain json_object from now on; the prompt still holds the schema."""
        sent = kwargs["response_format"]
        if sent.get("type") != "json_object" or "schema" not in sent or not SCHEMA_REFUSAL.search(message):
            return False
        self._learn(schema_in_json_object=False)
        log.info("server refused a schema inside response_format json_object (%s); sending json_object alone",
                 _short(message, 120))
        return True

    def _switch_limit_field(self, message: str, body, kwargs: dict) -> bool:
        """A 400 refusing the output-limit field we sent ("Unsupported parameter: 'max_tokens'
        ... use 'max_completion_tokens'"): use the other one from now on, once."""
        sent = next((f for f in endpoints.LIMIT_FIELDS if f in kwargs), "")
        if self._limit_switched or not sent or not endpoints.refused_limit_field(message, body, sent):
            return False
        self._limit_switched = True
        other = endpoints.other_limit_field(sent)
        self._learn(limit_field=other)
        log.info("server refused %s (%s); sending the output limit as %s", sent, _short(message, 120), other)
        return True


def _check_settings(response_format: str, server: str, context_tokens, timeout) -> None:
    if response_format not in RESPONSE_FORMATS:
        raise ValueError(f"response_format must be one of {RESPONSE_FORMATS}, got {response_format!r}")
    if server not in SERVER_KINDS:
        raise ValueError(f"server must be one of {SERVER_KINDS}, got {server!r}")
    if isinstance(context_tokens, bool) or not isinstance(context_tokens, int) or context_tokens < 0:
        raise ValueError(f"context_tokens must be a whole number of tokens (0: ask the server), got {context_tokens!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ValueError(f"timeout must be seconds (0: by the kind of server), got {timeout!r}")


@dataclass
class _Call:
    """What one complete() sends, the same on every try, and what its tries found."""
    messages: list[dict]
    max_tokens: int
    n_papers: int
    ids: list[str] | None
    schema_500s: int = 0  # tries with json_schema answered 500
    probed: bool = False  # json_object was tried once to see whether the 500s are the schema's
    schema_refused: bool = False  # json_schema forced: 500s, and json_object worked


@dataclass
class _Failure:
    kind: str  # retry | fatal | switch (format or limit field changed: try again) | too_long
    headers: object = None  # the reply's headers (Retry-After), when there was a reply
    status: int = 0  # the HTTP status of an error reply (0: none)
    context_tokens: int | None = None  # too_long: the context size the server named
    error: str = ""  # what to report instead of the try's own error, if anything


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
    """Tokens from the reply's usage; anything that is not a whole number counts 0."""
    from openai.types import CompletionUsage

    usage = resp.usage if isinstance(resp.usage, CompletionUsage) else None
    if usage is None:
        return
    rec.prompt_tokens = _count(usage.prompt_tokens)
    rec.completion_tokens = _count(usage.completion_tokens)
    rec.cached_tokens = min(_cached_tokens(resp, usage), rec.prompt_tokens)


def _cached_tokens(resp, usage) -> int:
    """Prompt tokens the server reused, wherever it says so: prompt_tokens_details.cached_tokens
    (OpenAI, vLLM), prompt_cache_hit_tokens (DeepSeek), cache_read_input_tokens (Anthropic-style
    proxies), llama.cpp's timings.cache_n. Fields the client does not declare are in model_extra."""
    from openai.types.completion_usage import PromptTokensDetails

    details = usage.prompt_tokens_details
    extra = usage.model_extra or {}
    timings = (resp.model_extra or {}).get("timings")
    found = [details.cached_tokens if isinstance(details, PromptTokensDetails) else None,
             extra.get("prompt_cache_hit_tokens"), extra.get("cache_read_input_tokens"),
             timings.get("cache_n") if isinstance(timings, dict) else None]
    return max(_count(v) for v in found)


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
