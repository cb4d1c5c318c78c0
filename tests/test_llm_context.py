"""Batches and the server's context window: a batch the server finds too long is split in
halves (no round used up, no failed call for the circuit breaker), a lone paper still too
long keeps its local score with the reason, and a known context sizes the batches before
anything is sent. The server here is a ChatProvider with a context window that answers
like the stand-in model (tests/servers/openai_server.py) when a request fits, and like
llama.cpp's 400 context_length_exceeded when it does not; its tokens are o200k's."""
from __future__ import annotations

import time

import pytest

from bot.config import load_settings
from bot.db import now
from bot.llm import endpoints
from bot.llm.endpoints import Endpoint
from bot.llm.provider import CallOutcome, OpenAIChat
from bot.llm.usage import CallRecord
from bot.scoring.local import LocalScorer
from bot.scoring.openai_scorer import build_openai_scorer
from tests.llm_helpers import (BENGIO, DATE, criteria, db, embed_cache, make_provider, make_scorer,  # noqa: F401
                               Sleeps, sample_papers, server, stored_day)
from tests.servers.openai_server import OpenAIServer, tokens


class ContextServer:
    """A ChatProvider whose server holds `window` tokens (prompt + output cap, as llama.cpp
    counts them). It names its window in a too-long answer when `names_size`, and on being
    asked (`context_tokens()`) when `tells`."""

    kind = "llama.cpp"
    timeout = 600.0

    def __init__(self, window: int, *, names_size: bool = False, tells: bool = False,
                 model: str = "gpt-5.4-nano"):
        self.model, self.window, self.names_size, self.tells = model, window, names_size, tells
        self.model_server = OpenAIServer()  # its answers, without HTTP: only the window is new here
        self.calls: list[dict] = []  # each request: ids, tokens needed, answered too long or not
        self.asked_before_first_call: list[bool] = []

    def context_tokens(self) -> int | None:
        self.asked_before_first_call.append(not self.calls)
        return self.window if self.tells else None

    def needed(self, messages: list[dict], max_tokens: int) -> int:
        return sum(len(tokens(m["content"])) + 4 for m in messages) + max_tokens

    def complete(self, messages: list[dict], max_tokens: int, n_papers: int = 0,
                 deadline: float | None = None, ids: list[str] | None = None) -> CallOutcome:
        need = self.needed(messages, max_tokens)
        too_long = need > self.window
        self.calls.append({"ids": list(ids or []), "needed": need, "too_long": too_long,
                           "seconds_left": deadline - time.monotonic()})
        if too_long:
            error = (f"HTTP 400: Requested tokens ({need}) exceed context window of {self.window}"
                     if self.names_size else "HTTP 400: context_length_exceeded")
            rec = CallRecord(model=self.model, ok=False, error=error, n_papers=n_papers)
            return CallOutcome(attempts=[rec], error=error, too_long=True,
                               context_tokens=self.window if self.names_size else None)
        reply, content = self.model_server.complete({"model": self.model, "messages": messages})
        usage = reply["usage"]
        rec = CallRecord(model=self.model, prompt_tokens=usage["prompt_tokens"],
                         completion_tokens=usage["completion_tokens"], n_papers=n_papers, finish_reason="stop")
        return CallOutcome(content=content, finish_reason="stop", attempts=[rec])


def _score(db, embed_cache, criteria, provider, papers, **cfg):
    stored_day(db, papers)
    cfg = {"batch_size": 8, "concurrency": 1, "max_rounds": 1, "give_up_after_failed_calls": 2, **cfg}
    return make_scorer(db, None, embed_cache, provider=provider, **cfg).score(papers, criteria, DATE)


def _sources(result) -> dict[str, str]:
    return {i: s.source for i, s in result.scores.items() if i != BENGIO}


def test_a_batch_the_server_finds_too_long_is_split_until_it_fits(db, embed_cache, criteria):
    papers = sample_papers(9)  # Bengio's skips the LLM: one batch of 8
    srv = ContextServer(4000)
    result = _score(db, embed_cache, criteria, srv, papers)

    # max_rounds 1 and a breaker at 2 failed calls: a split that used a round or counted as
    # a failure would have ranked papers locally.
    assert set(_sources(result).values()) == {"llm"}
    too_long = [c for c in srv.calls if c["too_long"]]
    assert too_long and len(too_long[0]["ids"]) == 8
    answered = [c for c in srv.calls if not c["too_long"]]
    assert sorted(i for c in answered for i in c["ids"]) == sorted(_sources(result))
    assert all(len(c["ids"]) < 8 for c in answered)
    notes = " ".join(result.notes)
    assert f"{len(too_long)} batch" in notes and "split in halves" in notes
    assert "kept their local score" not in notes


def test_a_lone_paper_still_too_long_keeps_its_local_score_with_the_reason(db, embed_cache, criteria):
    papers = sample_papers(3)
    srv = ContextServer(900, names_size=True)  # not even the prompt's prefix fits
    result = _score(db, embed_cache, criteria, srv, papers, batch_size=2)

    assert set(_sources(result).values()) == {"local-fallback"}
    notes = result.notes
    assert " ".join(notes).count("too long for the model's context of 900 tokens") == 1, notes
    small = [n for n in notes if "too small" in n]
    assert len(small) == 1, "said once"
    assert "llm.context_tokens" in small[0] and "--n_ctx" in small[0] and "--max-model-len" in small[0]
    assert "OLLAMA_CONTEXT_LENGTH" in small[0] and "--ctx-size" in small[0]
    # Once the server named its window, no batch of two went out again.
    assert [len(c["ids"]) for c in srv.calls][0] == 2 and all(len(c["ids"]) == 1 for c in srv.calls[1:])


