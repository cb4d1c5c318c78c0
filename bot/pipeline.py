"""The daily job with no Slack: fetch -> store -> score -> pick -> digest.

Every step records its result in SQLite before the next starts, so re-running a date
is idempotent (nothing is duplicated) and an interrupted run resumes where it stopped
(papers are not fetched again, scores already stored are not recomputed or re-billed).
"""
from __future__ import annotations

import json
import logging
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path
from typing import Callable

from . import criteria as criteria_mod
from . import run_lock, store
from .authors import AuthorMatcher
from .config import Settings
from .db import check_file_unchanged, now
from .digest import DayReport, Pick, write
from .feed import Feed, FeedError, PoliteSession, fetch_feed, parse_feed, select
from .models import Paper, Score

log = logging.getLogger(__name__)
SAMPLE_FEED = Path(__file__).resolve().parent.parent / "data" / "samples" / "2025-02-24.xml"


@dataclass
class RunOutcome:
    date: str | None
    status: str  # done | empty | failed
    message: str
    report: DayReport | None = None
    paths: tuple[Path, Path] | None = None
    warnings: list[str] = field(default_factory=list)


def _run_row(db, date: str) -> dict | None:
    return next(db.query("select * from runs where date = ?", [date]), None)


def _set_run(db, date: str, **fields) -> None:
    row = _run_row(db, date)
    with db.conn:
        if row is None:
            db["runs"].insert({"date": date, "started_at": now(), "attempts": 1, **fields})
        else:
            db["runs"].update(date, fields)


def watched_authors(settings: Settings, db) -> list[str]:
    """Configured authors plus those added from Slack (team_settings 'authors')."""
    import json

    names = list(settings["ranking.authors"])
    row = next(db.query("select value from team_settings where key = 'authors'"), None)
    if row:
        names = json.loads(row["value"])
    return names


def team_categories(settings: Settings, db) -> list[str]:
    import json

    row = next(db.query("select value from team_settings where key = 'categories'"), None)
    return json.loads(row["value"]) if row else list(settings["arxiv.categories"])


def load_feed(settings: Settings, db, feed_file: str | Path | None, http: PoliteSession | None = None) -> Feed:
    if feed_file is not None:
        path = Path(feed_file)
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise FeedError(f"cannot read feed file {path}: {exc.strerror}") from None
        return parse_feed(body, source=str(path))
    http = http or PoliteSession(min_interval=settings["arxiv.min_interval_seconds"],
                                 timeout=settings["arxiv.timeout_seconds"], max_tries=settings["arxiv.max_tries"])
    return fetch_feed(team_categories(settings, db), http, base=settings["arxiv.feed_url"])


def rank(papers: list[Paper], scores: dict[str, Score], matches: dict[str, list[str]],
         min_relevance: int, min_novelty: int, max_papers: int) -> list[Pick]:
    """Author matches first (never cut), then the best-scored papers above the cutoffs.

    Scores rank by relevance + novelty, as the seed's digest does, except in a local-only
    run (source "local"): there novelty is only a heuristic (distance from recent papers),
    so relevance counts twice. In an LLM run, local stand-ins (below the cut, fallbacks)
    keep relevance + novelty, so they never jump ahead of the LLM's own judgements."""
    def key(p: Paper):
        s = scores[p.arxiv_id]
        novelty = s.relevance if s.source == "local" else s.novelty
        return (-(s.relevance + novelty), -s.relevance, -s.raw, p.arxiv_id)

    authored = sorted((p for p in papers if matches.get(p.arxiv_id)), key=key)
    others = sorted((p for p in papers if not matches.get(p.arxiv_id) and
                     scores[p.arxiv_id].relevance >= min_relevance and
                     scores[p.arxiv_id].novelty >= min_novelty), key=key)
    return ([Pick(p, scores[p.arxiv_id], matches[p.arxiv_id]) for p in authored] +
            [Pick(p, scores[p.arxiv_id]) for p in others[:max_papers]])


