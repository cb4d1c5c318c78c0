"""The daily job with no Slack: fetch -> store -> score -> pick -> digest, for each feed.

One fetch serves every feed: the day is asked of arXiv once, for the union of the feeds'
categories, and stored once (table `fetches` records it); each feed then runs on its own
papers (`store.kept_by_feed`), with its own criteria, scores, picks, digest files and costs.
A feed run later the same day reuses the stored fetch while arXiv has not rebuilt its feed.

Every step records its result in SQLite before the next starts, so re-running a date
is idempotent (nothing is duplicated) and an interrupted run resumes where it stopped
(papers are not fetched again, scores already stored are not recomputed or re-billed).
"""
from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from . import criteria as criteria_mod
from . import feedback, run_lock, store
from . import picks as picks_mod
from .authors import AuthorMatcher
from .config import Settings
from .db import DatabaseFileError, check_file_unchanged, now
from .digest import DayReport, Pick
from .embed import EmbeddingCache
from .feed import Feed, FeedError, PoliteSession, fetch_feed, parse_feed
from .llm import usage as llm_usage
from .models import Paper, Score
from .progress import Progress
from .scoring.base import LLM_SOURCES, Scorer
from .surfaces import DigestFiles
from .team_settings import team_categories, watched_authors

log = logging.getLogger(__name__)
SAMPLE_FEED = Path(__file__).resolve().parent.parent / "data" / "samples" / "2025-02-24.xml"
# arXiv rebuilds its announcement feed at midnight US/Eastern: a fetch made since then is
# still the feed's current day.
ARXIV_TIMEZONE = ZoneInfo("America/New_York")
REPLACEMENTS = ("replace", "replace-cross")


@dataclass
class RunOutcome:
    date: str | None
    status: str  # done | empty | failed
    message: str
    report: DayReport | None = None
    paths: tuple[Path, Path] | None = None
    warnings: list[str] = field(default_factory=list)
    feed: str = ""  # the feed's name

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def _run_row(db, date: str, *, feed: str) -> dict | None:
    return next(db.query("select * from runs where feed = ? and date = ?", [feed, date]), None)


def _set_run(db, date: str, *, feed: str, **fields) -> None:
    row = _run_row(db, date, feed=feed)
    with db.conn:
        if row is None:
            db["runs"].insert({"feed": feed, "date": date, "started_at": now(), "attempts": 1, **fields})
        else:
            db["runs"].update((feed, date), fields)


def last_rebuild(at: datetime | None = None) -> datetime:
    """When arXiv last rebuilt its announcement feed before `at` (now): midnight US/Eastern."""
    local = (at or datetime.now(timezone.utc)).astimezone(ARXIV_TIMEZONE)
    return datetime.combine(local.date(), time(0), ARXIV_TIMEZONE).astimezone(timezone.utc)


# ---- the day's fetch, one for every feed ----------------------------------------------------

@dataclass
class FetchedDay:
    """One fetch of an announcement day, stored, and shared by the feeds it serves."""
    date: str
    source: str  # "network", or the feed file read
    items: list[list[str]]  # each item's categories (replacements too)
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.items

    def n_items(self, categories: list[str]) -> int:
        """The fetch's items in these categories: a feed's "Total ArXiv papers"."""
        wanted = set(categories)
        return sum(1 for cats in self.items if wanted & set(cats))


def union_categories(feeds: list[Settings], db) -> list[str]:
    """Every feed's categories (its settings, or as changed from Slack), each once, in order."""
    return list(dict.fromkeys(c for f in feeds for c in team_categories(f, db)))