def test_a_context_the_server_tells_sizes_every_batch_before_it_is_sent(db, embed_cache, criteria):
    papers = sample_papers(13)
    srv = ContextServer(6000, tells=True)
    result = _score(db, embed_cache, criteria, srv, papers, batch_size=12)

    assert srv.asked_before_first_call == [True], "asked once, before the first call"
    assert not any(c["too_long"] for c in srv.calls), "every call fit: none was refused"
    assert all(c["needed"] <= srv.window for c in srv.calls)
    assert len(srv.calls) > 1 and set(_sources(result).values()) == {"llm"}
    most = max(len(c["ids"]) for c in srv.calls)
    assert f"Calls carried at most {most} papers (llm.batch_size is 12) to fit the model's context of 6000 tokens." \
        in result.notes


def test_a_context_named_in_a_too_long_answer_sizes_the_batches_after_it(db, embed_cache, criteria):
    papers = sample_papers(17)
    srv = ContextServer(6000, names_size=True)
    result = _score(db, embed_cache, criteria, srv, papers, batch_size=16)

    assert [c["too_long"] for c in srv.calls].count(True) == 1, "only the first call, sent before the size was known"
    assert set(_sources(result).values()) == {"llm"}


@pytest.mark.parametrize("kind,limit", [("llama.cpp", 900), ("ollama", 900), ("openai", 240)])
def test_the_phase_time_limit_0_is_chosen_by_the_kind_of_server(db, embed_cache, criteria, kind, limit):
    srv = ContextServer(100_000)
    srv.kind = kind
    _score(db, embed_cache, criteria, srv, sample_papers(3), time_limit_seconds=0)
    assert limit - 60 < srv.calls[0]["seconds_left"] <= limit


def test_the_settings_reach_the_provider(db, embed_cache, server):
    settings = load_settings().override(llm__base_url=server.base_url, llm__server="llama.cpp",
                                        llm__context_tokens=4096, llm__model="smollm2",
                                        llm__price={"input": 0, "cached_input": 0, "output": 0})
    scorer = build_openai_scorer(settings, db, LocalScorer(embed_cache))
    provider = scorer.provider
    assert (provider.kind, provider.context_tokens()) == ("llama.cpp", 4096)
    assert provider.timeout == 600, "timeout 0: a self-hosted server's"
    assert scorer.prices.price("smollm2").output == 0
    provider = build_openai_scorer(settings.override(llm__timeout_seconds=30), db, LocalScorer(embed_cache)).provider
    assert provider.timeout == 30


# --- the same over real HTTP: the real provider against the stand-in server's kinds ----------

def _score_over_http(db, embed_cache, criteria, srv, papers, response_format="auto", **cfg):
    stored_day(db, papers)
    provider = make_provider(srv, timeout=10, response_format=response_format)
    cfg = {"batch_size": 8, "concurrency": 1, "max_rounds": 1, **cfg}
    return make_scorer(db, srv, embed_cache, provider=provider, **cfg).score(papers, criteria, DATE)


def test_a_server_that_names_its_context_only_when_refusing_gets_split_then_sized_batches(
        db, embed_cache, criteria):
    with OpenAIServer(kind="llama-cpp-python", context_size=4000) as srv:
        result = _score_over_http(db, embed_cache, criteria, srv, sample_papers(17), "json_object", batch_size=16)
        statuses = [c.status for c in srv.chat_calls()]
    assert set(_sources(result).values()) == {"llm"}
    assert statuses.count(400) == 1, "only the call sent before the size was known was refused"


def test_a_server_that_refuses_the_schema_and_finds_the_batch_too_long_gets_it_split(db, embed_cache, criteria):
    """In "auto" mode llama-cpp-python answers 500 to json_schema and, to the json_object probe,
    that the batch is too long: the probe's answer is taken (split), not thrown away."""
    with OpenAIServer(kind="llama-cpp-python", context_size=4000) as srv:
        # Known from an earlier run as a llama.cpp server whose format was never learnt (the
        # Python server is otherwise known to start in json_object).
        endpoints.remember(db, srv.base_url, srv.model_name, Endpoint("llama.cpp", identified_at=now()))
        papers = sample_papers(17)
        stored_day(db, papers)
        provider = OpenAIChat(srv.model_name, base_url=srv.base_url, db=db, timeout=10, max_tries=3, sleep=Sleeps())
        result = make_scorer(db, srv, embed_cache, provider=provider, batch_size=16, concurrency=1,
                             max_rounds=1).score(papers, criteria, DATE)
        formats = [c.body["response_format"]["type"] for c in srv.chat_calls()]
    assert set(_sources(result).values()) == {"llm"}
    assert formats.count("json_schema") == 2, "two 500s to the schema, then json_object for good"


def test_a_server_that_tells_its_context_gets_batches_that_fit_from_the_first_call(db, embed_cache, criteria):
    with OpenAIServer(kind="llama.cpp", context_size=4000) as srv:
        result = _score_over_http(db, embed_cache, criteria, srv, sample_papers(13), batch_size=12)
        statuses = [c.status for c in srv.chat_calls()]
    assert set(_sources(result).values()) == {"llm"}
    assert statuses and set(statuses) == {200}
    assert any(n.startswith("Calls carried at most") and "context of 4000 tokens" in n for n in result.notes)
