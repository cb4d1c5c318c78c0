"""Feeds end to end, from a Slack click to the next day's ranking and LLM prompt; and the
README's first command on a fresh copy of the project.

Feed "default" (the shipped criteria, #ml) and feed "vision" (the vision and embodied AI
criteria, #vision) post day 1 through the real Bolt app's Slack client to the stand-in Slack
server. A Slack-signed 👍 click in the default feed's thread goes through the real app over
HTTP. Day 2 is then run on the database as it was just before the click and as it is after
it (SQLite backups of one file): with the local scorer (the taste model) and with the
stand-in OpenAI server (the recorded prompt). The click changes the default feed's ranking
and few-shot examples, and nothing of the vision feed's."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot import delivery, feedback
from bot.db import open_db
from bot.embed import EmbeddingCache
from bot.llm.prompt import NO_EXAMPLES
from bot.pipeline import run_day, stored_report
from bot.slack.post import run_and_post
from tests.scorer_fixtures import model  # noqa: F401 (a fixture, by name)
from tests.servers.openai_server import OpenAIServer
from tests.slack_helpers import block_actions_payload, sample_feed
from tests.test_slack_feeds import ML, Feeds

ROOT = Path(__file__).resolve().parent.parent
DAY_1, DAY_2 = "2025-02-24", "2025-02-25"
A, B = "default", "vision"
LLM_ENVIRONMENT = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ARXIV_SETTINGS")


@pytest.fixture
def two(tmp_path, monkeypatch):
    for name in LLM_ENVIRONMENT:  # the local scorer unless a test gives a feed an LLM
        monkeypatch.delenv(name, raising=False)
    f = Feeds(tmp_path)
    yield f
    f.close()


def second_day(path: Path) -> Path:
    """The next announcement day: other papers of the sample, announced on DAY_2."""
    head, *items = sample_feed(70).split("<item>")
    text = head + "<item>" + "<item>".join(items[40:])  # day 1 is the first 40
    path.write_text(text.replace("Mon, 24 Feb 2025", "Tue, 25 Feb 2025"), encoding="utf-8")
    return path


def backup(db, path: Path):
    """A copy of the database as it is now (SQLite's online backup: the WAL included)."""
    target = sqlite3.connect(path)
    db.conn.backup(target)
    target.close()
    return open_db(path)


def examples_in(system_prompt: str) -> list[tuple[str, str]]:
    """The few-shot examples (title, verdict) in an LLM prompt's <examples> block."""
    block = system_prompt.split("<examples>\n", 1)[1].split("\n</examples>", 1)[0]
    if block == NO_EXAMPLES:
        return []
    return [(e["title"], e["verdict"]) for e in map(json.loads, block.splitlines())]


def ranking(feed, db, day_file: Path, cache: EmbeddingCache) -> tuple[str, list[tuple[str, float]]]:
    """The feed's local run of the day: its scorer and every paper in ranked order, with its score."""
    everything = feed.override(ranking__max_papers=200, ranking__min_relevance=1)
    outcome = run_day(everything, db, feed_file=day_file, write_digest=False, cache=cache)
    assert outcome.status == "done", outcome.message
    return outcome.report.scorer, [(pk.paper.arxiv_id, round(pk.score.raw, 6)) for pk in outcome.report.picks]


def llm_prompts(feed, db, day_file: Path, srv: OpenAIServer, cache: EmbeddingCache) -> list[str]:
    """The system prompts the feed's LLM run of the day sent (its criteria and few-shot examples)."""
    with_llm = feed.override(llm__base_url=srv.base_url, llm__batch_size=50, llm__concurrency=1,
                             llm__prefilter_share=1.0, llm__prefilter_floor=0, llm__daily_budget_usd=0.0,
                             llm__title_screen=False)  # the scoring prompts, which carry the examples
    already = len(srv.chat_calls())
    outcome = run_day(with_llm, db, feed_file=day_file, write_digest=False, cache=cache)
    assert outcome.status == "done" and outcome.report.scorer != "local", outcome.message
    calls = srv.chat_calls(ok_only=True)[already:]
    assert calls, "the LLM run sent nothing"
    return [c.messages[0]["content"] for c in calls]


def post_day_1_and_like_a_pick_of_a(two, tmp_path: Path) -> tuple[str, object]:
    """Both feeds post day 1; a Slack-signed 👍 on A's first pick goes through the real app.
    Returns that paper's title and a copy of the database from just before the click."""
    day_1 = tmp_path / "day1.xml"
    day_1.write_text(sample_feed(40), encoding="utf-8")
    posted = {name: run_and_post(two.feed(name), two.db, two.client, feed_file=day_1) for name in (A, B)}
    assert all(p.status == "posted" for p in posted.values()), {n: p.message for n, p in posted.items()}
    thread = delivery.delivered(two.db, DAY_1, ML, feed=A)
    voted = next(item for item in thread if item != delivery.PARENT)
    title = next(pk.paper.title for pk in stored_report(two.feed(A), two.db, DAY_1).picks if pk.paper.arxiv_id == voted)
    before_vote = backup(two.db, tmp_path / "before.sqlite")

    two.sender.action(block_actions_payload("U0ALICE", "vote_up", voted, channel=ML, message_ts=thread[voted]["ts"]))
    two.handled()
    assert feedback.labels(two.db, feed=A) == {voted: 1} and feedback.labels(two.db, feed=B) == {}
    return " ".join(title.split()), before_vote


def test_a_thumb_in_one_feeds_thread_changes_its_next_ranking(two, tmp_path, model):
    _, before_vote = post_day_1_and_like_a_pick_of_a(two, tmp_path)
    day_2 = second_day(tmp_path / "day2.xml")
    dbs = {"before": before_vote, "after": two.db}
    ranked = {(name, when): ranking(two.feed(name), db, day_2, EmbeddingCache(db, model))
              for name in (A, B) for when, db in dbs.items()}
    assert not ranked[A, "before"][0].endswith("+taste") and ranked[A, "after"][0].endswith("+taste")
    order = {key: [arxiv_id for arxiv_id, _ in papers] for key, (_, papers) in ranked.items()}
    assert order[A, "before"] != order[A, "after"]  # A's taste model moved papers in its ranking
    assert ranked[B, "before"] == ranked[B, "after"]  # B: the same scorer, the same ranking and scores
    assert not ranked[B, "after"][0].endswith("+taste")


def test_a_thumb_in_one_feeds_thread_becomes_its_next_llm_prompts_example(two, tmp_path, model):
    title, before_vote = post_day_1_and_like_a_pick_of_a(two, tmp_path)
    day_2 = second_day(tmp_path / "day2.xml")
    dbs = {"before": before_vote, "after": two.db}
    with OpenAIServer() as srv:
        prompts = {(name, when): llm_prompts(two.feed(name), db, day_2, srv, EmbeddingCache(db, model))
                   for name in (A, B) for when, db in dbs.items()}
    assert all(examples_in(p) == [] for p in prompts[A, "before"])
    assert all(examples_in(p) == [(title, "liked")] for p in prompts[A, "after"])  # the voted paper
    assert prompts[B, "before"] == prompts[B, "after"]  # B's prompt did not move
    assert all(examples_in(p) == [] for p in prompts[B, "after"])
    assert all("embodied" in p.lower() for p in prompts[B, "after"])  # and it is B's criteria


# --- the README's first command, on a fresh copy of the project (one cold run: ~365 embeddings) ---

CLONE_PARTS = ("bot", "prompts", "data", "settings.toml")
NOT_IN_A_CLONE = shutil.ignore_patterns("__pycache__", "*.pyc", "digests", "cache", "*.sqlite", "*.sqlite-*", "*.db")


def fresh_copy(target: Path) -> Path:
    """What a clone holds for `python -m bot digest --sample`: the package, prompts, data, settings."""
    for part in CLONE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=NOT_IN_A_CLONE)
        else:
            shutil.copy2(source, target / part)
    return target


def test_the_readme_sample_command_writes_the_default_feeds_digest_where_it_always_did(tmp_path):
    clone = fresh_copy(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if k not in LLM_ENVIRONMENT and not k.startswith("SLACK_")}
    proc = subprocess.run([sys.executable, "-m", "bot", "digest", "--sample"], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = clone / "data" / "digests"
    assert (digests / f"{DAY_1}.md").is_file() and (digests / f"{DAY_1}.json").is_file()
    assert sorted(p.name for p in digests.iterdir()) == [f"{DAY_1}.json", f"{DAY_1}.md"]  # no feed folder
    assert "== feed" not in proc.stdout and "of 365 papers picked for 2025-02-24" in proc.stdout
    db = open_db(clone / "data" / "arxiv.sqlite")
    assert [dict(r) for r in db.query("select feed, date, status from runs")] == [
        {"feed": "default", "date": DAY_1, "status": "done"}]
