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
from . import feedback, run_lock, store
from . import picks as picks_mod
from .authors import AuthorMatcher
from .config import Settings
from .db import check_file_unchanged, now
from .digest import DayReport, Pick, write
from .feed import Feed, FeedError, PoliteSession, fetch_feed, parse_feed, select
from .llm import usage as llm_usage
from .models import Paper, Score
from .progress import Progress
from .scoring.base import LLM_SOURCES, Scorer
from .team_settings import team_categories, watched_authors

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

    Scores rank by relevance + novelty, as the seed's digest does, where an LLM scored some
    of the candidates; the local stand-ins among them (below the cut, fallbacks) keep
    relevance + novelty, so they never jump ahead of the LLM's own judgements. Where none was
    scored by an LLM (a local run, or an LLM run whose calls all failed), novelty is only a
    heuristic (distance from recent papers), so relevance counts twice."""
    authored = [p for p in papers if matches.get(p.arxiv_id)]
    others = [p for p in papers if not matches.get(p.arxiv_id) and scores[p.arxiv_id].relevance >= min_relevance
              and scores[p.arxiv_id].novelty >= min_novelty]
    by_llm = any(scores[p.arxiv_id].source in LLM_SOURCES for p in authored + others)

    def key(p: Paper):
        s = scores[p.arxiv_id]
        novelty = s.novelty if by_llm else s.relevance
        return (-(s.relevance + novelty), -s.relevance, -s.raw, p.arxiv_id)

    authored.sort(key=key)
    others.sort(key=key)
    return ([Pick(p, scores[p.arxiv_id], matches[p.arxiv_id]) for p in authored] +
            [Pick(p, scores[p.arxiv_id]) for p in others[:max_papers]])


def make_scorer(settings: Settings, db, *, batch_api: bool | None = None) -> Scorer:
    """The scorer for this run: the local one, unless an LLM is configured (OPENAI_API_KEY,
    OPENAI_BASE_URL or llm.base_url); then the LLM scores and the local one pre-filters."""
    from .embed import EmbeddingCache
    from .scoring.local import LocalScorer
    from .scoring.openai_scorer import build_openai_scorer, llm_configured

    local = LocalScorer(EmbeddingCache(db))
    if llm_configured(settings):
        return build_openai_scorer(settings, db, local, AuthorMatcher(watched_authors(settings, db)),
                                   batch_api=batch_api)
    from .learn import LearnConfig
    from .scoring.taste import TasteScorer

    if settings["learning.enabled"] and feedback.has_votes(db):
        # The team has voted: blend its learned taste into the local relevance, so the ranking
        # follows what the team liked and not only how the criteria are worded.
        return TasteScorer(local, db, local.cache, LearnConfig.from_settings(settings))
    return local


def run_day(settings: Settings, db, *, feed_file: str | Path | None = None, date: str | None = None,
            scorer: Scorer | None = None, http: PoliteSession | None = None, progress: Progress | None = None,
            write_digest: bool = True, notify: Callable[[str], None] | None = None,
            wait_seconds: float = run_lock.WAIT_SECONDS) -> RunOutcome:
    """Run (or resume, or re-render) one announcement day.

    One process at a time per day: once the day is known this run takes its lease (waiting
    for another holder, telling `notify` who), so a second run reuses the first one's work.
    A database file deleted or replaced meanwhile is a DatabaseFileError, not a quiet loss."""
    try:
        with ExitStack() as held:
            def hold(day: str) -> run_lock.RunLease:
                return held.enter_context(run_lock.RunLease(db, day, wait_seconds=wait_seconds, notify=notify))

            outcome = _run_day(settings, db, hold, feed_file=feed_file, date=date, scorer=scorer, http=http,
                               progress=progress, write_digest=write_digest)
    except Exception:
        check_file_unchanged(db)  # a run that failed because its file changed under it says so
        raise
    check_file_unchanged(db)
    return outcome


@dataclass
class _Day:
    """The papers of the day being run, and what the run has to tell."""
    date: str
    papers: list[Paper]
    n_feed: int
    lease: run_lock.RunLease
    warnings: list[str] = field(default_factory=list)


def _run_day(settings: Settings, db, hold: Callable[[str], run_lock.RunLease], *, feed_file: str | Path | None,
             date: str | None, scorer: Scorer | None, http: PoliteSession | None, progress: Progress | None,
             write_digest: bool) -> RunOutcome:
    day = _fetch_day(settings, db, hold, feed_file=feed_file, date=date, http=http)
    if isinstance(day, RunOutcome):
        return day
    if day.lease.waited and _is_done(db, day.date):
        # Another run of this day finished while this one waited: its digest is the day's.
        return _stored_outcome(settings, db, day)
    crit, said = criteria_mod.for_run(db, settings.path("ranking.criteria_file"))
    day.warnings += said
    scorer = scorer or make_scorer(settings, db)
    scores, notes, usage = _score_day(db, day, crit, scorer, progress)
    day.lease.ensure_held()  # a run taken over while it stalled must not overwrite the new holder's day
    picks = _pick(settings, db, day, scores, scorer)
    report = DayReport(date=day.date, n_feed=day.n_feed, n_scanned=len(day.papers), picks=picks,
                       scorer=scorer.label([pk.score for pk in picks], list(scores.values())),
                       criteria_text=crit.text, criteria_version=crit.version, usage=usage, notes=notes,
                       prompt_text=scorer.last_prefix)
    return _render(settings, db, day, report, write_digest)


def _fetch_day(settings: Settings, db, hold: Callable[[str], run_lock.RunLease], *, feed_file: str | Path | None,
               date: str | None, http: PoliteSession | None) -> _Day | RunOutcome:
    """The day's papers: the stored ones for a --date without a feed, else the feed's, stored
    (an empty day is an outcome of its own). Holds the day's lease from when the day is known."""
    if date and feed_file is None:
        return _stored_day(db, date, hold(date))
    feed = load_feed(settings, db, feed_file, http)
    warnings = [f"skipped unreadable feed item: {s}" for s in feed.skipped]
    warnings += [f"repaired the feed at {s}" for s in feed.repaired]
    feed_date = feed.date.isoformat() if feed.date else None
    if date and feed_date and date != feed_date:
        raise FeedError(f"the feed is for {feed_date}, not the requested --date {date}")
    date = date or feed_date or Date.today().isoformat()
    lease = hold(date)
    if lease.waited and _is_done(db, date):
        # The run waited for finished the day from the same feed: nothing to store again.
        day = _stored_day(db, date, lease)
        day.warnings = warnings
        return day
    if feed.empty:
        # Weekends and holidays: a normal day with nothing to do. Never fall back to older papers.
        _set_run(db, date, status="empty", n_feed=0, n_kept=0, n_scanned=0, n_picked=0, finished_at=now())
        return RunOutcome(date, "empty", f"no announcements for {date}", warnings=warnings)
    papers = select(feed, settings["arxiv.announce_types"])
    store.save_papers(db, date, papers)
    _set_run(db, date, status="fetched", source=str(feed_file or "network"), n_feed=len(feed.papers),
             n_kept=len(papers), error=None)
    if settings["arxiv.enrich"]:
        from .enrich import enrich

        warnings += enrich(db, papers)
        papers = store.load_papers(db, date)
    return _Day(date, papers, len(feed.papers), lease, warnings)


