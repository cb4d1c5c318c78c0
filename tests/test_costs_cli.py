"""`python -m bot costs`: --days N covers the N most recent announcement days with LLM calls
recorded, however old (the shipped sample day is from 2025), and a model priced in the
settings (llm.price) costs what the team says, $0 for a local model."""
from __future__ import annotations

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.db import open_db
from bot.llm import usage
from bot.llm.prices import PriceTable
from bot.scoring.openai_scorer import LLMConfig
from tests.llm_helpers import DATE, criteria, db, embed_cache, make_scorer, sample_papers, stored_day  # noqa: F401
from tests.test_llm_context import ContextServer

DAYS = [DATE, "2025-02-21", "2025-02-20"]  # the sample day and two before it, newest first


def _days_shown(capsys, *argv) -> list[str]:
    assert main(["costs", *argv]) == 0
    out = capsys.readouterr().out
    return [ln.split()[0] for ln in out.splitlines() if ln[:4].isdigit()]


@pytest.fixture
def calls_db(tmp_path):
    path = tmp_path / "arxiv.sqlite"
    db = open_db(path)
    prices = PriceTable.load()
    for day in DAYS:
        usage.record_call(db, day, "openai:gpt-5.4-nano",
                          usage.CallRecord(model="gpt-5.4-nano", prompt_tokens=1000, completion_tokens=100,
                                           n_papers=5), prices, feed="default")
    db.conn.close()
    return path


def test_costs_shows_the_sample_day_by_default(calls_db, capsys):
    assert _days_shown(capsys, "--db", str(calls_db)) == DAYS


def test_costs_days_counts_announcement_days_with_calls_not_calendar_days(calls_db, capsys):
    assert _days_shown(capsys, "--db", str(calls_db), "--days", "2") == DAYS[:2]
    assert _days_shown(capsys, "--db", str(calls_db), "--days", "1") == DAYS[:1]
    assert _days_shown(capsys, "--db", str(calls_db), "--days", "0") == DAYS


def test_costs_help_says_what_days_counts(capsys):
    with pytest.raises(SystemExit):
        main(["costs", "--help"])
    assert "most recent announcement days with LLM calls" in " ".join(capsys.readouterr().out.split())


def test_a_model_priced_in_the_settings_costs_zero_and_says_no_unknown_price(
        tmp_path, db, embed_cache, criteria, capsys):
    papers = sample_papers(4)
    stored_day(db, papers)
    free = {"input": 0, "cached_input": 0, "output": 0}
    scorer = make_scorer(db, None, embed_cache, provider=ContextServer(100_000, model="smollm2"),
                         model="smollm2", price=free, daily_budget_usd=0.5)
    result = scorer.score(papers, criteria, DATE)

    assert not any("No price known" in n for n in result.notes), result.notes
    assert result.usage["cost"] == 0.0
    assert _days_shown(capsys, "--db", str(tmp_path / "arxiv.sqlite")) == [DATE]
    main(["costs", "--db", str(tmp_path / "arxiv.sqlite")])
    row = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(DATE))
    assert row.split()[1] == "smollm2" and row.split()[-1] == "$0.0000"


def test_without_a_price_the_same_model_is_unknown(db, embed_cache, criteria):
    papers = sample_papers(4)
    stored_day(db, papers)
    scorer = make_scorer(db, None, embed_cache, provider=ContextServer(100_000, model="smollm2"),
                         model="smollm2", daily_budget_usd=0.5)
    result = scorer.score(papers, criteria, DATE)
    assert any("No price known for smollm2" in n for n in result.notes)
    assert result.usage["cost"] is None


def test_the_price_setting_reaches_the_scorer_config():
    settings = load_settings().override(llm__price={"input": 0, "cached_input": 0, "output": 0})
    assert LLMConfig.from_settings(settings).price == {"input": 0, "cached_input": 0, "output": 0}
    assert LLMConfig.from_settings(load_settings()).price == {}


@pytest.mark.parametrize("value,problem", [({"input": 0}, "missing cached_input, missing output"),
                                           ({"input": 0, "cached_input": 0, "output": -1},
                                            "output is not a number from 0 to 1000"),
                                           ({"input": 0, "cached_input": 0, "output": 0, "extra": 1},
                                            "unknown field extra"),
                                           (0, "an inline table of USD per 1M tokens")])
def test_a_bad_price_names_the_setting_and_what_is_wrong(value, problem):
    with pytest.raises(ConfigError, match="llm.price") as err:
        load_settings().override(llm__price=value)
    assert problem in str(err.value)


def test_costs_per_feed_a_feed_column_with_several_feeds_and_feed_filters(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    path = tmp_path / "arxiv.sqlite"
    db = open_db(path)
    prices = PriceTable.load()
    for feed, tokens in (("default", 1000), ("vision", 3000)):
        usage.record_call(db, DATE, "openai:gpt-5.4-nano",
                          usage.CallRecord(model="gpt-5.4-nano", prompt_tokens=tokens, n_papers=5), prices, feed=feed)
    team = tmp_path / "team.toml"
    team.write_text("[feeds.default.ranking]\nmax_papers = 30\n[feeds.vision.ranking]\nmax_papers = 10\n",
                    encoding="utf-8")
    assert main(["--settings", str(team), "costs", "--db", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["date", "feed", "model"]
    assert [ln.split()[1:4] for ln in lines if ln.startswith(DATE)] == \
        [["default", "gpt-5.4-nano", "1"], ["vision", "gpt-5.4-nano", "1"]]
    assert main(["--settings", str(team), "costs", "--db", str(path), "--feed", "vision"]) == 0
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines() if ln.startswith(DATE)]
    assert [(r[1], r[6]) for r in rows] == [("vision", "3000")]
    # One feed (no [feeds] tables): today's table, no feed column; its own calls only.
    assert main(["costs", "--db", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["date", "model"] and [ln.split()[5] for ln in out if ln.startswith(DATE)] == ["1000"]