def make_scorer(settings: Settings, db, *, batch_api: bool | None = None):
    """The scorer for this run: the local one, unless an LLM is configured (OPENAI_API_KEY,
    OPENAI_BASE_URL or llm.base_url); then the LLM scores and the local one pre-filters."""
    from .embed import EmbeddingCache
    from .scoring.local import LocalScorer
    from .scoring.openai_scorer import build_openai_scorer, llm_configured

    local = LocalScorer(EmbeddingCache(db))
    if llm_configured(settings):
        return build_openai_scorer(settings, db, local, AuthorMatcher(watched_authors(settings, db)),
                                   batch_api=batch_api)
    from .learn import LearnConfig, TasteScorer, has_feedback

    if settings["learning.enabled"] and has_feedback(db):
        # The team has voted: blend its learned taste into the local relevance (issue 5).
        return TasteScorer(local, db, local.cache, LearnConfig.from_settings(settings))
    return local


def run_day(settings: Settings, db, *, feed_file: str | Path | None = None, date: str | None = None,
            scorer=None, http: PoliteSession | None = None, progress: Callable | None = None,
            write_digest: bool = True, notify: Callable[[str], None] | None = None,
            wait_seconds: float = run_lock.WAIT_SECONDS) -> RunOutcome:
    """Run (or resume, or re-render) one announcement day.

    One process at a time per day: once the day is known this run takes its lease (waiting
    for another holder, telling `notify` who), so a second run reuses the first one's work.
    A database file deleted or replaced meanwhile is a DatabaseFileError, not a quiet loss."""
    with ExitStack() as held:
        def hold(day: str) -> None:
            held.enter_context(run_lock.RunLease(db, day, wait_seconds=wait_seconds, notify=notify))

        outcome = _run_day(settings, db, hold, feed_file=feed_file, date=date, scorer=scorer, http=http,
                           progress=progress, write_digest=write_digest)
    check_file_unchanged(db)
    return outcome


