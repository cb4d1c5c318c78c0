"""The Batch API path against the local server: half price, deadline fall-back to direct
calls, and a resumed run that collects its batch instead of submitting it again."""
from __future__ import annotations

import pytest

from bot.llm.batch_api import BatchRunner
from tests.llm_helpers import (BENGIO, DATE, calls_rows, criteria, db, embed_cache, make_scorer,  # noqa: F401
                               sample_papers, server, stored_day)
from tests.servers.openai_server import expected_scores


def with_runner(scorer, db, server, **kw):
    kw.setdefault("deadline_seconds", 5)
    kw.setdefault("poll_seconds", 0.01)
    scorer.config.batch_api = True
    scorer.batch_runner = BatchRunner(scorer.provider.client, db, scorer.name, scorer.config.model, feed="default", **kw)
    return scorer


def test_batch_api_scores_at_half_price(db, server, embed_cache, criteria):
    papers = sample_papers(11)
    stored_day(db, papers)
    scorer = with_runner(make_scorer(db, server, embed_cache, batch_size=5), db, server)
    result = scorer.score(papers, criteria, DATE)
    assert server.chat_calls() == [] and len(server.batches) == 1
    ids = [p.arxiv_id for p in papers if p.arxiv_id != BENGIO]
    for i in ids:
        assert (result.scores[i].relevance, result.scores[i].novelty, result.scores[i].source) == (*expected_scores(i), "llm")
    rows = calls_rows(db)
    assert len(rows) == 2 and {r["kind"] for r in rows} == {"batch"}
    full = scorer.prices.cost("gpt-5.4-nano", rows[0]["prompt_tokens"], rows[0]["cached_tokens"], rows[0]["completion_tokens"])
    assert rows[0]["cost_usd"] == pytest.approx(full.total / 2)
    assert next(db.query("select status from llm_batches"))["status"] == "collected"


def test_batch_not_done_by_the_deadline_is_cancelled_and_scored_directly(db, server, embed_cache, criteria):
    papers = sample_papers(6)
    stored_day(db, papers)
    server.batch_completes = False
    scorer = with_runner(make_scorer(db, server, embed_cache), db, server, deadline_seconds=0.05)
    result = scorer.score(papers, criteria, DATE)
    (batch,) = server.batches.values()
    assert batch["status"] == "cancelled"
    assert sorted(pid for c in server.chat_calls() for pid in c.paper_ids) == sorted(
        p.arxiv_id for p in papers if p.arxiv_id != BENGIO)
    assert {s.source for i, s in result.scores.items() if i != BENGIO} == {"llm"}
    assert next(db.query("select status from llm_batches"))["status"] == "abandoned"
    assert any("not done by the deadline" in n for n in result.notes)


def test_resumed_run_collects_its_batch_instead_of_resubmitting(db, server, embed_cache, criteria):
    papers = sample_papers(6)
    stored_day(db, papers)
    server.batch_completes = False

    def killed(_seconds):
        raise KeyboardInterrupt  # the process stops while waiting for the batch

    scorer = with_runner(make_scorer(db, server, embed_cache), db, server, sleep=killed)
    with pytest.raises(KeyboardInterrupt):
        scorer.score(papers, criteria, DATE)
    (batch,) = server.batches.values()
    server._run_batch(batch)  # meanwhile the provider finishes it

    scorer = with_runner(make_scorer(db, server, embed_cache), db, server)
    result = scorer.score(papers, criteria, DATE)
    assert len(server.batches) == 1, "no second submission"
    assert server.chat_calls() == []
    assert {s.source for i, s in result.scores.items() if i != BENGIO} == {"llm"}
    assert any("Resumed Batch API job" in n for n in result.notes)