def fetch_day(settings: Settings, db, feeds: list[Settings], *, feed_file: str | Path | None = None,
              date: str | None = None, http: PoliteSession | None = None) -> FetchedDay:
    """The day for these feeds, stored: read from `feed_file`, else the stored fetch from arXiv
    since its last rebuild that covered all their categories, else one request for the union."""
    categories = union_categories(feeds, db)
    if feed_file is None:
        earlier = store.network_fetch_since(db, last_rebuild().isoformat(timespec="seconds"), categories)
        if earlier is not None and (date is None or date == earlier["date"]):
            return FetchedDay(earlier["date"], "network", earlier["items"])
        # One request serves the installation's day: the feeds run later (each at its own time)
        # find it stored instead of asking arXiv again.
        categories = union_categories(feeds + _other_feeds(settings, db), db)
    feed = _read_feed(settings, feed_file, categories, http)
    feed_date = feed.date.isoformat() if feed.date else None
    if date and feed_date and date != feed_date:
        raise FeedError(f"the feed is for {feed_date}, not the requested --date {date}")
    day = FetchedDay(date or feed_date or Date.today().isoformat(), str(feed_file or "network"),
                     [p.categories for p in feed.papers])
    day.warnings = [f"skipped unreadable feed item: {s}" for s in feed.skipped]
    day.warnings += [f"repaired the feed at {s}" for s in feed.repaired]
    # A saved file stands for the day in its feeds' categories: other feeds' announcements stay.
    store.save_papers(db, day.date, _announced(feed), categories)
    store.record_fetch(db, day.date, categories, day.source, day.items)
    return day


def _other_feeds(settings: Settings, db) -> list[Settings]:
    """The installation's feeds (a feed's Settings knows its installation), [] when unknown or
    when the feeds' configuration is wrong (the feeds being run still run)."""
    from .feeds import all_feeds

    if settings.installation is None:
        return []
    try:
        return all_feeds(settings.installation, db)
    except ValueError:
        return []


def _read_feed(settings: Settings, feed_file: str | Path | None, categories: list[str],
               http: PoliteSession | None) -> Feed:
    if feed_file is not None:
        path = Path(feed_file)
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise FeedError(f"cannot read feed file {path}: {exc.strerror}") from None
        return parse_feed(body, source=str(path))
    http = http or PoliteSession(min_interval=settings["arxiv.min_interval_seconds"],
                                 timeout=settings["arxiv.timeout_seconds"], max_tries=settings["arxiv.max_tries"])
    return fetch_feed(categories, http, base=settings["arxiv.feed_url"])


def _announced(feed: Feed) -> list[Paper]:
    """The fetch's papers worth storing: never replacements, each once."""
    seen, kept = set(), []
    for p in feed.papers:
        if p.announce_type not in REPLACEMENTS and p.arxiv_id not in seen:
            seen.add(p.arxiv_id)
            kept.append(p)
    return kept


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


def make_scorer(settings: Settings, db, *, batch_api: bool | None = None,
                cache: EmbeddingCache | None = None) -> Scorer:
    """The scorer for a feed's run: the local one, unless an LLM is configured (OPENAI_API_KEY,
    OPENAI_BASE_URL or llm.base_url); then the LLM scores and the local one pre-filters.
    `cache`: the process's embeddings, shared by every feed (a paper is embedded once)."""
    from .scoring.local import LocalScorer
    from .scoring.openai_scorer import build_openai_scorer, llm_configured

    local = LocalScorer(cache or EmbeddingCache(db))
    if llm_configured(settings):
        return build_openai_scorer(settings, db, local, AuthorMatcher(watched_authors(settings, db)),
                                   batch_api=batch_api, day_papers=lambda date: feed_papers(settings, db, date))
    from .scoring.taste import TasteScorer

    if settings["learning.enabled"] and feedback.has_votes(db, feed=settings.feed):
        # The team has voted: blend its learned taste into the local relevance, so the ranking
        # follows what the team liked and not only how the criteria are worded.
        return TasteScorer.for_feed(local, db, local.cache, settings)
    return local


def feed_papers(settings: Settings, db, date: str) -> list[Paper]:
    """The feed's papers of a stored day: its categories' and announce types' share of the fetch."""
    return store.feed_day(db, date, team_categories(settings, db), settings["arxiv.announce_types"])


@dataclass
class _RunOptions:
    """How the feeds of one process run (the same for each)."""
    progress: Progress | None = None
    write_digest: bool = True
    notify: Callable[[str], None] | None = None
    wait_seconds: float = run_lock.WAIT_SECONDS


