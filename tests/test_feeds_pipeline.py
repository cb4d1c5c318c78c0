"""Several feeds on one database: one fetch of the day for all, each feed on its own papers
with its own criteria, runs, picks and digest files, and a feed's failure its own. Real
SQLite file, the real local scorer, the stand-in arXiv server on 127.0.0.1, and the CLI."""
from __future__ import annotations

import json
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot import cli
from bot.config import load_settings
from bot.db import open_db
from bot.embed import Embedder, EmbeddingCache
from bot.feeds import all_feeds, feed_named
from bot.pipeline import last_rebuild, run_day, run_feeds
from tests.servers.arxiv_server import ArxivServer, Reply
from tests.test_pipeline import NoNetwork, RecordingEmbedder

ROOT = Path(__file__).resolve().parent.parent
DAY = ROOT / "tests" / "fixtures" / "rss-2025-02-24-7items.xml"
VISION_CRITERIA = ROOT / "tests" / "fixtures" / "shared" / "vision-embodied.criteria.txt"
DEFAULT_KEPT = {"2502.15657", "2502.15315", "2502.10603", "2502.15451", "2502.15118"}
VISION_KEPT = {"2502.10603"}  # the one cs.RO/cs.CV paper that is not a replacement
UNION_PATH = "/rss/cs.LG+cs.AI+cs.CV+cs.RO"
VISION_FIRST_PATH = "/rss/cs.CV+cs.RO+cs.LG+cs.AI"  # the vision feed run alone: its categories, then the others'
EMPTY_DAY = ROOT / "tests" / "fixtures" / "rss-2025-03-01-weekend-empty.xml"


@pytest.fixture(scope="module")
def model():
    e = Embedder()
    e.load()
    return e


def write_settings(tmp_path: Path, vision_criteria: Path = VISION_CRITERIA, feed_url: str = "") -> Path:
    path = tmp_path / "team.toml"
    path.write_text(textwrap.dedent(f"""\
        [storage]
        database = "{tmp_path / 'day.sqlite'}"
        digest_dir = "{tmp_path / 'digests'}"
        [ranking]
        criteria_file = "prompts/criteria.txt"
        authors = []
        min_relevance = 1
        min_novelty = 1
        [arxiv]
        categories = ["cs.LG", "cs.AI"]
        announce_types = ["new", "cross"]
        enrich = false
        min_interval_seconds = 0
        {f'feed_url = "{feed_url}"' if feed_url else ''}
        [feeds.default.ranking]
        max_papers = 30
        [feeds.vision.ranking]
        criteria_file = "{vision_criteria}"
        [feeds.vision.arxiv]
        categories = ["cs.CV", "cs.RO"]
        """), encoding="utf-8")
    return path