def _stored_day(db, date: str, lease: run_lock.RunLease) -> _Day | RunOutcome:
    row = _run_row(db, date)
    if row and row["status"] == "empty":
        return RunOutcome(date, "empty", f"no announcements for {date}")
    if row is None or row["status"] not in ("fetched", "scored", "done"):
        raise FeedError(f"no stored papers for {date}: arXiv's feed only serves the latest "
                        "announcement day; pass --feed FILE to score a saved feed for another day")
    return _Day(date, store.load_papers(db, date), row["n_feed"], lease)


def _is_done(db, date: str) -> bool:
    row = _run_row(db, date)
    return row is not None and row["status"] in ("done", "empty")


def _score_day(db, day: _Day, crit, scorer: Scorer, progress: Progress | None) -> tuple[dict[str, Score], list[str], dict]:
    """Every paper's score: the stored ones, the rest scored now. Returns the scores, the
    digest's notes and the token usage (those of the scoring run when nothing was left to score)."""
    have = store.load_scores(db, scorer.name, crit.version, [p.arxiv_id for p in day.papers])
    todo = [p for p in day.papers if p.arxiv_id not in have]
    notes: list[str] = []
    usage: dict = {}
    if todo:
        # An LLM scorer stores each batch as it arrives: an interrupted run re-bills nothing.
        result = scorer.score(todo, crit, day.date, progress=progress,
                              save=lambda scores: store.save_scores(db, scorer.name, crit.version, day.date, scores))
        missing = [p.arxiv_id for p in todo if p.arxiv_id not in result.scores]
        if missing:
            raise RuntimeError(f"scorer {scorer.name} returned no score for {len(missing)} papers, e.g. {missing[:3]}")
        # Provisional scores (the LLM failed, the budget ran out) are shown, not stored: a
        # re-run of the day tries those papers again.
        store.save_scores(db, scorer.name, crit.version, day.date,
                          [s for s in result.scores.values() if s.source not in scorer.provisional_sources])
        have.update(result.scores)
        notes, usage = result.notes, result.usage
        day.warnings += result.warnings  # one line when the LLM failed (its notes say the rest)
    elif (prior := _run_row(db, day.date)) and prior["scorer"] == scorer.name and prior["criteria_version"] == crit.version:
        # Every score was stored (a re-run or a re-render): keep what the scoring run told the
        # reader, so the same day renders the same digest.
        notes = json.loads(prior["notes"] or "[]")
        usage = json.loads(prior["usage"] or "{}")
    _set_run(db, day.date, status="scored", scorer=scorer.name, criteria_version=crit.version,
             n_scanned=len(day.papers), notes=json.dumps(notes), usage=json.dumps(usage))
    return have, notes, usage