def run_day(settings: Settings, db, *, feed_file: str | Path | None = None, date: str | None = None,
            scorer: Scorer | None = None, http: PoliteSession | None = None, progress: Progress | None = None,
            write_digest: bool = True, notify: Callable[[str], None] | None = None,
            wait_seconds: float = run_lock.WAIT_SECONDS, cache: EmbeddingCache | None = None,
            batch_api: bool | None = None) -> RunOutcome:
    """Run (or resume, or re-render) one feed's announcement day (the feed of `settings`).

    One process at a time per feed and day: once the day is known this run takes its lease
    (waiting for another holder, telling `notify` who), so a second run reuses the first one's
    work. A database file deleted or replaced meanwhile is a DatabaseFileError, not a quiet loss."""
    options = _RunOptions(progress, write_digest, notify, wait_seconds)
    try:
        fetched = None if date and feed_file is None else \
            fetch_day(settings, db, [settings], feed_file=feed_file, date=date, http=http)
        scorer = scorer or make_scorer(settings, db, batch_api=batch_api, cache=cache)
        outcome = _run_feed(settings, db, fetched, date, scorer, options)
    except Exception:
        check_file_unchanged(db)  # a run that failed because its file changed under it says so
        raise
    check_file_unchanged(db)
    return outcome


def run_feeds(settings: Settings, db, feeds: list[Settings], *, feed_file: str | Path | None = None,
              date: str | None = None, http: PoliteSession | None = None, progress: Progress | None = None,
              write_digest: bool = True, notify: Callable[[str], None] | None = None,
              wait_seconds: float = run_lock.WAIT_SECONDS, batch_api: bool | None = None,
              scorer_for: Callable[[Settings], Scorer] | None = None,
              cache: EmbeddingCache | None = None) -> list[RunOutcome]:
    """Run these feeds' day: one fetch (or the stored one) for all, then each feed on its own
    papers. A feed that fails (its criteria file, its budget, its LLM) is that feed's failed
    outcome, with its message; the others go on. `scorer_for` builds a feed's scorer (default:
    make_scorer, all feeds sharing one embedding cache)."""
    options = _RunOptions(progress, write_digest, notify, wait_seconds)
    cache = cache or EmbeddingCache(db)
    scorer_for = scorer_for or (lambda f: make_scorer(f, db, batch_api=batch_api, cache=cache))
    try:
        fetched = None if date and feed_file is None else \
            fetch_day(settings, db, feeds, feed_file=feed_file, date=date, http=http)
    except DatabaseFileError:
        raise
    except Exception as exc:  # arXiv down, a bad file: no feed has a day
        check_file_unchanged(db)
        return [_failed(f, date, exc) for f in feeds]
    outcomes = [_run_isolated(f, db, fetched, date, scorer_for, options) for f in feeds]
    check_file_unchanged(db)
    return outcomes


def _run_isolated(feed: Settings, db, fetched: FetchedDay | None, date: str | None,
                  scorer_for: Callable[[Settings], Scorer], options: _RunOptions) -> RunOutcome:
    try:
        return _run_feed(feed, db, fetched, date, scorer_for(feed), options)
    except DatabaseFileError:
        raise  # the database is gone for every feed
    except Exception as exc:
        return _failed(feed, fetched.date if fetched else date, exc)


def _failed(feed: Settings, date: str | None, exc: Exception) -> RunOutcome:
    from .embed import ModelError
    from .run_lock import RunInProgress, RunLeaseLost

    # Errors whose message says what is wrong and what to do are shown as they are; any other
    # is a bug, whose traceback goes to the log (a worker's log is all its operator sees).
    said = isinstance(exc, (FeedError, ModelError, ValueError, RunInProgress, RunLeaseLost))
    if not said:
        log.error("feed %s failed", feed.feed, exc_info=exc)
    message = str(exc) if said else f"{type(exc).__name__}: {exc}"
    return RunOutcome(date, "failed", message, feed=feed.feed)


@dataclass
class _Day:
    """The feed's papers of the day being run, and what the run has to tell."""
    feed: str
    date: str
    papers: list[Paper]
    n_feed: int
    lease: run_lock.RunLease
    warnings: list[str] = field(default_factory=list)