@pytest.fixture
def team(tmp_path, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    return write_settings(tmp_path)


def count(db, table: str, where: str = "", params=()) -> int:
    return db.execute(f"select count(*) from {table} {where}", list(params)).fetchone()[0]


def day_against(srv, tmp_path, model):
    """Two feeds' settings reading arXiv at the stand-in server, their database and embedding cache."""
    settings = load_settings(write_settings(tmp_path, feed_url=srv.url + "/rss/"))
    db = open_db(settings["storage.database"])
    return settings, db, EmbeddingCache(db, RecordingEmbedder(model))


def picked(outcome) -> set[str]:
    return {pk.paper.arxiv_id for pk in outcome.report.picks}


def test_two_feeds_from_one_day_keep_their_own_papers_criteria_runs_picks_and_digests(team, tmp_path, model):
    settings = load_settings(team)
    db = open_db(settings["storage.database"])
    embedder = RecordingEmbedder(model)
    default, vision = run_feeds(settings, db, all_feeds(settings, db), feed_file=DAY,
                                cache=EmbeddingCache(db, embedder))
    assert (default.feed, default.status, vision.feed, vision.status) == ("default", "done", "vision", "done")
    assert {p.paper.arxiv_id for p in default.report.picks} <= DEFAULT_KEPT and picked(vision) == VISION_KEPT
    assert picked(default) != picked(vision)
    assert default.report.n_scanned == 5 and vision.report.n_scanned == 1
    # Stored and embedded once, whatever the number of feeds.
    assert count(db, "papers") == 5 and len(embedder.texts) == len(set(embedder.texts))
    # Each feed's criteria: the vision feed scored with its own file.
    assert "embodied" in vision.report.criteria_text and "embodied" not in default.report.criteria_text
    assert {(r["feed"], r["status"]) for r in db.query("select feed, status from runs")} == \
        {("default", "done"), ("vision", "done")}
    for outcome in (default, vision):
        rows = [r["arxiv_id"] for r in db.query("select arxiv_id from picks where feed = ? order by rank",
                                                [outcome.feed])]
        assert rows == [pk.paper.arxiv_id for pk in outcome.report.picks]
    # Digest files: the feed default keeps data/digests/DATE.md and today's header; vision's say so.
    digests = tmp_path / "digests"
    assert default.paths == (digests / "2025-02-24.md", digests / "2025-02-24.json")
    assert vision.paths == (digests / "vision" / "2025-02-24.md", digests / "vision" / "2025-02-24.json")
    default_md, vision_md = (p.read_text(encoding="utf-8") for p in (default.paths[0], vision.paths[0]))
    assert "Feed:" not in default_md and "Feed: vision" in vision_md.splitlines()[2]
    assert "feed" not in json.loads(default.paths[1].read_text())
    assert json.loads(vision.paths[1].read_text())["feed"] == "vision"
    # The paper both feeds kept is announced "cross" for default (its primary is cs.RO), "new" for vision.
    assert [pk.paper.announce_type for pk in vision.report.picks] == ["new"]


def test_one_request_to_arxiv_serves_both_feeds_and_a_later_feed_run_reuses_it(tmp_path, monkeypatch, model):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    with ArxivServer() as srv:
        srv.script(UNION_PATH, Reply(200, DAY.read_bytes()))
        settings, db, cache = day_against(srv, tmp_path, model)
        first = run_feeds(settings, db, all_feeds(settings, db), cache=cache)
        assert [r.path for r in srv.requests] == [UNION_PATH]  # one request, the union of the categories
        assert [o.status for o in first] == ["done", "done"]
        # The scheduler runs the vision feed again later the same day: the stored fetch serves it.
        later = run_day(feed_named(settings, db, "vision"), db, http=NoNetwork(), cache=cache)
    assert later.status == "done" and picked(later) == picked(first[1])
    assert len(srv.requests) == 1
    assert {r["feed"]: r["source"] for r in db.query("select feed, source from runs")} == \
        {"default": "network", "vision": "network"}


def test_a_fetch_from_before_arxivs_last_rebuild_is_asked_again(tmp_path, monkeypatch, model):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    with ArxivServer() as srv:
        srv.script(UNION_PATH, Reply(200, DAY.read_bytes()))
        srv.script(VISION_FIRST_PATH, Reply(200, DAY.read_bytes()))
        settings, db, cache = day_against(srv, tmp_path, model)
        run_feeds(settings, db, all_feeds(settings, db), cache=cache)
        with db.conn:  # the fetch was made yesterday, before arXiv rebuilt its feed at midnight US/Eastern
            db.conn.execute("update fetches set fetched_at = '2000-01-01T00:00:00+00:00'")
        run_day(feed_named(settings, db, "vision"), db, cache=cache)
    # A feed run alone asks for every feed's categories (its own first): the others find the day stored.
    assert [r.path for r in srv.requests] == [UNION_PATH, VISION_FIRST_PATH]


def test_a_feed_run_alone_fetches_for_every_feed_so_the_next_feeds_run_reuses_it(tmp_path, monkeypatch, model):
    """The scheduler runs each feed at its own time: the first feed's request serves the day."""
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    with ArxivServer() as srv:
        srv.script(VISION_FIRST_PATH, Reply(200, DAY.read_bytes()))
        settings, db, cache = day_against(srv, tmp_path, model)
        first = run_day(feed_named(settings, db, "vision"), db, cache=cache)
        later = run_day(feed_named(settings, db, "default"), db, cache=cache)
    assert [r.path for r in srv.requests] == [VISION_FIRST_PATH]
    assert first.status == later.status == "done" and later.report.n_scanned == 5


def test_an_empty_answer_from_arxiv_is_not_reused(tmp_path, monkeypatch, model):
    """arXiv may answer empty while it rebuilds: a later run the same day asks again."""
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    with ArxivServer() as srv:
        srv.script(UNION_PATH, Reply(200, EMPTY_DAY.read_bytes()), Reply(200, DAY.read_bytes()))
        settings, db, cache = day_against(srv, tmp_path, model)
        empty = run_feeds(settings, db, all_feeds(settings, db), cache=cache)
        again = run_feeds(settings, db, all_feeds(settings, db), cache=cache)
    assert [o.status for o in empty] == ["empty", "empty"]
    assert [r.path for r in srv.requests] == [UNION_PATH, UNION_PATH]
    assert [o.status for o in again] == ["done", "done"]


def test_arxivs_last_rebuild_is_midnight_us_eastern():
    # 23:30 in New York on the 24th (EST, UTC-5) is 04:30 UTC on the 25th.
    assert last_rebuild(datetime(2025, 2, 25, 4, 30, tzinfo=timezone.utc)) == \
        datetime(2025, 2, 24, 5, 0, tzinfo=timezone.utc)
    assert last_rebuild(datetime(2025, 7, 1, 4, 30, tzinfo=timezone.utc)) == \
        datetime(2025, 7, 1, 4, 0, tzinfo=timezone.utc)  # EDT, UTC-4


def test_a_feed_with_a_broken_criteria_file_fails_alone_with_its_message(tmp_path, monkeypatch, model):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    missing = tmp_path / "no-such.criteria.txt"
    settings = load_settings(write_settings(tmp_path, vision_criteria=missing))
    db = open_db(settings["storage.database"])
    default, vision = run_feeds(settings, db, all_feeds(settings, db), feed_file=DAY,
                                cache=EmbeddingCache(db, RecordingEmbedder(model)))
    assert (default.status, vision.status) == ("done", "failed")
    assert str(missing) in vision.message and "ranking.criteria_file" in vision.message
    assert default.paths[0].is_file() and not (tmp_path / "digests" / "vision").exists()
    assert count(db, "runs", "where feed = 'vision' and status = 'done'") == 0


def _digest(capsys, team: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--settings", str(team), "digest", "--quiet", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_digest_runs_every_feed_one_block_each(team, tmp_path, capsys):
    code, out, _ = _digest(capsys, team, "--rss", str(DAY))
    assert code == 0
    assert out.splitlines()[0] == "== feed default ==" and "== feed vision ==" in out.splitlines()
    assert (tmp_path / "digests" / "2025-02-24.md").is_file()
    assert (tmp_path / "digests" / "vision" / "2025-02-24.md").is_file()


def test_digest_feed_name_runs_only_that_feed(team, tmp_path, capsys):
    code, out, _ = _digest(capsys, team, "--feed", "vision", "--rss", str(DAY))
    assert code == 0 and "== feed vision ==" in out and "== feed default ==" not in out
    db = open_db(tmp_path / "day.sqlite")
    assert [r["feed"] for r in db.query("select feed from runs")] == ["vision"]
    assert not (tmp_path / "digests" / "2025-02-24.md").exists()


def test_digest_with_an_unknown_feed_name_names_the_feeds(team, capsys):
    code, _, err = _digest(capsys, team, "--feed", "nope", "--rss", str(DAY))
    assert code == 1 and "there is no feed 'nope'" in err and "default, vision" in err


def test_digest_exits_1_when_a_feed_failed_after_running_all(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    team = write_settings(tmp_path, vision_criteria=tmp_path / "absent.txt")
    code, out, err = _digest(capsys, team, "--rss", str(DAY))
    assert code == 1
    assert "error: feed vision: criteria file" in err and "absent.txt" in err
    assert "digest written to" in out and (tmp_path / "digests" / "2025-02-24.md").is_file()


def test_feed_given_a_saved_file_reads_it_as_rss_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    team = tmp_path / "team.toml"
    team.write_text(f'[storage]\ndatabase = "{tmp_path / "a.sqlite"}"\ndigest_dir = "{tmp_path / "d"}"\n'
                    "[arxiv]\nenrich = false\n", encoding="utf-8")
    code, out, err = _digest(capsys, team, "--feed", str(DAY))
    assert code == 0 and "now --rss FILE" in err
    assert "== feed" not in out  # one feed, default: today's output
    assert f"digest written to {tmp_path / 'd' / '2025-02-24.md'}" in out


def test_each_feeds_llm_calls_prompts_and_usage_are_its_own(tmp_path, monkeypatch, model):
    from tests.servers.openai_server import OpenAIServer

    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    team = write_settings(tmp_path)
    with team.open("a", encoding="utf-8") as fh:
        fh.write("[llm]\nbatch_size = 1\nconcurrency = 1\nprefilter_share = 1.0\nprefilter_floor = 0\n"
                 "daily_budget_usd = 0.0\n")
    with OpenAIServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        settings = load_settings(team)
        db = open_db(settings["storage.database"])
        default, vision = run_feeds(settings, db, all_feeds(settings, db), feed_file=DAY,
                                    cache=EmbeddingCache(db, RecordingEmbedder(model)))
        calls = srv.chat_calls()
    assert (default.status, vision.status) == ("done", "done")
    papers_by_feed = {}
    for r in db.query("select feed, n_papers from llm_calls"):
        papers_by_feed[r["feed"]] = papers_by_feed.get(r["feed"], 0) + r["n_papers"]
    assert papers_by_feed == {"default": 5, "vision": 1}  # the LLM's cut is over the feed's own day
    # The paper both feeds keep went out twice, each time under its feed's criteria.
    shared = [c for c in calls if c.paper_ids == list(VISION_KEPT)]
    assert len(shared) == 2 and sum("embodied" in json.dumps(c.messages) for c in shared) == 1
    assert vision.report.usage["calls"] == 1 and default.report.usage["calls"] == 5


def test_a_feed_keeps_its_categories_papers_as_new_or_cross_and_a_fetch_for_others_keeps_them(tmp_path):
    from bot import store
    from bot.models import Paper

    lg = Paper("2502.00001", "On LG", ["A"], "x", categories=["cs.LG", "cs.CV"], announce_type="new")
    cv = Paper("2502.00002", "On CV", ["B"], "y", categories=["cs.CV", "cs.LG"], announce_type="cross")
    ro = Paper("2502.00003", "On RO", ["C"], "z", categories=["cs.RO"], announce_type="new")
    seen = {p.arxiv_id: p.announce_type for p in store.kept_by_feed([lg, cv, ro], ["cs.CV"], ["new", "cross"])}
    assert seen == {"2502.00001": "cross", "2502.00002": "new"}  # by the first listed category, not arXiv's word
    assert [p.arxiv_id for p in store.kept_by_feed([lg, cv, ro], ["cs.CV"], ["new"])] == ["2502.00002"]
    db = open_db(tmp_path / "a.sqlite")
    store.save_papers(db, "2025-02-24", [lg, cv], ["cs.LG", "cs.CV"])
    store.save_papers(db, "2025-02-24", [ro], ["cs.RO"])  # another feed's fetch later that day
    assert {p.arxiv_id for p in store.load_papers(db, "2025-02-24")} == {"2502.00001", "2502.00002", "2502.00003"}
    store.save_papers(db, "2025-02-24", [lg], ["cs.LG", "cs.CV"])  # arXiv withdrew the cs.CV one
    assert {p.arxiv_id for p in store.load_papers(db, "2025-02-24")} == {"2502.00001", "2502.00003"}
