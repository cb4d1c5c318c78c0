"""The digest's notes describe the day as stored: a day scored in two runs (the first one's
endpoint fails after two calls, the second resumes) is told in the second run's notes with
the day's totals, the same as its stored scores and its token table, which is the day's.
The real pipeline, the real openai client against tests/servers/openai_server.py, a real
SQLite file."""
from __future__ import annotations

import re
from pathlib import Path

from bot import store
from bot.config import load_settings
from bot.db import open_db
from bot.pipeline import run_day
from tests.servers.openai_server import OpenAIServer, Scripted

DAY = Path(__file__).resolve().parent / "fixtures" / "rss-2025-02-24-7items.xml"
DATE = "2025-02-24"
LLM_PAPERS = ["2502.15315", "2502.10603", "2502.15451", "2502.15118"]  # kept, not author matches
SCORER = "openai:gpt-5.4-nano"


def _settings(tmp_path):
    return load_settings().override(
        storage__digest_dir=str(tmp_path / "digests"), llm__batch_size=1, llm__concurrency=1,
        llm__prefilter_share=1.0, llm__prefilter_floor=0, llm__prefilter_margin=20.0, llm__title_screen=False, llm__daily_budget_usd=0.0, llm__timeout_seconds=5,
        llm__max_tries=2, llm__give_up_after_failed_calls=2, ranking__min_relevance=1, ranking__min_novelty=1)


def _run(tmp_path, monkeypatch, server):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    return run_day(_settings(tmp_path), open_db(tmp_path / "arxiv.sqlite"), feed_file=DAY)


def _number(pattern: str, notes: list[str]) -> int:
    m = re.search(pattern, " ".join(notes))
    return int(m.group(1)) if m else 0


def _flag(items: list[dict]) -> list[dict]:
    return [dict(items[0], flag="injection")] + items[1:]


def test_a_resumed_day_is_noted_with_the_days_totals(tmp_path, monkeypatch):
    with OpenAIServer() as first:
        first.transform(_flag)  # the first call: the model flags its paper
        first.script(Scripted())  # the second: a plain answer
        first.error(500, times=None)  # then the endpoint fails for good
        one = _run(tmp_path, monkeypatch, first)
    assert _number(r"(\d+) scored by the model", one.report.notes) == 2
    assert _number(r"(\d+) papers? kept their local score", one.report.notes) == 2

    with OpenAIServer() as second:
        two = _run(tmp_path, monkeypatch, second)
        resent = {i for c in second.chat_calls() for i in c.paper_ids}
    notes = two.report.notes
    db = open_db(tmp_path / "arxiv.sqlite")
    stored = store.load_scores(db, SCORER, 1, LLM_PAPERS)
    by_llm = [i for i, s in stored.items() if s.source in ("llm", "llm-flagged")]
    flagged = [i for i, s in stored.items() if s.source == "llm-flagged"]

    assert len(resent) == 2, "the second run sent only what the first had not scored"
    assert len(by_llm) == len(LLM_PAPERS) and len(flagged) == 1
    assert _number(r"Sent (\d+) of \d+ papers", notes) == len(LLM_PAPERS)
    assert _number(r"(\d+) scored by the model", notes) == len(by_llm)
    assert "(2 of them by an earlier run of the day)" in " ".join(notes)
    assert _number(r"(\d+) papers? flagged", notes) == len(flagged) and flagged[0] in " ".join(notes)
    assert "kept their local score" not in " ".join(notes), "no fallback in this run"
    # The token table beside them is the day's: every call of both runs.
    calls = list(db.query("select * from llm_calls where date = ?", [DATE]))
    assert two.report.usage["calls"] == len(calls) > len(second.chat_calls())
    assert two.report.usage["prompt_tokens"] == sum(c["prompt_tokens"] for c in calls)


def test_papers_only_sent_are_never_said_scored(tmp_path, monkeypatch):
    with OpenAIServer() as server:
        server.error(500, times=None)
        outcome = _run(tmp_path, monkeypatch, server)
    notes = " ".join(outcome.report.notes)
    assert _number(r"Sent (\d+) of \d+ papers", outcome.report.notes) == 2
    assert "0 scored by the model" in notes and not re.search(r"[1-9]\d* scored by", notes)