def _run_feed(settings: Settings, db, fetched: FetchedDay | None, date: str | None, scorer: Scorer,
              options: _RunOptions) -> RunOutcome:
    """One feed's day from the fetch (None: the stored day of `date`), holding its lease."""
    day_date = fetched.date if fetched else date
    with run_lock.RunLease(db, day_date, feed=settings.feed, wait_seconds=options.wait_seconds,
                           notify=options.notify) as lease:
        day = _stored_day(settings, db, date, lease) if fetched is None else _feed_day(settings, db, fetched, lease)
        if isinstance(day, RunOutcome):
            return day
        if day.lease.waited and _is_done(db, day.date, feed=day.feed):
            # Another run of this day finished while this one waited: its digest is the day's.
            return _stored_outcome(settings, db, day)
        return _score_and_pick(settings, db, day, scorer, options)


def _score_and_pick(settings: Settings, db, day: _Day, scorer: Scorer, options: _RunOptions) -> RunOutcome:
    crit, said = criteria_mod.for_run(db, criteria_mod.file_of(settings), feed=day.feed)
    day.warnings += said
    scores, notes, usage = _score_day(db, day, crit, scorer, options.progress)
    day.lease.ensure_held()  # a run taken over while it stalled must not overwrite the new holder's day
    picks = _pick(settings, db, day, scores, scorer)
    report = DayReport(date=day.date, n_feed=day.n_feed, n_scanned=len(day.papers), picks=picks,
                       scorer=scorer.label([pk.score for pk in picks], list(scores.values())),
                       criteria_text=crit.text, criteria_version=crit.version, usage=usage, notes=notes,
                       prompt_text=scorer.last_prefix, feed=day.feed)
    return _render(settings, db, day, report, options.write_digest)


def _feed_day(settings: Settings, db, fetched: FetchedDay, lease: run_lock.RunLease) -> _Day | RunOutcome:
    """The feed's share of a fetched day (an empty day is an outcome of its own)."""
    feed, date = settings.feed, fetched.date
    if lease.waited and _is_done(db, date, feed=feed):
        # The run waited for finished the day from the same fetch: nothing to record again.
        day = _stored_day(settings, db, date, lease)
        if isinstance(day, _Day):
            day.warnings = list(fetched.warnings)
        return day
    if fetched.empty:
        # Weekends and holidays: a normal day with nothing to do. Never fall back to older papers.
        _set_run(db, date, feed=feed, status="empty", n_feed=0, n_kept=0, n_scanned=0, n_picked=0,
                 finished_at=now())
        return RunOutcome(date, "empty", f"no announcements for {date}", warnings=list(fetched.warnings), feed=feed)
    papers = feed_papers(settings, db, date)
    n_feed = fetched.n_items(team_categories(settings, db))
    _set_run(db, date, feed=feed, status="fetched", source=fetched.source, n_feed=n_feed, n_kept=len(papers),
             error=None)
    warnings = list(fetched.warnings)
    if settings["arxiv.enrich"]:
        from .enrich import enrich

        warnings += enrich(db, papers)
        papers = feed_papers(settings, db, date)
    return _Day(feed, date, papers, n_feed, lease, warnings)


def _stored_day(settings: Settings, db, date: str, lease: run_lock.RunLease) -> _Day | RunOutcome:
    feed = settings.feed
    row = _run_row(db, date, feed=feed)
    if row and row["status"] == "empty":
        return RunOutcome(date, "empty", f"no announcements for {date}", feed=feed)
    if row is None or row["status"] not in ("fetched", "scored", "done"):
        raise FeedError(f"no stored papers for {date}{_of_feed(feed)}: arXiv's feed only serves the latest "
                        "announcement day; pass --rss FILE to score a saved feed for another day")
    return _Day(feed, date, feed_papers(settings, db, date), row["n_feed"], lease)


def _of_feed(feed: str) -> str:
    from .config import DEFAULT_FEED

    return "" if feed == DEFAULT_FEED else f" in feed {feed}"


