"""The response format and the retry log of one LLM call: the real openai client against
tests/servers/openai_server.py. A transient 500 is retried with the same json_schema
request; only a refusal about the schema (a 400 that names it, or a 500 that the retry gets
too and json_object does not) switches the run to json_object."""
from __future__ import annotations

import logging

from tests.llm_helpers import (BENGIO, DATE, Sleeps, criteria, db, embed_cache,  # noqa: F401
                               make_provider, make_scorer, sample_papers, server, stored_day)

MESSAGES = [{"role": "user", "content": "<papers>\n</papers>"}]


def _formats(server) -> list[str]:
    return [c.body["response_format"]["type"] for c in server.chat_calls()]


def test_one_500_on_the_first_call_keeps_json_schema_for_the_run(db, server, embed_cache, criteria, caplog):
    papers = sample_papers(11)
    stored_day(db, papers)
    server.error(500)  # one transient failure, then the model answers normally
    caplog.set_level(logging.INFO, logger="bot.llm")
    result = make_scorer(db, server, embed_cache, batch_size=5).score(papers, criteria, DATE)
    assert _formats(server) == ["json_schema"] * 3, "the 500 is retried with the same request"
    assert {s.source for i, s in result.scores.items() if i != BENGIO} == {"llm"}
    assert not any("refused response_format" in r.getMessage() for r in caplog.records)


def test_a_500_that_json_object_gets_too_is_not_blamed_on_the_schema(server):
    server.error(500, times=3)  # the schema try, its retry and the json_object probe all fail
    provider = make_provider(server, max_tries=3)
    outcome = provider.complete(MESSAGES, 100, 0)
    assert outcome.ok
    assert _formats(server) == ["json_schema", "json_schema", "json_object", "json_schema"]
    assert provider.mode == "json_schema"


def test_a_400_that_names_the_format_switches_at_once(server, caplog):
    server.error(400, message="Invalid parameter: 'response_format' of type 'json_schema' is not supported "
                              "with this model.")
    caplog.set_level(logging.INFO, logger="bot.llm")
    provider = make_provider(server, max_tries=2)
    assert provider.complete(MESSAGES, 100, 0).ok and provider.complete(MESSAGES, 100, 0).ok
    assert _formats(server) == ["json_schema", "json_object", "json_object"]
    assert any("refused response_format json_schema (HTTP 400" in r.getMessage() for r in caplog.records)


def test_a_400_about_something_else_is_fatal_and_keeps_the_format(server):
    server.error(400, message="Unrecognized request argument supplied: temperature")
    provider = make_provider(server, max_tries=3)
    outcome = provider.complete(MESSAGES, 100, 0)
    assert outcome.fatal and len(server.chat_calls()) == 1 and provider.mode == "json_schema"


def test_a_server_that_always_refuses_json_schema_ends_on_json_object(server, caplog):
    server.reject_json_schema = True  # llama.cpp: 500 to every json_schema request
    caplog.set_level(logging.INFO, logger="bot.llm")
    provider = make_provider(server, max_tries=2)
    assert provider.complete(MESSAGES, 100, 0).ok and provider.complete(MESSAGES, 100, 0).ok
    assert _formats(server) == ["json_schema", "json_schema", "json_object", "json_object"]
    switched = [r.getMessage() for r in caplog.records if "refused response_format" in r.getMessage()]
    assert len(switched) == 1 and "json_object works" in switched[0]


def test_the_last_try_announces_no_next_one(server, caplog):
    server.error(503, times=None)
    caplog.set_level(logging.DEBUG, logger="bot.llm")
    sleeps = Sleeps()
    outcome = make_provider(server, sleeps=sleeps, max_tries=3).complete(MESSAGES, 100, 0)
    assert not outcome.ok and len(server.chat_calls()) == 3
    tries = [r.getMessage() for r in caplog.records if "LLM call failed" in r.getMessage()]
    assert [("try %d/3" % n) in line for n, line in enumerate(tries, 1)] == [True] * 3
    assert [("next in" in line) for line in tries] == [True, True, False], tries
    assert len(sleeps) == 2, "a wait is announced only when it happens"
