"""The LLM's pre-filter: a margin below the pick cutoff on the local ranker's scale, bounded
in papers; the scorer's cut on a day; the title screen of the uncertain band; and
prefilter_recall in `python -m bot eval`."""
from __future__ import annotations

import pytest

import gzip
import json

from bot.cli import main
from bot.llm.prefilter import Prefilter, local_relevance
from tests.llm_helpers import DATE, calls_rows, criteria, db, embed_cache, make_scorer, sample_papers, server, stored_day  # noqa: F401
from tests.servers.openai_server import expected_scores


def raw_for(relevance: float) -> float:
    """The local raw score of a paper at `relevance` on the local ranker's scale."""
    lo, hi = -1.875, 3.75
    return lo + (relevance - 1) * (hi - lo) / 9


def test_local_relevance_inverts_the_scale():
    assert abs(local_relevance(raw_for(7.0)) - 7.0) < 1e-9


def test_margin_sends_what_the_day_puts_near_or_above_the_cutoff_not_a_share():
    cut = Prefilter(cutoff=7, margin=3)
    strong = [raw_for(r) for r in (9, 8, 6, 5, 4.5, 3, 2, 1)]
    weak = [raw_for(r) for r in (5, 3.9, 3, 2, 1, 1, 1, 1)]
    assert cut.size(strong) == 5  # relevance 4 or more: 9, 8, 6, 5, 4.5
    assert cut.size(weak) == 1, "a weak day sends fewer papers: no fixed share"


def test_floor_ceiling_and_share_bound_the_margin():
    day = [raw_for(r) for r in (9, 8, 6, 5, 3, 2, 1, 1)]
    assert Prefilter(cutoff=7, margin=3, floor=6).size(day) == 6
    assert Prefilter(cutoff=7, margin=3, ceiling=2).size(day) == 2
    assert Prefilter(cutoff=7, margin=3, share=0.25).size(day) == 2
    assert Prefilter(cutoff=7, margin=3, floor=50).size(day) == 8, "never more than the day"


def test_scorer_sends_the_band_and_above_and_keeps_the_rest_local(db, server, embed_cache, criteria):
    papers = sample_papers(24)
    stored_day(db, papers)
    scorer = make_scorer(db, server, embed_cache, prefilter_margin=2.0, prefilter_ceiling=1000)
    local = scorer.prefilter.score(papers, criteria, DATE).scores
    result = scorer.score(papers, criteria, DATE)
    sent = {pid for c in server.chat_calls() for pid in c.paper_ids}
    expected = {i for i, s in local.items() if local_relevance(s.raw) >= 5.0 and result.scores[i].source != "author"}
    assert sent == expected and 0 < len(sent) < 23
    assert all(result.scores[i].source == "local-below-cut" for i in local if i not in sent and
               result.scores[i].source != "author")


def test_title_screen_reads_titles_of_the_band_and_sends_only_those_kept(db, server, embed_cache, criteria):
    papers = sample_papers(24)
    stored_day(db, papers)
    scorer = make_scorer(db, server, embed_cache, title_screen=True, prefilter_margin=20)
    local = scorer.prefilter.score(papers, criteria, DATE).scores
    result = scorer.score(papers, criteria, DATE)
    screen, *scoring = server.chat_calls()
    titles = [json.loads(line) for line in screen.messages[1]["content"].splitlines()[1:-1]]
    assert all(set(t) == {"i", "title"} for t in titles), "the screen carries titles, no abstracts"
    band = {p.arxiv_id for p in papers if p.arxiv_id in local and local_relevance(local[p.arxiv_id].raw) < 7
            and result.scores[p.arxiv_id].source != "author"}
    assert len(titles) == len(band)
    kept = {p.arxiv_id for p in papers if p.arxiv_id in band and expected_scores(p.title)[0] >= 7}
    sent = {pid for c in scoring for pid in c.paper_ids}
    assert sent & band == kept and 0 < len(kept) < len(band)
    assert all(result.scores[i].source == "local-below-cut" for i in band - kept)
    assert any(n.startswith(f"Title screen: the LLM read {len(band)} titles") for n in result.notes)


def test_a_failed_title_screen_sends_the_whole_band_on(db, server, embed_cache, criteria):
    papers = sample_papers(12)
    stored_day(db, papers)
    server.content("not json at all")
    result = make_scorer(db, server, embed_cache, title_screen=True, prefilter_margin=20).score(papers, criteria, DATE)
    sent = {pid for c in server.chat_calls()[1:] for pid in c.paper_ids}
    assert len(sent) == 11 and all(result.scores[i].source == "llm" for i in sent)


