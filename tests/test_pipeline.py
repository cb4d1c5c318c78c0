"""The daily job end to end: fetch -> store -> score -> pick -> digest, on a real SQLite file
with the real local scorer. Small feeds (tests/fixtures) keep each run to seconds; one test
runs the shipped sample day through the CLI.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot import criteria as criteria_mod
from bot.config import load_settings
from bot.db import open_db
from bot.embed import Embedder, EmbeddingCache, paper_text
from bot.feed import FeedError, PoliteSession
from bot.models import Paper, Score
from bot.pipeline import rank, run_day
from bot.scoring.base import Scorer, ScoringResult
from bot.scoring.local import LocalScorer
from tests.fixtures.digest_format import parse_digest
from tests.servers.arxiv_server import ArxivServer, Reply

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DAY = FIXTURES / "rss-2025-02-24-7items.xml"
WEEKEND = FIXTURES / "rss-2025-03-01-weekend-empty.xml"
SEED = ROOT / "tests" / "fixtures" / "shared" / "seed" / "000_55ecf5fd6290fc9e.txt"  # copy of ../shared/seed
BENGIO = "2502.15657"
KEPT = ["2502.15657", "2502.15315", "2502.10603", "2502.15451", "2502.15118"]  # new + cross, feed order
DROPPED = ["2501.18616", "2501.18642"]  # replace, replace-cross


# --- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model():
    e = Embedder()
    e.load()
    return e


class RecordingEmbedder(Embedder):
    """The real embedder (sharing one loaded model) that remembers which texts it embedded."""

    def __init__(self, loaded: Embedder):
        super().__init__()
        self._session, self._tokenizer = loaded._session, loaded._tokenizer
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts += list(texts)
        return super().embed(texts)


class RecordingScorer(Scorer):
    """The real LocalScorer, remembering which papers it was asked to score."""

    def __init__(self, inner: LocalScorer):
        self.inner, self.name, self.calls = inner, inner.name, []

    def score(self, papers, criteria, date, progress=None, save=None):
        self.calls.append([p.arxiv_id for p in papers])
        return self.inner.score(papers, criteria, date, progress=progress)


class CrashingScorer(RecordingScorer):
    """Embeds the papers (so the vectors are stored) and then fails, like a scorer that
    dies half-way through a day."""

    def score(self, papers, criteria, date, progress=None, save=None):
        self.calls.append([p.arxiv_id for p in papers])
        self.inner.embed_papers(papers)
        raise RuntimeError("scorer crashed half-way")


class NoNetwork:
    """An http session that fails the test if the pipeline tries to fetch."""

    def get(self, url):
        raise AssertionError(f"unexpected fetch of {url}")


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    return load_settings().override(
        storage__digest_dir=str(tmp_path / "digests"), storage__database=str(tmp_path / "day.sqlite"),
        ranking__authors=["Yoshua Bengio"], ranking__min_relevance=7, ranking__min_novelty=1,
        ranking__max_papers=30, ranking__criteria_file="prompts/criteria.txt",
        arxiv__announce_types=["new", "cross"], arxiv__enrich=False, arxiv__categories=["cs.LG", "cs.AI"])


@pytest.fixture
def db(settings):
    return open_db(settings["storage.database"])


@pytest.fixture
def embedder(model):
    return RecordingEmbedder(model)


@pytest.fixture
def scorer(db, embedder):
    return RecordingScorer(LocalScorer(EmbeddingCache(db, embedder)))


def count(db, table: str, where: str = "", params=()) -> int:
    return db.execute(f"select count(*) from {table} {where}", list(params)).fetchone()[0]


def digest_files(settings, date="2025-02-24") -> tuple[bytes, bytes]:
    folder = settings.path("storage.digest_dir")
    return (folder / f"{date}.md").read_bytes(), (folder / f"{date}.json").read_bytes()


def run_row(db, date="2025-02-24") -> dict:
    return next(db.query("select * from runs where date = ?", [date]))


# --- a normal day -----------------------------------------------------------------------

def test_small_day_end_to_end(settings, db, scorer):
    out = run_day(settings, db, feed_file=DAY, scorer=scorer)
    assert (out.status, out.date) == ("done", "2025-02-24")
    assert out.message == f"{len(out.report.picks)} of 5 papers picked for 2025-02-24"
    assert scorer.calls == [KEPT]
    # Stored: the kept papers only, in feed order; replacements never enter the day.
    assert [r["arxiv_id"] for r in db.query("select arxiv_id from announcements order by position")] == KEPT
    assert count(db, "papers") == 5 and not [i for i in DROPPED if count(db, "papers", "where arxiv_id = ?", [i])]
    assert count(db, "scores") == 5
    row = run_row(db)
    assert (row["status"], row["n_feed"], row["n_kept"], row["n_scanned"]) == ("done", 7, 5, 5)
    assert row["scorer"] == "local:minilm" and row["criteria_version"] == 1
    # The author match comes first, commented "Author match", whatever its score.
    picks = list(db.query("select * from picks where date = '2025-02-24' order by rank"))
    assert row["n_picked"] == len(picks) >= 1
    assert (picks[0]["arxiv_id"], picks[0]["comment"], picks[0]["author_match"]) == (BENGIO, "Author match", 1)
    assert all(p["relevance"] >= 7 for p in picks[1:])
    # The digest says the same as the database.
    md, js = out.paths
    assert md.parent == settings.path("storage.digest_dir") and row["digest_md"] == str(md)
    digest = parse_digest(md.read_text(encoding="utf-8"))
    assert digest.totals == {"arxiv": 7, "scanned": 5, "relevant": len(picks)}
    assert [s.arxiv_id for s in digest.sections] == [p["arxiv_id"] for p in picks]
    assert digest.sections[0].fields["Comment"] == "Author match"
    assert digest.sections[0].fields["Matched authors"] == "Yoshua Bengio"
    data = json.loads(js.read_text(encoding="utf-8"))
    assert [p["arxiv_id"] for p in data["papers"]] == [p["arxiv_id"] for p in picks]


def test_refetch_of_a_date_keeps_exactly_the_new_announcements(db):
    from bot.store import load_papers, save_papers

    first = [_paper(i) for i in range(3)]
    save_papers(db, "2025-02-24", first)
    save_papers(db, "2025-02-24", first[1:])  # arXiv withdrew one from the day's listing
    assert [p.arxiv_id for p in load_papers(db, "2025-02-24")] == [first[1].arxiv_id, first[2].arxiv_id]
    assert count(db, "papers") == 3  # the paper itself (and any votes on it) stays
    save_papers(db, "2025-02-25", first[:1])  # other days are untouched
    assert len(load_papers(db, "2025-02-24")) == 2 and len(load_papers(db, "2025-02-25")) == 1


def test_same_date_twice_duplicates_nothing(settings, db, scorer, embedder):
    run_day(settings, db, feed_file=DAY, scorer=scorer)
    tables = ("papers", "announcements", "scores", "picks", "runs", "criteria_versions", "embeddings")
    before = {t: count(db, t) for t in tables}
    files = digest_files(settings)
    embedded = len(embedder.texts)

    again = run_day(settings, db, feed_file=DAY, scorer=scorer)
    assert again.status == "done"
    assert {t: count(db, t) for t in tables} == before
    assert digest_files(settings) == files  # byte for byte
    assert scorer.calls == [KEPT]  # every score was stored: nothing rescored
    assert len(embedder.texts) == embedded  # nor re-embedded

    # Re-rendering the stored day by date needs no feed and no network.
    by_date = run_day(settings, db, date="2025-02-24", scorer=scorer, http=NoNetwork())
    assert by_date.status == "done" and digest_files(settings) == files
    assert {t: count(db, t) for t in tables} == before


class FixedScorer(Scorer):
    """A scorer that bills like an LLM: fixed scores, a note and token usage."""

    name = "fixed:test"
    USAGE = {"model": "gpt-test", "prompt_tokens": 1200, "cached_tokens": 0, "completion_tokens": 300,
             "prompt_cost": 0.01, "completion_cost": 0.02, "cost": 0.03}

    def __init__(self):
        self.calls = []

    def score(self, papers, criteria, date, progress=None, save=None):
        self.calls.append([p.arxiv_id for p in papers])
        return ScoringResult({p.arxiv_id: Score(p.arxiv_id, 8, 5, f"fixed {p.arxiv_id}", source="llm") for p in papers},
                             notes=["Scored by a fixed test scorer."], usage=dict(self.USAGE))


def test_rerun_keeps_the_notes_and_token_table_of_the_scoring_run(settings, db):
    scorer = FixedScorer()
    first = run_day(settings, db, feed_file=DAY, scorer=scorer)
    files = digest_files(settings)
    digest = parse_digest(files[0].decode("utf-8"))
    assert digest.table["model"] == "gpt-test" and digest.table["token_total"] == "1500"
    assert "> Scored by a fixed test scorer." in files[0].decode("utf-8")
    again = run_day(settings, db, feed_file=DAY, scorer=scorer)
    assert scorer.calls == [KEPT]
    assert again.report.usage == first.report.usage and again.report.notes == first.report.notes
    assert digest_files(settings) == files
    run_day(settings, db, date="2025-02-24", scorer=scorer, http=NoNetwork())
    assert digest_files(settings) == files


def test_scores_already_stored_are_reused(settings, db, scorer):
    only_new = settings.override(arxiv__announce_types=["new"])
    run_day(only_new, db, feed_file=DAY, scorer=scorer)
    assert scorer.calls == [[i for i in KEPT if i != "2502.10603"]]
    run_day(settings, db, feed_file=DAY, scorer=scorer)
    assert scorer.calls[1] == ["2502.10603"]  # only the paper not scored yet
    assert count(db, "scores") == 5 and run_row(db)["n_scanned"] == 5


def test_new_criteria_version_rescores_the_day(settings, db, scorer):
    run_day(settings, db, feed_file=DAY, scorer=scorer)
    v2 = criteria_mod.save_version(db, "1. Mixture-of-experts routing and load balancing in large models",
                                   created_by="U1", feed="default")
    out = run_day(settings, db, feed_file=DAY, scorer=scorer)
    assert scorer.calls == [KEPT, KEPT]
    assert count(db, "scores") == 10  # one set per criteria version, the first kept
    assert run_row(db)["criteria_version"] == v2 == out.report.criteria_version
    assert count(db, "picks", "where date = '2025-02-24'") == len(out.report.picks)


# --- interrupted runs --------------------------------------------------------------------

def test_scorer_crash_keeps_the_papers_and_the_rerun_completes(settings, db, embedder):
    crashing = CrashingScorer(LocalScorer(EmbeddingCache(db, embedder)))
    with pytest.raises(RuntimeError, match="half-way"):
        run_day(settings, db, feed_file=DAY, scorer=crashing)
    row = run_row(db)
    assert row["status"] == "fetched" and row["n_kept"] == 5
    assert count(db, "papers") == 5 and count(db, "scores") == 0 and count(db, "picks") == 0
    assert not (settings.path("storage.digest_dir") / "2025-02-24.md").exists()

    embedder.texts.clear()
    scorer = RecordingScorer(LocalScorer(EmbeddingCache(db, embedder)))
    out = run_day(settings, db, date="2025-02-24", scorer=scorer, http=NoNetwork())  # no refetch
    assert out.status == "done" and run_row(db)["status"] == "done"
    assert scorer.calls == [KEPT]
    assert count(db, "papers") == 5 and count(db, "scores") == 5
    # The paper vectors computed before the crash were reused, not embedded again.
    paper_texts = {r["title"] for r in db.query("select title from papers")}
    assert not [t for t in embedder.texts if any(t.startswith(title + ".") for title in paper_texts)]
    assert out.paths[0].is_file()


def test_killed_process_then_cli_rerun_completes(tmp_path):
    settings_file = tmp_path / "team.toml"
    settings_file.write_text(f'[storage]\ndigest_dir = "{tmp_path / "digests"}"\n'
                             '[ranking]\nauthors = ["Yoshua Bengio"]\n', encoding="utf-8")
    db_path = tmp_path / "killed.sqlite"
    env = {k: v for k, v in os.environ.items() if k != "ARXIV_SETTINGS"}
    # The scorer dies the hard way (no exception handling, no cleanup) once the papers are
    # stored and their vectors embedded: what `kill -9` does half-way through a run.
    script = textwrap.dedent(f"""
        import os
        from bot.config import load_settings
        from bot.db import open_db
        from bot.embed import EmbeddingCache
        from bot.pipeline import run_day
        from bot.scoring.local import LocalScorer

        class Killed(LocalScorer):
            def score(self, papers, criteria, date, progress=None, save=None):
                self.embed_papers(papers)
                os._exit(137)

        db = open_db({str(db_path)!r})
        run_day(load_settings({str(settings_file)!r}), db, feed_file={str(DAY)!r}, scorer=Killed(EmbeddingCache(db)))
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == 137, killed.stderr
    db = open_db(db_path)
    assert run_row(db)["status"] == "fetched" and count(db, "papers") == 5 and count(db, "scores") == 0
    n_vectors = count(db, "embeddings")
    assert n_vectors >= 5
    db.conn.close()

    rerun = subprocess.run([sys.executable, "-m", "bot", "--settings", str(settings_file), "digest",
                            "--date", "2025-02-24", "--db", str(db_path), "--quiet"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "of 5 papers picked for 2025-02-24" in rerun.stdout
    assert "[author match] Superintelligent Agents Pose Catastrophic Risks" in rerun.stdout
    db = open_db(db_path)
    assert run_row(db)["status"] == "done"
    assert count(db, "papers") == 5 and count(db, "scores") == 5 and count(db, "announcements") == 5
    assert (tmp_path / "digests" / "2025-02-24.md").is_file()


# --- empty days and bad input --------------------------------------------------------------

def test_empty_feed_via_cli_is_a_normal_day_with_no_fallback(settings, db, scorer, tmp_path):
    run_day(settings, db, feed_file=DAY, scorer=scorer)  # an earlier day with papers and picks
    picks_before = list(db.query("select * from picks order by date, rank"))
    settings_file = tmp_path / "team.toml"
    settings_file.write_text(f'[storage]\ndigest_dir = "{settings.path("storage.digest_dir")}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "ARXIV_SETTINGS"}
    proc = subprocess.run([sys.executable, "-m", "bot", "--settings", str(settings_file), "digest",
                           "--rss", str(WEEKEND), "--db", settings["storage.database"]],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "no announcements for 2025-03-01"
    row = run_row(db, "2025-03-01")
    assert (row["status"], row["n_feed"], row["n_picked"]) == ("empty", 0, 0)
    assert count(db, "picks", "where date = '2025-03-01'") == 0
    assert count(db, "announcements", "where date = '2025-03-01'") == 0
    assert list(db.query("select * from picks order by date, rank")) == picks_before  # no fall-back
    assert not (settings.path("storage.digest_dir") / "2025-03-01.md").exists()
    # Asking for that day again answers the same, without fetching.
    again = run_day(settings, db, date="2025-03-01", scorer=scorer, http=NoNetwork())
    assert (again.status, again.message) == ("empty", "no announcements for 2025-03-01")


def test_empty_feed_in_process_scores_nothing(settings, db, scorer):
    out = run_day(settings, db, feed_file=WEEKEND, scorer=scorer)
    assert (out.status, out.date, out.report, out.paths) == ("empty", "2025-03-01", None, None)
    assert scorer.calls == [] and count(db, "papers") == 0 and count(db, "picks") == 0


def test_unreadable_items_are_warnings_and_the_rest_runs(settings, db, scorer, tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text(DAY.read_text(encoding="utf-8").replace(
        "<title>Tight Clusters Make Specialized Experts</title>", "<title></title>"), encoding="utf-8")
    out = run_day(settings, db, feed_file=broken, scorer=scorer)
    assert out.status == "done"
    assert out.warnings == ["skipped unreadable feed item: item 2: 2502.15315: no title"]
    assert scorer.calls == [[i for i in KEPT if i != "2502.15315"]]
    assert run_row(db)["n_feed"] == 6


def test_feed_for_another_date_is_refused_and_nothing_stored(settings, db, scorer):
    with pytest.raises(FeedError, match="the feed is for 2025-02-24, not the requested --date 2025-02-25"):
        run_day(settings, db, feed_file=DAY, date="2025-02-25", scorer=scorer)
    assert count(db, "papers") == 0 and count(db, "runs") == 0


def test_date_without_stored_papers_explains_the_feed_option(settings, db, scorer):
    with pytest.raises(FeedError, match=r"no stored papers for 2025-01-06: .*--rss FILE"):
        run_day(settings, db, date="2025-01-06", scorer=scorer, http=NoNetwork())


def test_unreadable_feed_file_is_a_feed_error(settings, db, scorer, tmp_path):
    with pytest.raises(FeedError, match=r"cannot read feed file .*absent\.xml"):
        run_day(settings, db, feed_file=tmp_path / "absent.xml", scorer=scorer)
    truncated = tmp_path / "cut.xml"
    truncated.write_bytes(DAY.read_bytes()[:4000])
    with pytest.raises(FeedError, match="truncated"):
        run_day(settings, db, feed_file=truncated, scorer=scorer)
    assert count(db, "runs") == 0


# --- fetching from the (local) network ------------------------------------------------------

def test_day_fetched_from_a_local_arxiv(settings, db, scorer):
    with ArxivServer() as srv:
        srv.script("/rss/cs.LG+cs.AI", Reply(429, b"", {"Retry-After": "5"}), Reply(200, DAY.read_bytes()))
        waits: list[float] = []
        http = PoliteSession(min_interval=3, timeout=5, max_tries=3, sleep=waits.append)
        out = run_day(settings.override(arxiv__feed_url=srv.url + "/rss/"), db, scorer=scorer, http=http)
    assert out.status == "done" and out.date == "2025-02-24"
    assert srv.hits("/rss/cs.LG+cs.AI") == 2 and waits[0] == 5.0
    assert run_row(db)["source"] == "network"


def test_categories_changed_from_slack_are_the_ones_fetched(settings, db, scorer):
    db["team_settings"].insert({"key": "categories", "value": json.dumps(["stat.ML"]), "updated_by": "U1",
                                "updated_at": "2025-02-23T00:00:00+00:00"})
    with ArxivServer() as srv:
        srv.script("/rss/stat.ML", Reply(200, WEEKEND.read_bytes()))
        fast = settings.override(arxiv__feed_url=srv.url + "/rss/", arxiv__min_interval_seconds=0)
        out = run_day(fast, db, scorer=scorer)  # the session is built from the settings
    assert out.status == "empty"
    assert [r.path for r in srv.requests] == ["/rss/stat.ML"]


def test_fetch_failure_stores_nothing(settings, db, scorer):
    with ArxivServer() as srv:
        srv.script("/rss/cs.LG+cs.AI", Reply(503, b""))
        http = PoliteSession(min_interval=0, timeout=5, max_tries=2, sleep=lambda s: None)
        with pytest.raises(FeedError, match=r"gave up after 2 tries \(HTTP 503\)"):
            run_day(settings.override(arxiv__feed_url=srv.url + "/rss/"), db, scorer=scorer, http=http)
    assert count(db, "runs") == 0 and count(db, "papers") == 0 and scorer.calls == []


# --- who gets picked ----------------------------------------------------------------------

def test_high_cutoff_still_picks_the_author_match(settings, db, scorer):
    strict = settings.override(ranking__min_relevance=10, ranking__min_novelty=10)
    out = run_day(strict, db, feed_file=DAY, scorer=scorer)
    assert [pk.paper.arxiv_id for pk in out.report.picks][:1] == [BENGIO]
    assert all(pk.score.relevance == 10 and pk.score.novelty == 10 for pk in out.report.picks[1:])


def test_same_family_name_other_person_is_not_an_author_match(settings, db, scorer):
    out = run_day(settings.override(ranking__authors=["Samy Bengio"]), db, feed_file=DAY, scorer=scorer)
    assert not any(pk.author_match for pk in out.report.picks)
    assert count(db, "picks", "where author_match = 1") == 0


def test_authors_changed_from_slack_replace_the_settings(settings, db, scorer):
    db["team_settings"].insert({"key": "authors", "value": json.dumps(["Sören Mindermann"]), "updated_by": "U1",
                                "updated_at": "2025-02-23T00:00:00+00:00"})
    out = run_day(settings.override(ranking__authors=[]), db, feed_file=DAY, scorer=scorer)
    first = out.report.picks[0]
    assert first.paper.arxiv_id == BENGIO and first.author_match == ["Sören Mindermann"]  # via S\"oren


def _paper(i: int) -> Paper:
    return Paper(arxiv_id=f"2502.{10000 + i}", title=f"P{i}", authors=[f"A{i}"], abstract="x")


def test_rank_orders_by_scores_and_never_cuts_author_matches():
    papers = [_paper(i) for i in range(8)]
    rel_nov = [(9, 9), (3, 2), (7, 1), (8, 8), (10, 5), (6, 9), (2, 2), (7, 1)]
    scores = {p.arxiv_id: Score(p.arxiv_id, r, n, "c", raw=0.1 * i, source="llm")
              for i, (p, (r, n)) in enumerate(zip(papers, rel_nov))}
    matches = {papers[1].arxiv_id: ["A1"], papers[6].arxiv_id: ["A6"], papers[3].arxiv_id: ["A3"]}
    picks = rank(papers, scores, matches, min_relevance=7, min_novelty=1, max_papers=2)
    ids = [pk.paper.arxiv_id for pk in picks]
    # Author matches first (best first), all of them; then at most 2 others above the cutoff.
    assert ids == [papers[3].arxiv_id, papers[1].arxiv_id, papers[6].arxiv_id, papers[0].arxiv_id, papers[4].arxiv_id]
    assert picks[0].author_match == ["A3"] and picks[3].author_match == []
    # Ties on relevance + novelty and relevance fall back to the scorer's raw score, then the id.
    tied = rank(papers, scores, {}, min_relevance=7, min_novelty=1, max_papers=10)
    assert [pk.paper.arxiv_id for pk in tied] == [papers[i].arxiv_id for i in (0, 3, 4, 7, 2)]
    # Local scores: novelty is a heuristic, so relevance leads, then the raw score.
    local = {k: Score(k, s.relevance, s.novelty, "c", raw=s.raw, source="local") for k, s in scores.items()}
    by_relevance = rank(papers, local, {}, min_relevance=7, min_novelty=1, max_papers=10)
    assert [pk.paper.arxiv_id for pk in by_relevance] == [papers[i].arxiv_id for i in (4, 0, 3, 7, 2)]


# --- the shipped sample day through the CLI (the one slow test: embeds 365 papers) ----------

def test_cli_sample_day_end_to_end(tmp_path):
    digests = tmp_path / "digests"
    settings_file = tmp_path / "team.toml"
    settings_file.write_text(f'[storage]\ndigest_dir = "{digests}"\n[ranking]\nauthors = ["Yoshua Bengio"]\n',
                             encoding="utf-8")
    db_path = tmp_path / "sample.sqlite"
    env = {k: v for k, v in os.environ.items() if k != "ARXIV_SETTINGS"}
    proc = subprocess.run([sys.executable, "-m", "bot", "--settings", str(settings_file), "digest", "--sample",
                           "--db", str(db_path), "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "of 365 papers picked for 2025-02-24" in proc.stdout
    assert "arXiv papers 470, scanned 365" in proc.stdout
    assert f"digest written to {digests / '2025-02-24.md'}" in proc.stdout

    ours = parse_digest((digests / "2025-02-24.md").read_text(encoding="utf-8"))
    data = json.loads((digests / "2025-02-24.json").read_text(encoding="utf-8"))
    assert ours.date == "02/24/2025" and ours.table["model"] == "local model"  # no LLM: local model, $0
    assert ours.table["cost_total"] == "$0.00"
    assert ours.totals["arxiv"] == 470 and ours.totals["scanned"] == 365
    assert ours.totals["relevant"] == len(ours.toc) == len(ours.sections) == len(data["papers"]) >= 1
    assert [(t.n, t.anchor) for t in ours.toc] == [(s.n, s.anchor) for s in ours.sections]
    assert [t.title for t in ours.toc] == [s.title for s in ours.sections]
    assert ours.sections[0].arxiv_id == BENGIO and ours.sections[0].fields["Comment"] == "Author match"
    assert [s.arxiv_id for s in ours.sections] == [p["arxiv_id"] for p in data["papers"]]
    for s in ours.sections:
        assert {"ArXiv ID", "Authors", "Abstract", "Comment", "Relevance", "Novelty"} <= set(s.fields)
        assert s.fields["ArXiv ID"] == s.arxiv_id and s.url == f"https://arxiv.org/abs/{s.arxiv_id}"
        assert 1 <= int(s.fields["Relevance"]) <= 10 and 1 <= int(s.fields["Novelty"]) <= 10

    if SEED.is_file():  # the seed's day, read with the same regexes: same header, same fields
        seed = parse_digest(SEED.read_text(encoding="utf-8"))
        assert ours.date == seed.date
        assert seed.sections[0].arxiv_id == ours.sections[0].arxiv_id == BENGIO
        seed_fields = set().union(*(s.fields for s in seed.sections))
        ours_fields = set().union(*(s.fields for s in ours.sections))
        assert seed_fields <= ours_fields
        # The seed printed the feed's LaTeX as is (S\"oren); ours reads as meant.
        assert ours.sections[0].fields["Authors"] == seed.sections[0].fields["Authors"].replace('S\\"oren', "Sören")

    db = open_db(db_path)
    row = run_row(db)
    assert (row["status"], row["n_feed"], row["n_scanned"], row["n_picked"]) == ("done", 470, 365, len(ours.sections))
    assert count(db, "scores") == 365 and count(db, "embeddings") >= 365
    assert not [t for t in (paper_text(p["title"], p["abstract"]) for p in data["papers"]) if not t]


def test_cli_reports_a_crash_mid_run_in_one_line_and_keeps_what_was_stored(tmp_path, monkeypatch, capsys):
    """An unexpected failure while scoring: one line naming it and how to resume, no
    traceback (unless -v), exit 1, and the stored papers are there for the re-run."""
    from bot import cli, pipeline

    class Outage(LocalScorer):
        def score(self, papers, criteria, date, progress=None, save=None):
            raise ConnectionResetError("scoring backend went away")

    monkeypatch.setattr(pipeline, "make_scorer", lambda settings, db, **kw: Outage(EmbeddingCache(db)))
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    team = tmp_path / "team.toml"
    db_path = tmp_path / "crash.sqlite"
    team.write_text(f'[storage]\ndatabase = "{db_path}"\ndigest_dir = "{tmp_path / "digests"}"\n', encoding="utf-8")
    assert cli.main(["--settings", str(team), "digest", "--rss", str(DAY), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error: digest stopped: ConnectionResetError: scoring backend went away" in err
    assert "re-run the same command to resume" in err and "Traceback" not in err
    assert count(open_db(db_path), "papers") == 5
    assert cli.main(["--settings", str(team), "-v", "digest", "--rss", str(DAY), "--quiet"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_database_deleted_mid_run_is_an_error_not_a_quiet_loss(tmp_path, monkeypatch, capsys):
    """The file is deleted while the day is scored: SQLite writes on into the deleted file,
    so the run must say the results are gone (exit 1) instead of reporting a finished day."""
    from bot import cli, pipeline

    db_path = tmp_path / "doomed.sqlite"

    class DeletesTheDatabase(LocalScorer):
        def score(self, papers, criteria, date, progress=None, save=None):
            db_path.unlink()
            return super().score(papers, criteria, date, progress=progress)

    monkeypatch.setattr(pipeline, "make_scorer", lambda settings, db, **kw: DeletesTheDatabase(EmbeddingCache(db)))
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    team = tmp_path / "team.toml"
    team.write_text(f'[storage]\ndatabase = "{db_path}"\ndigest_dir = "{tmp_path / "digests"}"\n', encoding="utf-8")
    assert cli.main(["--settings", str(team), "digest", "--rss", str(DAY), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert f"the database {db_path} was deleted while this run was using it" in err
    assert "is lost" in err and "papers picked" not in out and not db_path.exists()


# --- one run of a day at a time (bot/run_lock.py) --------------------------------------------

def _hold_lease(db, date: str, holder: str, expires_in: float) -> None:
    import time

    with db.conn:
        db.conn.execute("insert into run_leases (date, holder, acquired_at, expires) values (?,?,?,?)",
                        [date, holder, "2025-02-24T06:00:00+00:00", time.time() + expires_in])


def test_a_live_holder_makes_the_run_wait_then_stop_saying_who(settings, db, scorer):
    from bot.run_lock import RunInProgress, this_host

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _hold_lease(db, "2025-02-24", f"{this_host()}:{sleeper.pid}:1", expires_in=600)
        said = []
        with pytest.raises(RunInProgress) as err:
            run_day(settings, db, feed_file=DAY, scorer=scorer, wait_seconds=0.5, notify=said.append)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert said == [f"a run for 2025-02-24 is in progress (process {sleeper.pid} on {os.uname().nodename}, "
                    "since 2025-02-24 06:00:00 UTC); waiting for it to finish (up to 0.5 s), "
                    "then this run uses what it stored"]
    assert f"still in progress (process {sleeper.pid}" in str(err.value)
    # The day's fetch is every feed's, stored before any feed's lease; this feed's run did nothing.
    assert scorer.calls == [] and count(db, "scores") == 0 and count(db, "runs") == 0


@pytest.mark.parametrize("holder_kind", ["dead-process-this-host", "expired-other-host"])
def test_a_dead_holder_is_taken_over_at_once(settings, db, scorer, holder_kind):
    from bot.run_lock import this_host

    if holder_kind == "dead-process-this-host":
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        _hold_lease(db, "2025-02-24", f"{this_host()}:{int(gone.stdout)}:1", expires_in=600)
    else:
        _hold_lease(db, "2025-02-24", "elsewhere#1:4242:1", expires_in=-1)
    out = run_day(settings, db, feed_file=DAY, scorer=scorer, wait_seconds=0)
    assert out.status == "done" and scorer.calls == [KEPT]
    assert count(db, "run_leases") == 0  # released when the run ended


def draws_progress(stderr: str) -> bool:
    """A tqdm bar was drawn: its rate reads `12.3paper/s` or `1.50s/paper`."""
    import re

    return re.search(r"paper/s|s/paper", stderr) is not None


def test_two_digest_processes_at_once_one_embeds_and_the_other_waits(tmp_path):
    """`python -m bot digest --sample` twice at once on one database: one process embeds and
    scores the day; the other says which process runs it, waits, then renders the stored day."""
    settings_file = tmp_path / "team.toml"
    settings_file.write_text(f'[storage]\ndigest_dir = "{tmp_path / "digests"}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "ARXIV_SETTINGS"}
    cmd = [sys.executable, "-m", "bot", "digest", "--sample", "--db", str(tmp_path / "shared.sqlite"),
           "--settings", str(settings_file)]  # not --quiet: the progress bar shows who embeds
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in procs]
    results = [(p.pid, p.returncode, err, out) for p, (out, err) in zip(procs, outputs)]
    assert [rc for _, rc, _, _ in results] == [0, 0], results
    embedded = [r for r in results if draws_progress(r[2])]
    waited = [r for r in results if not draws_progress(r[2])]
    assert len(embedded) == 1 and len(waited) == 1, results
    assert f"a run for 2025-02-24 is in progress (process {embedded[0][0]} on " in waited[0][2]
    assert "the other run for 2025-02-24 has ended; going on with what it stored" in waited[0][2]
    assert not [r for r in results if "locked" in r[2]]
    picked = [next(line for line in out.splitlines() if "papers picked for 2025-02-24" in line)
              for _, _, _, out in results]
    assert picked[0] == picked[1] and "of 365 papers picked" in picked[0]


class HalfProvisionalScorer(FixedScorer):
    """Like an LLM that failed for half the papers: those get a local stand-in, shown in the
    digest but not stored, so a plain re-run of the day would score them again."""

    name = "fixed:half-provisional"
    provisional_sources = ("local-fallback",)

    def score(self, papers, criteria, date, progress=None, save=None):
        result = super().score(papers, criteria, date)
        for p in papers[::2]:
            result.scores[p.arxiv_id] = Score(p.arxiv_id, 7, 4, "stand-in", source="local-fallback")
        return result

    def label(self, picks, day):
        # Like the LLM scorer's label: a day partly scored by stand-ins says so.
        stand_ins = sum(s.source == "local-fallback" for s in picks)
        return f"{self.name} ({stand_ins} of {len(picks)} picks by stand-ins)" if stand_ins else self.name


def _release_lease_soon(settings, date: str, after: float):
    """The other run of the day ends `after` seconds from now (its lease goes, from its own connection)."""
    import threading

    def release():
        other = open_db(settings["storage.database"])
        with other.conn:
            other.conn.execute("delete from run_leases where date = ?", [date])
        other.conn.close()

    timer = threading.Timer(after, release)
    timer.start()
    return timer


def test_a_run_that_waited_for_a_finished_day_renders_it_without_scoring_or_storing(settings, db):
    from bot.run_lock import this_host

    scorer = HalfProvisionalScorer()
    first = run_day(settings, db, feed_file=DAY, scorer=scorer)
    files, row = digest_files(settings), run_row(db)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # the other run (a live process) holds the day, and ends while this one waits
        _hold_lease(db, "2025-02-24", f"{this_host()}:{sleeper.pid}:1", expires_in=600)
        timer = _release_lease_soon(settings, "2025-02-24", after=0.5)
        said = []
        second = run_day(settings, db, feed_file=DAY, scorer=scorer, wait_seconds=30, notify=said.append)
        timer.join()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert len(said) == 2 and "has ended" in said[1]
    assert scorer.calls == [KEPT]  # the stand-ins were not sent to the "LLM" again
    assert run_row(db) == row  # not reset to fetched, not re-finished: nothing stored again
    assert digest_files(settings) == files
    assert second.status == "done" and second.message == first.message and second.paths == first.paths
    assert [(pk.paper.arxiv_id, pk.score.relevance, pk.score.novelty, pk.score.source) for pk in second.report.picks] == \
        [(pk.paper.arxiv_id, pk.score.relevance, pk.score.novelty, pk.score.source) for pk in first.report.picks]
    assert second.report.scorer == first.report.scorer != scorer.name  # the run's label, not the scorer's name
    assert second.report.notes == first.report.notes and second.report.usage == first.report.usage


def test_a_run_taken_over_while_it_stalled_writes_no_picks_or_digest(settings, db, scorer, monkeypatch):
    """It stalled past its lease (a frozen process); another process took the day over. Its
    heartbeat finds the lease gone and the run stops before writing its results."""
    from bot import run_lock

    monkeypatch.setattr(run_lock, "HEARTBEAT_SECONDS", 0.05)
    took_over = []

    class StallsThenFindsItTakenOver(RecordingScorer):
        def score(self, papers, criteria, date, progress=None, save=None):
            result = super().score(papers, criteria, date, progress=progress)
            other = open_db(settings["storage.database"])
            with other.conn:
                other.conn.execute("update run_leases set holder = 'elsewhere#1:4242:1', "
                                   "acquired_at = '2025-02-24T07:00:00+00:00' where date = ?", [date])
            other.conn.close()
            took_over.append(True)
            return result

    stalled = StallsThenFindsItTakenOver(scorer.inner)
    with pytest.raises(run_lock.RunLeaseLost) as err:
        run_day(settings, db, feed_file=DAY, scorer=stalled)
    assert took_over and "another process (process 4242 on elsewhere, since 2025-02-24 07:00:00 UTC)" in str(err.value)
    assert count(db, "picks") == 0 and run_row(db)["status"] != "done"
    assert not (settings.path("storage.digest_dir") / "2025-02-24.md").exists()
    assert count(db, "run_leases", "where holder = 'elsewhere#1:4242:1'") == 1  # the new holder's lease is left alone


def test_the_heartbeat_of_a_lease_taken_over_stops_claiming_it(db, monkeypatch):
    from bot import run_lock

    monkeypatch.setattr(run_lock, "HEARTBEAT_SECONDS", 0.02)
    with run_lock.RunLease(db, "2025-02-24", feed="default") as lease:
        with db.conn:
            db.conn.execute("update run_leases set holder = 'elsewhere#1:4242:1', expires = 1 where date = '2025-02-24'")
        assert lease.heartbeat.lost.wait(timeout=10)
        lease.heartbeat.join(timeout=10)
        assert not lease.heartbeat.is_alive()
        with pytest.raises(run_lock.RunLeaseLost):
            lease.ensure_held()
    assert db.execute("select expires from run_leases").fetchone()[0] == 1  # never refreshed for the old holder


def test_a_day_stored_before_picks_kept_their_source_reads_back_with_its_scores_sources(settings, db):
    """The migration that adds picks.source fills it in from the stored scores, so a day picked
    by an older version does not read back with the scorer's name as every pick's source."""
    from bot.pipeline import stored_report

    first = run_day(settings, db, feed_file=DAY, scorer=FixedScorer())
    with db.conn:  # the day as the code before the migration left it
        db.conn.execute("alter table picks drop column source")
        db.conn.execute("alter table runs drop column scorer_label")
        db.conn.execute("delete from _migrations where name = 'm009_pick_sources'")
    migrated = open_db(settings["storage.database"])
    stored = stored_report(settings, migrated, "2025-02-24")
    assert [(pk.paper.arxiv_id, pk.score.source) for pk in stored.picks] == \
        [(pk.paper.arxiv_id, pk.score.source) for pk in first.report.picks]
    assert {pk.score.source for pk in stored.picks} == {"llm"} and stored.scorer == first.report.scorer


def _stderr_collector(proc: subprocess.Popen) -> list[str]:
    """What the process writes to stderr so far, read in chunks (tqdm redraws with \\r)."""
    import threading

    chunks: list[str] = []

    def read() -> None:
        for chunk in iter(lambda: os.read(proc.stderr.fileno(), 4096), b""):
            chunks.append(chunk.decode("utf-8", "replace"))

    threading.Thread(target=read, daemon=True).start()
    return chunks


def test_a_database_emptied_in_place_mid_run_is_one_error_naming_it(tmp_path):
    """`: > db.sqlite` while `digest --sample` embeds: in WAL mode SQLite goes on answering from
    the -wal file, so nothing fails by itself. The run must say, in one error line naming the
    file, that what it stored is lost (exit 1), and the heartbeat must not log raw SQLite errors."""
    import time

    db_path = tmp_path / "db.sqlite"
    settings_file = tmp_path / "s.toml"
    settings_file.write_text(f'[storage]\ndatabase = "{db_path}"\ndigest_dir = "{tmp_path / "dig"}"\n',
                             encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "ARXIV_SETTINGS"}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "digest", "--sample", "--settings", str(settings_file)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    said = _stderr_collector(proc)
    deadline = time.monotonic() + 600
    while not draws_progress("".join(said)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert draws_progress("".join(said)), "".join(said)  # the run is embedding: the file is in use
    with open(db_path, "r+b") as file:  # what `: > db.sqlite` does: same file, emptied
        file.truncate(0)
    out = proc.stdout.read().decode()
    proc.wait(timeout=600)
    time.sleep(0.2)  # the reader thread drains the last of stderr
    err = "".join(said)
    assert proc.returncode == 1, (out, err)
    naming = [line for line in err.replace("\r", "\n").splitlines() if str(db_path) in line]
    assert len(naming) == 1 and naming[0].startswith("error:"), err
    assert "while this run was using it" in naming[0] and "may be lost" in naming[0]
    assert "could not refresh" not in err and "Traceback" not in err and "papers picked" not in out


def test_a_heartbeat_that_finds_its_table_gone_marks_the_lease_lost_with_the_file_named(tmp_path, monkeypatch,
                                                                                      caplog):
    """The file emptied in place after a checkpoint: the heartbeat's own connection finds no
    run_leases table. It stops and says why through the run (one DatabaseFileError naming the
    file), instead of logging SQLite's words every beat."""
    import logging

    from bot import run_lock
    from bot.db import DatabaseFileError

    monkeypatch.setattr(run_lock, "HEARTBEAT_SECONDS", 0.02)
    db_path = tmp_path / "db.sqlite"
    db = open_db(db_path)
    with caplog.at_level(logging.WARNING, logger="bot.run_lock"):
        with pytest.raises(DatabaseFileError) as err:
            with run_lock.RunLease(db, "2025-02-24", feed="default") as lease:
                db.execute("pragma wal_checkpoint(truncate)")
                with open(db_path, "r+b") as file:
                    file.truncate(0)
                assert lease.heartbeat.lost.wait(timeout=10)
                assert "its table run_leases is gone" in lease.heartbeat.file_changed
                lease.ensure_held()
    assert str(err.value).startswith(f"the database {db_path} ")
    assert "while this run was using it" in str(err.value) and "may be lost" in str(err.value)
    assert not [r for r in caplog.records if "could not refresh" in r.getMessage()]
