"""The daily pipeline with the LLM configured: scorer choice, resume without re-billing,
provisional fallbacks, the digest's token/cost table and `python -m bot costs`."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot import store
from bot.cli import main
from bot.config import load_settings
from bot.db import open_db
from bot.llm.prices import PriceTable
from bot.pipeline import make_scorer, run_day
from bot.scoring.local import LocalScorer
from bot.scoring.openai_scorer import OpenAIScorer
from tests.servers.openai_server import OpenAIServer, expected_scores

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DAY = FIXTURES / "rss-2025-02-24-7items.xml"
DATE = "2025-02-24"
BENGIO = "2502.15657"
LLM_PAPERS = ["2502.15315", "2502.10603", "2502.15451", "2502.15118"]  # kept, not author matches


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def env(monkeypatch, server):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    return server


def settings_for(tmp_path, **changes):
    base = dict(storage__digest_dir=str(tmp_path / "digests"), llm__batch_size=1, llm__concurrency=1,
                llm__prefilter_share=1.0, llm__prefilter_floor=0, llm__prefilter_margin=20.0, llm__title_screen=False, llm__daily_budget_usd=0.0)
    base.update(changes)
    return load_settings().override(**base)


def test_scorer_choice_follows_the_environment(tmp_path, monkeypatch):
    db = open_db(tmp_path / "a.sqlite")
    s = load_settings()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert isinstance(make_scorer(s, db), LocalScorer)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    scorer = make_scorer(s, db)
    assert isinstance(scorer, OpenAIScorer) and scorer.name == "openai:gpt-5.4-nano"
    assert str(scorer.provider.client.base_url).startswith("https://api.openai.com")
    assert scorer.provider.prompt_cache_key  # OpenAI proper gets the cache routing hint
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    scorer = make_scorer(s, db)
    assert isinstance(scorer, OpenAIScorer) and str(scorer.provider.client.base_url).startswith("http://127.0.0.1:9")
    assert not scorer.provider.prompt_cache_key


def test_interrupted_run_resumes_without_rebilling(tmp_path, env, monkeypatch):
    settings = settings_for(tmp_path)
    db = open_db(tmp_path / "arxiv.sqlite")
    real_save = store.save_scores
    saves = []

    def save_then_die(*args, **kw):
        real_save(*args, **kw)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt  # the process is stopped right after the second reply was stored

    monkeypatch.setattr(store, "save_scores", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_day(settings, db, feed_file=DAY)
    monkeypatch.setattr(store, "save_scores", real_save)
    first = [c.paper_ids for c in env.chat_calls()]
    assert len(first) == 2

    outcome = run_day(settings, db, date=DATE)
    sent = [pid for c in env.chat_calls() for pid in c.paper_ids]
    assert sorted(sent) == sorted(LLM_PAPERS), "every paper was sent exactly once over both runs"
    rows = list(db.query("select * from llm_calls"))
    assert len(rows) == 4
    r = outcome.report
    assert r.usage["calls"] == 4 and r.usage["prompt_tokens"] == sum(x["prompt_tokens"] for x in rows)
    for pk in r.picks:
        if pk.paper.arxiv_id in LLM_PAPERS:
            assert (pk.score.relevance, pk.score.novelty) == expected_scores(pk.paper.arxiv_id)


def test_digest_shows_the_token_and_cost_table(tmp_path, env):
    settings = settings_for(tmp_path, llm__batch_size=2, ranking__min_relevance=1)
    db = open_db(tmp_path / "arxiv.sqlite")
    outcome = run_day(settings, db, feed_file=DAY)
    md = outcome.paths[0].read_text()
    u = outcome.report.usage
    assert f"| *[gpt-5.4-nano]*" in md
    assert f"| **Token**    | {u['prompt_tokens']}    | {u['completion_tokens']}" in md
    assert "| **Cached**" in md and "| **Cost**" in md
    assert "# Paper Selection Prompt" in md and "<criteria>" in md
    prices = PriceTable.load()
    expect = sum(prices.cost("gpt-5.4-nano", c.usage["prompt_tokens"], c.usage["prompt_tokens_details"]["cached_tokens"],
                             c.usage["completion_tokens"]).total for c in env.chat_calls())
    assert u["cost"] == pytest.approx(expect)
    # Re-rendering the day makes no call and shows the same table.
    n = len(env.chat_calls())
    again = run_day(settings, db, date=DATE)
    assert len(env.chat_calls()) == n and again.report.usage == u


def test_fallback_scores_are_not_stored_so_a_rerun_tries_again(tmp_path, env):
    settings = settings_for(tmp_path, llm__batch_size=10)
    db = open_db(tmp_path / "arxiv.sqlite")
    env.error(401, message="Incorrect API key provided")
    first = run_day(settings, db, feed_file=DAY)
    assert {pk.score.source for pk in first.report.picks if not pk.author_match} <= {"local-fallback"}
    assert any("HTTP 401" in n for n in first.report.notes)
    stored = store.load_scores(db, "openai:gpt-5.4-nano", 1, LLM_PAPERS)
    assert stored == {}
    second = run_day(settings, db, date=DATE)
    assert set(store.load_scores(db, "openai:gpt-5.4-nano", 1, LLM_PAPERS)) == set(LLM_PAPERS)
    assert not any("HTTP 401" in n for n in second.report.notes)


def test_costs_command_summarises_by_day_and_model(tmp_path, env, capsys):
    settings = settings_for(tmp_path, llm__batch_size=2)
    db_path = tmp_path / "arxiv.sqlite"
    db = open_db(db_path)
    run_day(settings, db, feed_file=DAY)
    with db.conn:
        db.conn.execute("""insert into llm_calls (date, model, prompt_tokens, cached_tokens, completion_tokens,
                           cost_usd, ok, n_papers, kind) values ('2025-02-21', 'my-local-llama', 1000, 0, 100, null, 1, 5, 'direct')""")
    rows = list(db.query("select * from llm_calls where date = ?", [DATE]))
    assert main(["costs", "--db", str(db_path), "--days", "0"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith(DATE))
    cols = line.split()
    assert cols[1] == "gpt-5.4-nano" and int(cols[2]) == len(rows) == 2
    assert int(cols[5]) == sum(r["prompt_tokens"] for r in rows)
    assert cols[-1] == f"${sum(r['cost_usd'] for r in rows):.4f}"
    assert "unknown" in next(ln for ln in out.splitlines() if ln.startswith("2025-02-21"))
    assert "plus calls to models with no price" in out


def test_digest_batch_flag_is_offered(capsys):
    with pytest.raises(SystemExit):
        main(["digest", "--help"])
    assert "--batch" in capsys.readouterr().out