def _pick(settings: Settings, db, day: _Day, scores: dict[str, Score], scorer: Scorer) -> list[Pick]:
    """The day's picks, ranked and stored (table `picks`), each with why it was picked."""
    matcher = AuthorMatcher(watched_authors(settings, db))
    matches = {p.arxiv_id: m for p in day.papers if (m := matcher.match(p.authors))}
    picks = rank(day.papers, scores, matches, settings["ranking.min_relevance"], settings["ranking.min_novelty"],
                 settings["ranking.max_papers"])
    # Feedback-driven ranking says why: "close to 2 papers the team liked: ...".
    why = scorer.explain([pk.paper for pk in picks])
    for pk in picks:
        pk.why = pk.why or why.get(pk.paper.arxiv_id, "")
    picks_mod.save_day(db, day.date, picks, scorer.name)
    return picks


def _render(settings: Settings, db, day: _Day, report: DayReport, write_digest: bool) -> RunOutcome:
    paths = write(report, settings.path("storage.digest_dir")) if write_digest else None
    _set_run(db, day.date, status="done", n_picked=len(report.picks), finished_at=now(), scorer_label=report.scorer,
             digest_md=str(paths[0]) if paths else None, digest_json=str(paths[1]) if paths else None)
    return RunOutcome(day.date, "done", f"{len(report.picks)} of {len(day.papers)} papers picked for {day.date}",
                      report, paths, day.warnings)


def _stored_outcome(settings: Settings, db, day: _Day) -> RunOutcome:
    """The day as the run that finished it left it (its picks, notes and digest files): no
    scoring, no LLM call, nothing written."""
    row = _run_row(db, day.date)
    if row["status"] == "empty":
        return RunOutcome(day.date, "empty", f"no announcements for {day.date}", warnings=day.warnings)
    report = stored_report(settings, db, day.date)
    paths = (Path(row["digest_md"]), Path(row["digest_json"])) if row["digest_md"] and row["digest_json"] else None
    return RunOutcome(day.date, "done", f"{len(report.picks)} of {len(day.papers)} papers picked for {day.date}",
                      report, paths, day.warnings)


# ---- a finished day, read back: what `post --date`, a resumed thread and a waiting run show ----

def stored_report(settings: Settings, db, date: str) -> DayReport | None:
    """The day as it was picked, from the database (no re-scoring), None until it is done:
    the label its scorer gave it and each pick with its own score's source, so it reads as
    the digest did even if the criteria or the scorer changed since."""
    run = _run_row(db, date)
    if run is None or run["status"] not in ("done", "empty"):
        return None
    by_id = {p.arxiv_id: p for p in store.load_papers(db, date)}
    matcher = AuthorMatcher(watched_authors(settings, db))
    picks = [_stored_pick(r, by_id[r["arxiv_id"]], matcher)
             for r in picks_mod.day_rows(db, date) if r["arxiv_id"] in by_id]
    return DayReport(date=date, n_feed=run["n_feed"] or 0, n_scanned=run["n_scanned"] or 0, picks=picks,
                     scorer=run["scorer_label"] or run["scorer"] or "", criteria_text="",
                     criteria_version=run["criteria_version"], usage=_stored_usage(db, run),
                     notes=json.loads(run["notes"] or "[]"))


def stored_pick(settings: Settings, db, date: str, arxiv_id: str) -> tuple[Pick, int] | None:
    """One stored pick and its rank, to re-render its message (after a vote, on resume)."""
    row = picks_mod.pick_row(db, date, arxiv_id)
    paper = store.get_paper(db, arxiv_id)
    if row is None or paper is None:
        return None
    return _stored_pick(row, paper, AuthorMatcher(watched_authors(settings, db))), row["rank"]


def _stored_pick(row: dict, paper: Paper, matcher: AuthorMatcher) -> Pick:
    # Picks stored before they kept a source say only which scorer ran.
    score = Score(row["arxiv_id"], row["relevance"], row["novelty"], row["comment"] or "",
                  source=row["source"] or row["scorer"] or "")
    matched = (matcher.match(paper.authors) or ["a watched author"]) if row["author_match"] else []
    return Pick(paper, score, matched)


def _stored_usage(db, run: dict) -> dict:
    """The usage the scoring run reported; for a run stored without it, what the day billed."""
    if run["usage"] and (usage := json.loads(run["usage"])):
        return usage
    totals = llm_usage.day_totals(db, run["date"])
    return totals.as_digest_usage() if totals else {}


def print_warnings(outcome: RunOutcome) -> None:
    for w in outcome.warnings:
        print(f"warning: {w}", file=sys.stderr)
