"""The LLM scorer against a real llama.cpp server: llama-cpp-python's server with
SmolLM2-135M-Instruct (requirements-llama.txt), behind a recording proxy so each test reads
what went over the wire. The model's scores are meaningless; the tests assert on counts,
shapes and the wire. Skipped when llama-cpp-python or the GGUF is not installed."""
from __future__ import annotations

import json

import pytest

from bot import store
from bot.config import load_settings
from bot.db import open_db
from bot.llm.prompt import build_prefix, messages
from bot.llm.replies import parse_reply
from bot.pipeline import make_scorer, run_day
from bot.scoring.base import LLM_SOURCES
from tests.llm_helpers import ROOT, sample_papers
from tests.servers import llama_cpp

if llama_cpp.skip_reason():
    pytest.skip(llama_cpp.skip_reason(), allow_module_level=True)

DAY = ROOT / "tests" / "fixtures" / "rss-2025-02-24-7items.xml"  # 4 papers go to the LLM (Bengio's is an author match)
DATE = "2025-02-24"
MODEL = llama_cpp.MODEL_ALIAS
ABSTRACT_CHARS = 300  # short abstracts keep every call quick on 2 cores


@pytest.fixture(scope="module")
def llama():
    with llama_cpp.LlamaCppServer(n_ctx=8192) as srv:
        yield srv


@pytest.fixture
def proxy(llama):
    with llama_cpp.RecordingProxy(llama.base_url) as p:
        yield p


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def settings_for(tmp_path, base_url: str, **changes):
    base = dict(storage__digest_dir=str(tmp_path / "digests"), llm__base_url=base_url, llm__model=MODEL,
                llm__batch_size=2, llm__concurrency=1, llm__prefilter_share=1.0, llm__prefilter_floor=0,
                llm__prefilter_ceiling=4, llm__prefilter_margin=20.0, llm__title_screen=False, llm__fewshot_examples=0, llm__abstract_chars=ABSTRACT_CHARS,
                llm__daily_budget_usd=0.0, llm__price={"input": 0, "cached_input": 0, "output": 0})
    base.update(changes)
    return load_settings().override(**base)


def sent_ids(exchange: llama_cpp.Exchange) -> list[str]:
    """The arXiv ids of the papers in one chat request (the fenced JSON lines of its user message)."""
    user = exchange.request["messages"][-1]["content"]
    return [json.loads(line)["id"] for line in user.splitlines() if line.startswith("{")]


def llm_scored(db, outcome, ids) -> dict:
    stored = store.load_scores(db, f"openai:{MODEL}", outcome.report.criteria_version, ids)
    return {pid: s for pid, s in stored.items() if s.source in LLM_SOURCES}


def one_call(tmp_path, proxy, papers, max_tokens: int):
    """One call of the real provider (as the pipeline builds it) for `papers`."""
    provider = make_scorer(settings_for(tmp_path, proxy.base_url), open_db(tmp_path / "a.sqlite")).provider
    prefix = build_prefix((ROOT / "prompts" / "criteria.txt").read_text(), [])
    ids = [p.arxiv_id for p in papers]
    return provider.complete(messages(prefix, papers, ABSTRACT_CHARS), max_tokens, len(papers), ids=ids), ids


def test_the_output_limit_is_honoured(tmp_path, proxy):
    out, _ = one_call(tmp_path, proxy, sample_papers(3)[1:], max_tokens=16)
    assert out.ok, out.error
    assert out.attempts[-1].completion_tokens <= 16
    sent = proxy.chats()[-1]
    assert sent.request.get("max_tokens") == 16, "llama-cpp-python honours max_tokens only"
    assert sent.reply["usage"]["completion_tokens"] <= 16 and sent.reply["choices"][0]["finish_reason"] == "length"


def test_json_object_carries_the_schema_and_the_reply_parses(tmp_path, proxy):
    papers = sample_papers(4)[1:]
    out, ids = one_call(tmp_path, proxy, papers, max_tokens=400)
    assert out.ok, out.error
    fmt = proxy.chats()[-1].request["response_format"]
    assert fmt["type"] == "json_object" and "schema" in fmt
    numbers = fmt["schema"]["properties"]["comments"]["items"]["properties"]["i"]["enum"]
    assert numbers == list(range(1, len(ids) + 1)), "the batch's paper numbers are in the schema"
    # The grammar holds the reply to the schema: exactly one [i, r, n] per paper, in order.
    items = json.loads(out.content)["scores"]
    assert [it[0] for it in items] == list(range(1, len(ids) + 1)) and all(len(it) == 3 for it in items)
    parsed = parse_reply(out.content, ids)
    assert set(parsed.items) == set(ids) and not parsed.not_json
    assert all(1 <= it.relevance <= 10 and 1 <= it.novelty <= 10 for it in parsed.items.values())


def test_the_day_is_scored_through_the_pipeline_and_the_endpoint_remembered(tmp_path, proxy):
    db = open_db(tmp_path / "arxiv.sqlite")
    outcome = run_day(settings_for(tmp_path, proxy.base_url), db, feed_file=DAY)
    chats = proxy.chats()
    sent = [pid for c in chats for pid in sent_ids(c)]
    assert len(set(sent)) == 4 and all(len(sent_ids(c)) <= 2 for c in chats)
    assert len(llm_scored(db, outcome, sent)) == 4, outcome.report.notes
    assert outcome.report.usage["calls"] == len(chats) and outcome.report.usage["cost"] == 0
    assert any(f"{MODEL}" in note and "4" in note for note in outcome.report.notes), outcome.report.notes
    # A second run on the same database (new criteria: every paper is scored again) neither
    # identifies the server again nor offers it the schema format it refused.
    proxy.clear()
    criteria = tmp_path / "criteria.txt"
    criteria.write_text("Papers on sparse mixture-of-experts routing.\n")
    again = run_day(settings_for(tmp_path, proxy.base_url, ranking__criteria_file=str(criteria)), db, date=DATE)
    assert [e.path for e in proxy.exchanges if not e.path.endswith("/chat/completions")] == []
    assert {c.request["response_format"]["type"] for c in proxy.chats()} == {"json_object"}
    assert len(llm_scored(db, again, sent)) == 4, again.report.notes


def test_a_batch_too_long_for_the_context_is_split_and_scored(tmp_path):
    # n_ctx 2048 holds the prompt prefix (about 1,400 tokens) and two papers of 800 characters:
    # a batch of 4 does not fit. (llama-cpp-python refuses a prompt longer than its context; a
    # prompt that fits but leaves less than max_tokens just gets a shorter reply.)
    with llama_cpp.LlamaCppServer(n_ctx=2048) as small, llama_cpp.RecordingProxy(small.base_url) as proxy:
        db = open_db(tmp_path / "arxiv.sqlite")
        outcome = run_day(settings_for(tmp_path, proxy.base_url, llm__batch_size=4, llm__abstract_chars=800),
                          db, feed_file=DAY)
        chats = proxy.chats()
    too_long = [c for c in chats if c.status == 400]
    assert too_long and "context" in json.dumps(too_long[0].reply)
    assert len(sent_ids(too_long[0])) == 4
    ok = [c for c in chats if c.status == 200]
    assert ok and all(len(sent_ids(c)) < 4 for c in ok)
    scored = llm_scored(db, outcome, [pid for c in ok for pid in sent_ids(c)])
    assert len(scored) == 4, outcome.report.notes
    assert any("too long" in note for note in outcome.report.notes), outcome.report.notes
