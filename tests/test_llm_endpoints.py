"""Each kind of LLM server on the wire: the real openai client over HTTP against the stand-in
server playing OpenAI, llama.cpp's server, llama-cpp-python, vLLM and Ollama
(tests/servers/openai_server.py), with the endpoint memory in a real SQLite file."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot.db import now, open_db
from bot.llm import endpoints
from bot.llm.endpoints import Endpoint
from bot.llm.provider import OpenAIChat
from bot.llm.replies import REPLY_SCHEMA
from tests.llm_helpers import Sleeps
from tests.servers.openai_server import OpenAIServer, closed_port_url

IDS = ["2502.00001", "2502.00002", "2502.00003"]


def _messages(ids: list[str], prefix: str = "Score these papers.") -> list[dict]:
    lines = "\n".join(json.dumps({"id": i, "title": f"Paper {i} on sparse routing", "abstract": "We study."})
                      for i in ids)
    return [{"role": "system", "content": prefix}, {"role": "user", "content": f"<papers>\n{lines}\n</papers>"}]


def _provider(srv: OpenAIServer, **kw) -> OpenAIChat:
    kw.setdefault("max_tries", 4)
    kw.setdefault("model", srv.model_name)
    return OpenAIChat(base_url=srv.base_url, api_key="sk-test", sleep=Sleeps(), **kw)


def _call(provider: OpenAIChat, ids: list[str] = IDS, max_tokens: int = 1000):
    return provider.complete(_messages(ids), max_tokens, len(ids), ids=ids)


@pytest.fixture
def memory(tmp_path):
    return open_db(tmp_path / "arxiv.sqlite")


# ---- which server, and the output limit it honours ------------------------------------------

@pytest.mark.parametrize("server_kind, kind", [("llama.cpp", "llama.cpp"), ("llama-cpp-python", "llama.cpp"),
                                               ("vllm", "vllm"), ("ollama", "ollama"), ("", "other")])
def test_a_self_hosted_server_is_identified_and_gets_max_tokens(server_kind, kind):
    with OpenAIServer(kind=server_kind) as srv:
        provider = _provider(srv, response_format="json_object")
        outcome = _call(provider)
        assert outcome.ok and provider.kind == kind
        body = srv.chat_calls()[-1].body
        assert body["max_tokens"] == 1000 and "max_completion_tokens" not in body


def test_openai_gets_max_completion_tokens_and_no_probe():
    with OpenAIServer(kind="openai") as srv:
        provider = _provider(srv, server="openai", model="gpt-5.4-nano")
        assert _call(provider).ok and provider.kind == "openai"
        body = srv.chat_calls()[0].body
        assert body["max_completion_tokens"] == 1000 and "max_tokens" not in body
        assert srv.probes == [], "OpenAI is not asked what it is"


def test_no_base_url_is_openai_without_asking():
    provider = OpenAIChat("gpt-5.4-nano", api_key="sk-test")
    assert provider.kind == "openai" and provider.timeout == 60
    assert provider.context_tokens() is None


def test_llama_cpp_reply_stays_within_the_cap_only_when_max_tokens_is_sent():
    with OpenAIServer(kind="llama.cpp", ramble=2000) as srv:
        capped = _call(_provider(srv), max_tokens=300)
        ignored = _call(_provider(srv, server="openai"), max_tokens=300)  # max_completion_tokens
        assert capped.ok and capped.attempts[-1].completion_tokens <= 300 and capped.finish_reason == "length"
        assert ignored.attempts[-1].completion_tokens > 1000, "llama.cpp ignores max_completion_tokens"


def test_a_refused_output_limit_field_switches_once_without_using_a_try(memory):
    with OpenAIServer(kind="openai") as srv:  # a reasoning model: max_tokens is refused
        provider = _provider(srv, server="other", model="gpt-5.4-nano", max_tries=1, db=memory)
        first = _call(provider)
        assert first.ok and len(first.attempts) == 2
        assert [("max_tokens" in c.body, "max_completion_tokens" in c.body) for c in srv.chat_calls()] == [
            (True, False), (False, True)]
        assert _call(provider).ok and len(srv.chat_calls()) == 3
        again = _provider(srv, server="other", model="gpt-5.4-nano", db=memory)
        assert _call(again).ok and "max_completion_tokens" in srv.chat_calls()[-1].body, "remembered"


def test_a_server_refusing_both_limit_fields_is_fatal_after_one_switch():
    with OpenAIServer() as srv:
        srv.error(400, times=None, message="Unsupported parameter: 'max_tokens' is not supported; "
                                           "unsupported parameter 'max_completion_tokens' too")
        outcome = _call(_provider(srv))
        assert outcome.fatal and len(srv.chat_calls()) == 2


# ---- the schema each kind gets ------------------------------------------------------------------

def test_json_object_mode_sends_the_schema_narrowed_to_the_call():
    with OpenAIServer(kind="llama-cpp-python") as srv:  # 500 to json_schema, as the real one
        provider = _provider(srv)
        assert _call(provider).ok and _call(provider, IDS[:2]).ok
        formats = [c.body["response_format"] for c in srv.chat_calls()]
        assert [f["type"] for f in formats] == ["json_object", "json_object"], \
            "llama-cpp-python is known to refuse json_schema: no 500s are spent finding it out"
        for fmt, ids in ((formats[0], IDS), (formats[1], IDS[:2])):
            props = fmt["schema"]["properties"]
            scores = props["scores"]
            assert props["comments"]["items"]["properties"]["i"] == {"type": "integer",
                                                                      "enum": list(range(1, len(ids) + 1))}
            assert scores["minItems"] == scores["maxItems"] == len(ids)
            score = {"type": "integer", "enum": list(range(1, 11))}
            # One entry per paper, in order, each naming its own paper: none repeated, none left out.
            assert scores["prefixItems"] == [{"type": "array", "prefixItems": [{"const": i}, score, score],
                                              "minItems": 3, "maxItems": 3} for i in range(1, len(ids) + 1)]


def test_json_schema_to_a_self_hosted_server_is_narrowed_too():
    with OpenAIServer(kind="vllm") as srv:
        assert _call(_provider(srv)).ok
        fmt = srv.chat_calls()[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert len(fmt["json_schema"]["schema"]["properties"]["scores"]["prefixItems"]) == 3


def test_openai_gets_the_static_schema_and_no_schema_inside_json_object():
    with OpenAIServer(kind="openai") as srv:
        strict = _provider(srv, server="openai", model="gpt-5.4-nano")
        assert _call(strict).ok and _call(strict, IDS[:1]).ok
        schemas = [c.body["response_format"]["json_schema"]["schema"] for c in srv.chat_calls()]
        assert schemas == [REPLY_SCHEMA, REPLY_SCHEMA], "the same schema every call keeps OpenAI's caches warm"
        plain = _provider(srv, server="openai", model="gpt-5.4-nano", response_format="json_object")
        assert _call(plain).ok and srv.chat_calls()[-1].body["response_format"] == {"type": "json_object"}


def test_the_batch_api_format_needs_no_ids():
    with OpenAIServer(kind="llama.cpp") as srv:
        assert _provider(srv).response_format_param()["json_schema"]["schema"] == REPLY_SCHEMA
        assert _provider(srv, server="openai").response_format_param("json_object") == {"type": "json_object"}


def test_a_server_refusing_a_schema_inside_json_object_gets_json_object_alone():
    with OpenAIServer() as srv:
        srv.error(400, message="Invalid 'response_format.schema': extra fields not permitted")
        provider = _provider(srv, response_format="json_object", max_tries=1)
        assert _call(provider).ok and _call(provider).ok
        assert [c.body["response_format"] for c in srv.chat_calls()][1:] == [{"type": "json_object"}] * 2


# ---- a request too long for the context ---------------------------------------------------------

@pytest.mark.parametrize("server_kind, legacy, named", [
    ("openai", False, 100), ("vllm", False, 100), ("llama.cpp", False, 100), ("llama.cpp", True, None),
    ("llama-cpp-python", False, 100)])
def test_a_too_long_answer_is_neither_retried_nor_fatal(server_kind, legacy, named):
    with OpenAIServer(kind=server_kind, context_size=100) as srv:  # the call's prompt is 124 tokens
        srv.legacy_errors = legacy
        provider = _provider(srv, server="openai" if server_kind == "openai" else "auto",
                             model="gpt-4o-mini", response_format="json_object")
        outcome = _call(provider, max_tokens=50)
        assert outcome.too_long and not outcome.fatal and not outcome.ok
        assert outcome.context_tokens == named and len(srv.chat_calls()) == 1
        assert outcome.error.startswith("HTTP 400")
        assert provider.context_tokens() == (100 if server_kind == "llama.cpp" else named), "/props or the answer"


def test_a_named_context_is_learnt_for_the_endpoint(memory):
    with OpenAIServer(kind="llama-cpp-python", context_size=100) as srv:  # no /props: only errors say it
        provider = _provider(srv, response_format="json_object", db=memory)
        assert provider.context_tokens() is None
        assert _call(provider, max_tokens=50).too_long and provider.context_tokens() == 100
        assert _provider(srv, db=memory).context_tokens() == 100


def test_ollama_cuts_silently_and_is_not_too_long():
    with OpenAIServer(kind="ollama", context_size=100) as srv:  # the call's prompt is 124 tokens
        outcome = _call(_provider(srv, response_format="json_object"))
        assert outcome.ok and not outcome.too_long and srv.chat_calls()[0].truncated


# ---- the context window -------------------------------------------------------------------------

@pytest.mark.parametrize("top_level", [False, True])
def test_context_from_llama_cpp_props(top_level):
    with OpenAIServer(kind="llama.cpp", context_size=8192) as srv:
        srv.props_top_level = top_level
        provider = _provider(srv)
        assert provider.context_tokens() == 8192 and provider.kind == "llama.cpp"


def test_context_from_vllm_max_model_len():
    with OpenAIServer(kind="vllm", context_size=16384) as srv:
        assert _provider(srv).context_tokens() == 16384


@pytest.mark.parametrize("num_ctx, loaded, trained, expected", [
    (8192, 0, 32768, 8192), (0, 16384, 32768, 16384), (0, 0, 32768, endpoints.OLLAMA_DEFAULT_CONTEXT),
    (65536, 0, 32768, 32768)])
def test_context_from_ollama(num_ctx, loaded, trained, expected, monkeypatch):
    monkeypatch.delenv("OLLAMA_CONTEXT_LENGTH", raising=False)
    with OpenAIServer(kind="ollama") as srv:
        srv.ollama_num_ctx, srv.ollama_loaded_context, srv.trained_context = num_ctx, loaded, trained
        provider = _provider(srv)
        assert provider.kind == "ollama" and provider.context_tokens() == expected
        assert ("POST", "/api/show", {"model": srv.model_name}) in srv.probes


def test_ollama_context_from_the_environment_of_a_local_server(monkeypatch):
    monkeypatch.setenv("OLLAMA_CONTEXT_LENGTH", "12000")
    with OpenAIServer(kind="ollama") as srv:
        assert _provider(srv).context_tokens() == 12000


def test_context_setting_wins():
    with OpenAIServer(kind="llama.cpp", context_size=8192) as srv:
        assert _provider(srv, context_tokens=4000).context_tokens() == 4000


def test_a_server_that_cannot_be_reached_is_other_and_not_remembered(memory):
    provider = OpenAIChat("m", base_url=closed_port_url(), db=memory, max_tries=1, sleep=Sleeps())
    assert provider.kind == "other" and provider.context_tokens() is None
    assert endpoints.recall(memory, provider.base_url, "m") is None


# ---- the endpoint memory --------------------------------------------------------------------------

def test_a_second_run_does_not_reprobe_json_schema_or_the_server(memory):
    with OpenAIServer(kind="llama.cpp") as srv:
        srv.reject_json_schema = True  # a build that refuses json_schema with a 500
        assert _call(_provider(srv, db=memory)).ok
        assert [c.body["response_format"]["type"] for c in srv.chat_calls()] == [
            "json_schema", "json_schema", "json_object"]
        probes = len(srv.probes)
        second = _provider(srv, db=memory)
        assert _call(second).ok and second.kind == "llama.cpp"
        assert srv.chat_calls()[-1].body["response_format"]["type"] == "json_object" and len(srv.chat_calls()) == 4
        assert len(srv.probes) == probes, "the stored kind is used, the server is not asked again"


def test_a_week_old_endpoint_is_identified_again(memory):
    with OpenAIServer(kind="llama.cpp", context_size=8192) as srv:
        old = (datetime.now(timezone.utc) - timedelta(days=8)).isoformat(timespec="seconds")
        endpoints.remember(memory, srv.base_url, srv.model_name,
                           Endpoint("vllm", 1000, "json_object", identified_at=old))
        provider = _provider(srv, db=memory)
        assert provider.kind == "llama.cpp" and provider.context_tokens() == 8192 and srv.probes
        assert _call(provider).ok and srv.chat_calls()[0].body["response_format"]["type"] == "json_schema"


def test_without_a_database_nothing_is_stored(tmp_path):
    with OpenAIServer(kind="llama.cpp") as srv:
        srv.reject_json_schema = True
        assert _call(_provider(srv)).ok and _call(_provider(srv)).ok
        assert [c.body["response_format"]["type"] for c in srv.chat_calls()] == [
            "json_schema", "json_schema", "json_object"] * 2


def test_llama_cpp_python_starts_in_json_object_and_forced_json_schema_is_refused_at_once(memory):
    """Its server answers HTTP 500 to every json_schema: known from its /v1/models (owned_by "me",
    no /props), the first call already uses json_object, and a forced json_schema is fatal on
    its first 500 and the probe, not after four requests."""
    with OpenAIServer(kind="llama-cpp-python") as srv:
        assert _call(_provider(srv, db=memory)).ok
        forced = _call(_provider(srv, response_format="json_schema", db=memory))
        formats = [c.body["response_format"]["type"] for c in srv.chat_calls()]
    assert formats == ["json_object", "json_schema", "json_object"]
    assert forced.fatal and 'llm.response_format = "auto"' in forced.error


# ---- json_schema forced ----------------------------------------------------------------------------

def test_forced_json_schema_refused_by_a_400_is_fatal_at_once():
    with OpenAIServer() as srv:
        srv.error(400, times=None, message="Invalid parameter: 'response_format' of type 'json_schema' is not "
                                           "supported with this model.")
        outcome = _call(_provider(srv, response_format="json_schema"))
        assert outcome.fatal and len(srv.chat_calls()) == 1
        assert 'llm.response_format = "auto" or "json_object"' in outcome.error


def test_forced_json_schema_answered_with_500s_is_fatal_after_a_probe(memory):
    with OpenAIServer(kind="llama.cpp") as srv:
        srv.reject_json_schema = True
        outcome = _call(_provider(srv, response_format="json_schema", db=memory))
        assert outcome.fatal and not outcome.ok
        assert [c.body["response_format"]["type"] for c in srv.chat_calls()] == [
            "json_schema", "json_schema", "json_object", "json_schema"], "a 500 again after json_object worked"
        assert 'llm.response_format = "auto"' in outcome.error and "json_object works" in outcome.error
        # Once the endpoint is known to refuse it, one 500 and the probe suffice.
        again = _call(_provider(srv, response_format="json_schema", db=memory))
        assert again.fatal and len(srv.chat_calls()) == 4 + 2


def test_forced_json_schema_survives_two_passing_500s():
    with OpenAIServer() as srv:
        srv.error(500, times=2)
        outcome = _call(_provider(srv, response_format="json_schema"))
        assert outcome.ok and not outcome.fatal
        assert [c.body["response_format"]["type"] for c in srv.chat_calls()] == [
            "json_schema", "json_schema", "json_object", "json_schema"]


def test_forced_json_schema_with_no_try_left_after_the_probe_is_fatal():
    with OpenAIServer(kind="llama.cpp") as srv:
        srv.reject_json_schema = True
        outcome = _call(_provider(srv, response_format="json_schema", max_tries=2))
        assert outcome.fatal and len(srv.chat_calls()) == 3 and "json_object works" in outcome.error


# ---- cached prompt tokens ---------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["details", "prompt_cache_hit_tokens", "cache_read_input_tokens", "timings"])
def test_cached_tokens_are_read_where_the_server_reports_them(where):
    long_prefix = "Criteria: sparse routing, efficient inference, representation learning. " * 200
    with OpenAIServer() as srv:
        srv.cache_field = where
        provider = _provider(srv, response_format="json_object")
        for _ in range(2):
            outcome = provider.complete(_messages(IDS, long_prefix), 1000, 3, ids=IDS)
        reported = srv.chat_calls()[-1].usage
        expected = (reported.get("prompt_tokens_details", {}).get("cached_tokens") or reported.get(where)
                    or srv.complete(srv.chat_calls()[-1].body, remember=False)[0]["timings"]["cache_n"])
        assert expected >= 1024 and outcome.attempts[-1].cached_tokens == expected


def test_garbage_usage_counts_zero():
    reply = {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"scores": []}'},
                          "finish_reason": "stop"}],
             "usage": {"prompt_tokens": "12", "completion_tokens": None, "prompt_tokens_details": {"cached_tokens": "x"},
                       "prompt_cache_hit_tokens": -5, "cache_read_input_tokens": True},
             "timings": "fast"}
    with OpenAIServer() as srv:
        srv.not_a_completion(reply)
        outcome = _call(_provider(srv, response_format="json_object"))
        rec = outcome.attempts[-1]
        assert outcome.ok and (rec.prompt_tokens, rec.completion_tokens, rec.cached_tokens) == (0, 0, 0)


# ---- timeouts by kind ---------------------------------------------------------------------------------

def test_timeout_by_kind_unless_set():
    with OpenAIServer(kind="llama.cpp") as srv:
        assert _provider(srv).timeout == 600
        assert _provider(srv, server="openai").timeout == 60
        assert _provider(srv, timeout=30).timeout == 30


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="server must be one of"):
        OpenAIChat("m", server="lmstudio")
    with pytest.raises(ValueError, match="context_tokens"):
        OpenAIChat("m", context_tokens=-1)


def test_credentials_in_a_base_url_are_never_stored(memory):
    with OpenAIServer(kind="llama.cpp") as srv:
        secret_url = srv.base_url.replace("http://", "http://user:sk-secret@") + "?key=hidden"
        endpoints.remember(memory, secret_url, "m", Endpoint("llama.cpp", 4096, identified_at=now()))
    stored = [r["base_url"] for r in memory.query("select base_url from llm_endpoints")]
    assert stored == [srv.base_url.rstrip("/")]
    assert endpoints.recall(memory, secret_url, "m").context_tokens == 4096


@pytest.mark.parametrize("body", ["the request exceeds the available context size, try increasing it",
                                  {"detail": "input too long"}, {"error": "prompt is too long for this model"}])
def test_a_too_long_answer_said_only_in_the_body_is_recognised(body):
    """The client's message may be only "Error code: 400" when the body is a bare string or uses
    another key: the body itself is read."""
    assert endpoints.too_long_answer("Error code: 400", body) == (True, None)
    assert endpoints.too_long_answer("Error code: 400", {"error": "invalid api key"}) == (False, None)
