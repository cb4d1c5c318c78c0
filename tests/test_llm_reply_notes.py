"""The digest's notes say what really went wrong with a reply: items not in the reply's
shape, ids the call did not carry, papers really left out, a model's refusal, a server that
asks to wait longer than the LLM phase has left. The real openai client against
tests/servers/openai_server.py on 127.0.0.1, the real local scorer and a real SQLite file."""
from __future__ import annotations

from tests.llm_helpers import (BENGIO, DATE, Sleeps, criteria, db, embed_cache,  # noqa: F401
                               make_provider, make_scorer, sample_papers, server, stored_day)


def _score(db, server, embed_cache, criteria, n=4, provider=None, **cfg):
    papers = sample_papers(n)
    stored_day(db, papers)
    cfg.setdefault("batch_size", n)
    cfg.setdefault("concurrency", 1)
    result = make_scorer(db, server, embed_cache, provider=provider, **cfg).score(papers, criteria, DATE)
    sent = [p.arxiv_id for p in papers if p.arxiv_id != BENGIO]
    return result, sent


def test_items_with_the_wrong_field_names_are_not_in_the_expected_shape(db, server, embed_cache, criteria):
    """A valid JSON array that names every paper asked about, under the wrong keys."""
    server.transform(lambda items: [{"paper": i["id"], "score": 9} for i in items], times=None)
    result, sent = _score(db, server, embed_cache, criteria, max_rounds=2)

    assert {result.scores[i].source for i in sent} == {"local-fallback"}
    text = " ".join(result.notes)
    assert "not in the expected shape" in text, result.notes
    assert text.count("missing id, relevance, novelty") == 1, "the missing fields are named once"
    assert "left it out" not in text, "the reply answered every paper, only in the wrong shape"
    assert "not asked about" not in text, "no id was hallucinated"
    assert all(c.paper_ids for c in server.chat_calls()) and len(server.chat_calls()) == 2


def test_shape_problems_hallucinated_ids_and_left_out_papers_are_told_apart(db, server, embed_cache, criteria):
    def mangle(items):
        wrong_type, kept, _left_out = items[0], items[1], items[2]
        return [dict(wrong_type, relevance="very"), kept, dict(kept, id="2502.99999")]

    server.transform(mangle)
    result, sent = _score(db, server, embed_cache, criteria, max_rounds=1)

    wrong_type, kept, left_out = sent
    assert result.scores[kept].source == "llm"
    assert result.scores[wrong_type].source == result.scores[left_out].source == "local-fallback"
    text = " ".join(result.notes)
    assert "not in the expected shape (relevance is not a whole number)" in text, result.notes
    assert "the reply left it out" in text
    assert "Dropped 1 score for a paper the LLM was not asked about" in text


def test_a_refusal_is_reported_as_the_model_refusing(db, server, embed_cache, criteria):
    refusal = "I can\u200bt help\u202e with\nthis request, " + "because it is against the policy " * 4
    server.refuse(refusal, times=None)
    result, sent = _score(db, server, embed_cache, criteria, max_rounds=2)

    assert {result.scores[i].source for i in sent} == {"local-fallback"}
    text = " ".join(result.notes)
    shown = " ".join(refusal.replace("\u200b", "").replace("\u202e", "").split())[:80]
    assert f"the model refused: {shown}" in text, result.notes
    assert "not JSON" not in text
    assert "\u200b" not in text and "\u202e" not in text and "\n" not in text
    assert refusal.split()[-1] + " " + refusal.split()[-1] not in text, "cut to 80 characters"


def test_a_retry_after_longer_than_the_time_left_gives_up_the_phase_at_once(db, server, embed_cache, criteria):
    server.rate_limit(retry_after=99999, times=None)
    sleeps = Sleeps()
    provider = make_provider(server, sleeps=sleeps, max_tries=4)
    result, sent = _score(db, server, embed_cache, criteria, n=6, provider=provider, batch_size=2,
                          concurrency=2, time_limit_seconds=60, give_up_after_failed_calls=2)

    assert len(server.chat_calls()) == 1, "one request, then no more for the phase"
    assert sleeps == [], "no wait"
    assert {result.scores[i].source for i in sent} == {"local-fallback"}
    text = " ".join(result.notes)
    assert "the server asked to wait 99999 s (HTTP 429 Retry-After), longer than the time left" in text, result.notes
    assert "calls failed" not in text


def test_a_retry_after_within_the_time_left_is_waited_for(db, server, embed_cache, criteria):
    server.rate_limit(retry_after=7)
    sleeps = Sleeps()
    result, sent = _score(db, server, embed_cache, criteria, provider=make_provider(server, sleeps=sleeps),
                          time_limit_seconds=60)

    assert sleeps == [7] and len(server.chat_calls()) == 2
    assert {result.scores[i].source for i in sent} == {"llm"}


def test_the_give_up_note_counts_the_requests_really_made(db, server, embed_cache, criteria):
    server.error(500, times=None, message="boom")
    provider = make_provider(server, max_tries=2)
    result, _ = _score(db, server, embed_cache, criteria, n=6, provider=provider, batch_size=1,
                       give_up_after_failed_calls=2)

    made = len(server.chat_calls())
    assert made > 2, "each call retried (and probed json_object once, in auto mode)"
    assert f"the first 2 calls failed (HTTP 500: boom; {made} requests)" in " ".join(result.notes), result.notes