def _run_day(settings: Settings, db, hold: Callable[[str], None], *, feed_file: str | Path | None,
             date: str | None, scorer, http: PoliteSession | None, progress: Callable | None,
             write_digest: bool) -> RunOutcome:
    warnings: list[str] = []
    if date and feed_file is None:
        hold(date)
        row = _run_row(db, date)
        if row is None or row["status"] not in ("fetched", "scored", "done"):
            if row and row["status"] == "empty":
                return RunOutcome(date, "empty", f"no announcements for {date}")
            raise FeedError(f"no stored papers for {date}: arXiv's feed only serves the latest "
                            "announcement day; pass --feed FILE to score a saved feed for another day")
        papers = store.load_papers(db, date)
        n_feed = row["n_feed"]
    else:
        feed = load_feed(settings, db, feed_file, http)
        if feed.skipped:
            warnings += [f"skipped unreadable feed item: {s}" for s in feed.skipped]
        warnings += [f"repaired the feed at {s}" for s in feed.repaired]
        feed_date = feed.date.isoformat() if feed.date else None
        if date and feed_date and date != feed_date:
            raise FeedError(f"the feed is for {feed_date}, not the requested --date {date}")
        day = date or feed_date or Date.today().isoformat()
        hold(day)
        if feed.empty:
            # Weekends and holidays: a normal day with nothing to do. Never fall back to older papers.
            _set_run(db, day, status="empty", n_feed=0, n_kept=0, n_scanned=0, n_picked=0, finished_at=now())
            return RunOutcome(day, "empty", f"no announcements for {day}", warnings=warnings)
        date = day
        papers = select(feed, settings["arxiv.announce_types"])
        n_feed = len(feed.papers)
        store.save_papers(db, date, papers)
        _set_run(db, date, status="fetched", source=str(feed_file or "network"), n_feed=n_feed,
                 n_kept=len(papers), error=None)
        if settings["arxiv.enrich"]:
            from .enrich import enrich

            warnings += enrich(db, papers)
            papers = store.load_papers(db, date)

    crit, said = criteria_mod.for_run(db, settings.path("ranking.criteria_file"))
    warnings += said
    scorer = scorer or make_scorer(settings, db)
    ids = [p.arxiv_id for p in papers]
    have = store.load_scores(db, scorer.name, crit.version, ids)
    todo = [p for p in papers if p.arxiv_id not in have]
    notes: list[str] = []
    usage: dict = {}
    if todo:
        extra: dict = {}
        if _accepts_progress(scorer):
            extra["progress"] = progress
        if _accepts(scorer, "save"):
            # An LLM scorer stores each batch as it arrives: an interrupted run re-bills nothing.
            extra["save"] = lambda scores: store.save_scores(db, scorer.name, crit.version, date, scores)
        result = scorer.score(todo, crit, date, **extra)
        missing = [p.arxiv_id for p in todo if p.arxiv_id not in result.scores]
        if missing:
            raise RuntimeError(f"scorer {scorer.name} returned no score for {len(missing)} papers, e.g. {missing[:3]}")
        # Provisional scores (the LLM failed, the budget ran out) are shown, not stored: a
        # re-run of the day tries those papers again.
        provisional = getattr(scorer, "provisional_sources", ())
        store.save_scores(db, scorer.name, crit.version, date,
                          [s for s in result.scores.values() if s.source not in provisional])
        have.update(result.scores)
        notes += result.notes
        warnings += result.warnings  # one line when the LLM failed (its notes say the rest)
        usage = result.usage
    elif (prior := _run_row(db, date)) and prior["scorer"] == scorer.name and prior["criteria_version"] == crit.version:
        # Every score was stored (a re-run or a re-render): keep what the scoring run told the
        # reader, so the same day renders the same digest.
        notes = json.loads(prior["notes"] or "[]")
        usage = json.loads(prior["usage"] or "{}")
    _set_run(db, date, status="scored", scorer=scorer.name, criteria_version=crit.version, n_scanned=len(papers),
             notes=json.dumps(notes), usage=json.dumps(usage))

    matcher = AuthorMatcher(watched_authors(settings, db))
    matches = {p.arxiv_id: m for p in papers if (m := matcher.match(p.authors))}
    picks = rank(papers, have, matches, settings["ranking.min_relevance"], settings["ranking.min_novelty"],
                 settings["ranking.max_papers"])
    if callable(explain := getattr(scorer, "explain", None)):
        # Feedback-driven ranking says why: "close to 2 papers the team liked: ...".
        why = explain([pk.paper for pk in picks])
        for pk in picks:
            pk.why = pk.why or why.get(pk.paper.arxiv_id, "")
    with db.conn:
        db.conn.execute("delete from picks where date = ?", (date,))
        db.conn.executemany(
            "insert into picks (date, rank, arxiv_id, relevance, novelty, comment, author_match, scorer) values (?,?,?,?,?,?,?,?)",
            [(date, i, pk.paper.arxiv_id, pk.score.relevance, pk.score.novelty,
              "Author match" if pk.author_match else pk.score.comment, int(bool(pk.author_match)), scorer.name)
             for i, pk in enumerate(picks, 1)])
    report = DayReport(date=date, n_feed=n_feed, n_scanned=len(papers), picks=picks, scorer=scorer.name,
                       criteria_text=crit.text, criteria_version=crit.version, usage=usage, notes=notes,
                       prompt_text=getattr(scorer, "last_prefix", ""))
    paths = None
    if write_digest:
        paths = write(report, settings.path("storage.digest_dir"))
    _set_run(db, date, status="done", n_picked=len(picks), finished_at=now(),
             digest_md=str(paths[0]) if paths else None, digest_json=str(paths[1]) if paths else None)
    return RunOutcome(date, "done", f"{len(picks)} of {len(papers)} papers picked for {date}", report, paths, warnings)


def _accepts_progress(scorer) -> bool:
    return _accepts(scorer, "progress")


def _accepts(scorer, parameter: str) -> bool:
    import inspect

    return parameter in inspect.signature(scorer.score).parameters


def print_warnings(outcome: RunOutcome) -> None:
    for w in outcome.warnings:
        print(f"warning: {w}", file=sys.stderr)
