"""The compact reply (papers by number, [i, r, n], comments only for the papers at or above
the pick cutoff) read strictly, its schema fit for strict structured output, and comments
asked for exactly where the digest needs them."""
from __future__ import annotations

import json

from bot.llm.endpoints import call_schema
from bot.llm.prompt import build_prefix
from bot.llm.replies import REPLY_SCHEMA, parse_reply
from tests.llm_helpers import DATE, criteria, db, embed_cache, make_scorer, sample_papers, server, stored_day  # noqa: F401
from tests.servers.openai_server import expected_scores

IDS = ["2502.15315", "2502.10603", "2502.15451"]


def reply(scores, comments=(), flagged=(), read=()) -> str:
    return json.dumps({"scores": list(scores), "comments": [{"i": i, "c": c} for i, c in comments],
                       "flagged": list(flagged), "read": list(read)})


def test_compact_reply_names_papers_by_their_number_in_the_call():
    p = parse_reply(reply([[1, 8, 5], [2, 3, 4], [3, 7, 9]], comments=[(1, "Fits MoE."), (3, "KV cache.")],
                          flagged=[2]), IDS)
    assert {i: (it.relevance, it.novelty) for i, it in p.items.items()} == {IDS[0]: (8, 5), IDS[1]: (3, 4),
                                                                           IDS[2]: (7, 9)}
    assert [p.items[i].comment for i in IDS] == ["Fits MoE.", "", "KV cache."], "below the cutoff: no comment"
    assert [p.items[i].flagged for i in IDS] == [False, True, False]


def test_numbers_that_name_no_paper_of_the_call_are_refused():
    p = parse_reply(reply([[1, 8, 5], [4, 9, 9], [0, 9, 9]], comments=[(7, "invented")], flagged=[5]), IDS)
    assert set(p.items) == {IDS[0]} and sorted(p.unknown_ids) == ["#0", "#4", "#7"]
    assert p.missing(IDS) == IDS[1:]


def test_score_entries_not_three_whole_numbers_in_range_are_refused():
    p = parse_reply(reply([[1, 8], [2, 11, 4], [3, "high", 2]]), IDS)
    assert not p.items
    assert "not [i, r, n]" in p.why_unscored(IDS[0])
    assert p.rejected[IDS[1]].startswith("scores must be whole numbers 1-10")
    assert "relevance is not a whole number" in p.rejected[IDS[2]]


def test_the_id_keyed_shape_still_reads():
    text = json.dumps({"scores": [{"id": IDS[0], "relevance": 9, "novelty": 4, "comment": "ok", "flag": ""}]})
    assert parse_reply(text, IDS).items[IDS[0]].comment == "ok"


def _strict_ok(schema: dict) -> bool:
    """OpenAI strict mode: every object lists all its properties as required and allows no others."""
    if schema.get("type") == "object":
        props = schema["properties"]
        if set(schema["required"]) != set(props) or schema.get("additionalProperties") is not False:
            return False
        return all(_strict_ok(v) for v in props.values())
    if schema.get("type") == "array":
        items = schema.get("prefixItems") or [schema["items"]]
        return all(_strict_ok(item) for item in items)
    return True


def test_reply_schema_is_fit_for_strict_structured_output():
    assert _strict_ok(REPLY_SCHEMA)
    one = call_schema(IDS)
    assert _strict_ok(one)
    assert one["properties"]["scores"]["minItems"] == one["properties"]["scores"]["maxItems"] == 3
    assert [entry["prefixItems"][0] for entry in one["properties"]["scores"]["prefixItems"]] == [
        {"const": 1}, {"const": 2}, {"const": 3}], "one [i, r, n] per paper, in order"
    assert one["properties"]["comments"]["items"]["properties"]["i"]["enum"] == [1, 2, 3]


def test_prompt_asks_comments_from_the_pick_cutoff():
    assert "relevance 8 or more" in build_prefix("criteria", [], min_relevance=8)
    assert "{min_relevance}" not in build_prefix("criteria", [])


def test_comments_come_exactly_for_the_papers_at_or_above_the_cutoff(db, server, embed_cache, criteria):
    papers = sample_papers(16)
    stored_day(db, papers)
    result = make_scorer(db, server, embed_cache, pick_cutoff=7).score(papers, criteria, DATE)
    scored = {i: s for i, s in result.scores.items() if s.source == "llm"}
    assert len(scored) == 15
    for pid, s in scored.items():
        assert (s.relevance, s.novelty) == expected_scores(pid)
        assert bool(s.comment) == (s.relevance >= 7), (pid, s.relevance, s.comment)
    assert any(s.relevance >= 7 for s in scored.values()) and any(s.relevance < 7 for s in scored.values())
    replies = [json.loads(c.content) for c in server.chat_calls()]
    assert all(all(isinstance(e, list) and len(e) == 3 for e in r["scores"]) for r in replies)


def test_a_higher_cutoff_asks_fewer_comments(db, server, embed_cache, criteria):
    papers = sample_papers(16)
    stored_day(db, papers)
    result = make_scorer(db, server, embed_cache, pick_cutoff=9).score(papers, criteria, DATE)
    assert all(bool(s.comment) == (s.relevance >= 9) for s in result.scores.values() if s.source == "llm")