@pytest.mark.parametrize("reply", ['{"scores": [[1, 8, 7], [2, 8, 7]], "comments": [], "flagged": []}',
                                   '{"verdict": "all fine"}'])
def test_a_screen_reply_that_names_no_read_list_sends_the_whole_band_on(db, server, embed_cache, criteria, reply):
    """A model answering the screen in another shape (scores, or anything without "read") has
    not screened: the titles go on, since a title dropped there never reaches the LLM again."""
    papers = sample_papers(12)
    stored_day(db, papers)
    server.content(reply)
    result = make_scorer(db, server, embed_cache, title_screen=True, prefilter_margin=20).score(papers, criteria, DATE)
    sent = {pid for c in server.chat_calls()[1:] for pid in c.paper_ids}
    assert len(sent) == 11 and all(result.scores[i].source == "llm" for i in sent)


@pytest.mark.parametrize("price, screens", [((0.75, 0.075, 4.5), True), ((0, 0, 0), False)])
def test_the_title_screen_is_on_by_default_only_for_a_model_with_a_price(db, server, embed_cache, criteria,
                                                                         price, screens):
    from bot.llm.prices import Price, PriceTable

    papers = sample_papers(12)
    stored_day(db, papers)
    scorer = make_scorer(db, server, embed_cache, title_screen="auto", prefilter_margin=20, model="my-local-model")
    scorer.prices = PriceTable.load().with_price("my-local-model", Price(*price))
    scorer.score(papers, criteria, DATE)
    screen_calls = [c for c in server.chat_calls() if '"title"' in c.messages[1]["content"]
                    and '"abstract"' not in c.messages[1]["content"]]
    assert bool(screen_calls) == screens


def test_no_title_screen_once_the_daily_budget_is_spent(db, server, embed_cache, criteria):
    papers = sample_papers(12)
    stored_day(db, papers)
    make_scorer(db, server, embed_cache, title_screen=True, prefilter_margin=20).score(papers, criteria, DATE)
    spent = sum(r["cost_usd"] for r in calls_rows(db))
    calls = len(server.chat_calls())
    again = make_scorer(db, server, embed_cache, title_screen=True, prefilter_margin=20, daily_budget_usd=spent / 2)
    result = again.score(papers, criteria, DATE)
    assert len(server.chat_calls()) == calls, "no call at all, the screen included"
    assert not any(n.startswith("Title screen") for n in result.notes)


def test_eval_reports_prefilter_recall_and_share_sent(tmp_path, capsys):
    from tests.test_eval import CRITERIA, stream_rows

    labels = tmp_path / "stream.jsonl.gz"
    with gzip.open(labels, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in stream_rows())
    (tmp_path / "c.txt").write_text(CRITERIA)
    argv = ["eval", "--labels", str(labels), "--criteria", str(tmp_path / "c.txt"), "--json", "--quiet",
            "--cache", str(tmp_path / "cache.sqlite")]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    # Days of 10 papers: the default floor sends them all, so every positive is sent.
    assert out["prefilter_recall"] == 1.0 and out["prefilter_sent"] == 1.0


def test_replay_prefilter_recall_counts_the_positives_the_cut_sends(tmp_path):
    from sqlite_utils import Database

    from bot import criteria as criteria_mod
    from bot.embed import Embedder, EmbeddingCache
    from bot.eval import read_labels, replay
    from tests.test_eval import CRITERIA, stream_rows

    labels = tmp_path / "stream.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in stream_rows()))
    items = read_labels(labels).papers
    cache = EmbeddingCache(Database(tmp_path / "cache.sqlite"), Embedder(threads=1))
    crit = criteria_mod.parse(CRITERIA)
    # 5 positives (robot papers) and 5 others a day; the local ranker puts the robots first.
    two = replay(items, crit, cache, prefilter=Prefilter(cutoff=7, margin=20, ceiling=2)).to_json()
    assert two["prefilter_recall"] == 0.4 and two["prefilter_sent"] == 0.2
    five = replay(items, crit, cache, prefilter=Prefilter(cutoff=7, margin=20, ceiling=5)).to_json()
    assert five["prefilter_recall"] == 1.0 and five["prefilter_sent"] == 0.5
    assert replay(items, crit, cache).to_json()["prefilter_recall"] is None, "no pre-filter, no figure"