def _is_done(db, date: str, *, feed: str) -> bool:
    row = _run_row(db, date, feed=feed)
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
    elif (prior := _run_row(db, day.date, feed=day.feed)) and prior["scorer"] == scorer.name \
            and prior["criteria_version"] == crit.version:
        # Every score was stored (a re-run or a re-render): keep what the scoring run told the
        # reader, so the same day renders the same digest.
        notes = json.loads(prior["notes"] or "[]")
        usage = json.loads(prior["usage"] or "{}")
    _set_run(db, day.date, feed=day.feed, status="scored", scorer=scorer.name, criteria_version=crit.version,
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
    picks_mod.save_day(db, day.date, picks, scorer.name, feed=day.feed)
    return picks


def _render(settings: Settings, db, day: _Day, report: DayReport, write_digest: bool) -> RunOutcome:
    """The digest files, through their delivery surface, and the run recorded done."""
    paths = DigestFiles().deliver(settings, db, report).paths if write_digest else None
    _set_run(db, day.date, feed=day.feed, status="done", n_picked=len(report.picks), finished_at=now(),
             scorer_label=report.scorer, digest_md=str(paths[0]) if paths else None,
             digest_json=str(paths[1]) if paths else None)
    return RunOutcome(day.date, "done", f"{len(report.picks)} of {len(day.papers)} papers picked for {day.date}",
                      report, paths, day.warnings, feed=day.feed)


def _stored_outcome(settings: Settings, db, day: _Day) -> RunOutcome:
    """The day as the run that finished it left it (its picks, notes and digest files): no
    scoring, no LLM call, nothing written."""
    row = _run_row(db, day.date, feed=day.feed)
    if row["status"] == "empty":
        return RunOutcome(day.date, "empty", f"no announcements for {day.date}", warnings=day.warnings, feed=day.feed)
    report = stored_report(settings, db, day.date)
    paths = (Path(row["digest_md"]), Path(row["digest_json"])) if row["digest_md"] and row["digest_json"] else None
    return RunOutcome(day.date, "done", f"{len(report.picks)} of {len(day.papers)} papers picked for {day.date}",
                      report, paths, day.warnings, feed=day.feed)


# ---- a finished day, read back: what `post --date`, a resumed thread and a waiting run show ----

def stored_report(settings: Settings, db, date: str) -> DayReport | None:
    """The day as it was picked, from the database (no re-scoring), None until it is done:
    the label its scorer gave it and each pick with its own score's source, so it reads as
    the digest did even if the criteria or the scorer changed since."""
    feed = settings.feed
    run = _run_row(db, date, feed=feed)
    if run is None or run["status"] not in ("done", "empty"):
        return None
    # The whole stored day, as the feed sees it where it still keeps a paper: a pick stays when
    # the feed's categories changed since.
    by_id = {p.arxiv_id: p for p in store.load_papers(db, date)}
    by_id.update((p.arxiv_id, p) for p in feed_papers(settings, db, date))
    matcher = AuthorMatcher(watched_authors(settings, db))
    picks = [_stored_pick(r, by_id[r["arxiv_id"]], matcher)
             for r in picks_mod.day_rows(db, date, feed=feed) if r["arxiv_id"] in by_id]
    return DayReport(date=date, n_feed=run["n_feed"] or 0, n_scanned=run["n_scanned"] or 0, picks=picks,
                     scorer=run["scorer_label"] or run["scorer"] or "", criteria_text="",
                     criteria_version=run["criteria_version"], usage=_stored_usage(db, run),
                     notes=json.loads(run["notes"] or "[]"), feed=feed)


def stored_pick(settings: Settings, db, date: str, arxiv_id: str) -> tuple[Pick, int] | None:
    """One stored pick of the feed's day and its rank, to re-render its message (after a vote, on resume)."""
    row = picks_mod.pick_row(db, date, arxiv_id, feed=settings.feed)
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
    totals = llm_usage.day_totals(db, run["date"], feed=run["feed"])
    return totals.as_digest_usage() if totals else {}


def print_warnings(outcome: RunOutcome) -> None:
    for w in outcome.warnings:
        print(f"warning: {w}", file=sys.stderr)
