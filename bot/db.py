"""The SQLite store: one file, WAL, busy timeout, schema built by ordered migrations.

Each migration is a function applied once and recorded in `_migrations` (the shape of
simonw/llm's migrations). Never edit a migration that has shipped: add a new one.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import sqlite_utils

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = []


def migration(fn):
    MIGRATIONS.append(fn)
    return fn


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@migration
def m001_core(db: sqlite_utils.Database) -> None:
    # A paper's metadata, one row per arXiv id (version stripped).
    db["papers"].create({
        "arxiv_id": str, "version": int, "title": str, "authors": str,  # authors: JSON list
        "abstract": str, "categories": str,  # JSON list, feed order
        "primary_category": str, "comment": str, "pdf_url": str, "license": str,
        "doi": str, "first_seen": str, "updated_at": str,
    }, pk="arxiv_id")
    # Which papers each announcement day carried, and as what.
    db["announcements"].create({
        "date": str, "arxiv_id": str, "announce_type": str, "position": int,
    }, pk=("date", "arxiv_id"), foreign_keys=[("arxiv_id", "papers", "arxiv_id")])
    # One row per announcement date: the daily job's state machine.
    db["runs"].create({
        "date": str, "status": str,  # fetched | scored | done | empty | failed
        "source": str, "scorer": str, "criteria_version": int,
        "n_feed": int, "n_kept": int, "n_scanned": int, "n_picked": int,
        "started_at": str, "finished_at": str, "error": str, "attempts": int,
        "digest_md": str, "digest_json": str,
    }, pk="date")
    # Versions of the team's criteria text; the highest id is current.
    db["criteria_versions"].create({
        "id": int, "text": str, "sha256": str, "created_by": str, "created_at": str, "note": str,
    }, pk="id")
    # One score of one paper by one scorer under one criteria version.
    db["scores"].create({
        "arxiv_id": str, "scorer": str, "criteria_version": int,
        "relevance": int, "novelty": int, "comment": str, "raw": float,
        "source": str,  # local | llm | local-fallback | author
        "date": str, "created_at": str,
    }, pk=("arxiv_id", "scorer", "criteria_version"),
        foreign_keys=[("arxiv_id", "papers", "arxiv_id")])
    # The day's picks in digest order (what gets delivered).
    db["picks"].create({
        "date": str, "rank": int, "arxiv_id": str, "relevance": int, "novelty": int,
        "comment": str, "author_match": int, "scorer": str,
    }, pk=("date", "arxiv_id"))
    # Every message delivered anywhere (Slack ts etc.), so delivery is exactly once.
    db["deliveries"].create({
        "date": str, "channel": str, "item": str,  # "parent" or an arxiv_id
        "ts": str, "thread_ts": str, "posted_at": str,
    }, pk=("date", "channel", "item"))
    # Current vote of each user on each paper (latest wins; a removal deletes the row).
    db["feedback"].create({
        "arxiv_id": str, "user_id": str, "vote": int, "source": str,
        "channel": str, "created_at": str, "updated_at": str,
    }, pk=("arxiv_id", "user_id"))
    # Append-only history of votes, for audits and stats.
    db["feedback_events"].create({
        "id": int, "arxiv_id": str, "user_id": str, "vote": int,  # 0 = removed
        "source": str, "at": str,
    }, pk="id")
    # Calls to an LLM: tokens, latency, cost.
    db["llm_calls"].create({
        "id": int, "date": str, "model": str, "prompt_tokens": int, "cached_tokens": int,
        "completion_tokens": int, "latency_ms": int, "cost_usd": float, "ok": int,
        "error": str, "batch_key": str, "created_at": str,
    }, pk="id")
    # Team-level overrides changed at run time (from Slack), with an audit log.
    db["team_settings"].create({"key": str, "value": str, "updated_by": str, "updated_at": str}, pk="key")
    db["audit_log"].create({"id": int, "who": str, "action": str, "detail": str, "at": str}, pk="id")
    db["announcements"].create_index(["arxiv_id"])
    db["scores"].create_index(["date"])
    db["feedback_events"].create_index(["arxiv_id"])


def _ensure_migrations_table(db: sqlite_utils.Database) -> None:
    if "_migrations" not in db.table_names():
        db["_migrations"].create({"name": str, "applied_at": str}, pk="name")


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations in order; returns the names applied."""
    _ensure_migrations_table(db)
    done = {r["name"] for r in db["_migrations"].rows}
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        # Explicit BEGIN so a migration's DDL and its record commit together or not at all.
        db.conn.execute("begin immediate")
        try:
            fn(db)
            db["_migrations"].insert({"name": fn.__name__, "applied_at": now()})
            db.conn.execute("commit")
        except BaseException:
            db.conn.execute("rollback")
            raise
        applied.append(fn.__name__)
    return applied


def open_db(path: str | Path, *, apply_migrations: bool = True) -> sqlite_utils.Database:
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread=False: the Slack app answers from worker threads; SQLite itself
    # serialises writes and WAL lets readers run beside a writer.
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    conn.execute("pragma busy_timeout = 30000")
    conn.execute("pragma journal_mode = wal")
    conn.execute("pragma synchronous = normal")
    conn.execute("pragma foreign_keys = on")
    db = sqlite_utils.Database(conn)
    if apply_migrations:
        migrate(db)
    return db


@migration
def m002_slack_delivery(db: sqlite_utils.Database) -> None:
    # Slack answers with the channel's ID (C...) even when we post to "#name"; reactions and
    # button clicks name the ID, so keep it beside the configured channel.
    db["deliveries"].add_column("channel_id", str)
    db["deliveries"].create_index(["channel_id", "ts"])
    # One row per scheduled day (in the schedule's timezone) and channel: what the job did,
    # so a restart catches up a missed day exactly once.
    db["scheduled_runs"].create({
        "day": str, "channel": str, "status": str,  # posted | empty | failed
        "detail": str, "at": str,
    }, pk=("day", "channel"))


@migration
def m003_llm_usage(db: sqlite_utils.Database) -> None:
    # LLM calls (issue 3): the split of the cost for the digest's table, direct vs Batch API
    # (half price), how many papers a call carried and why it stopped (length = truncated).
    calls = db["llm_calls"]
    calls.add_column("kind", str)  # direct | batch
    calls.add_column("n_papers", int)
    calls.add_column("finish_reason", str)
    calls.add_column("prompt_cost_usd", float)
    calls.add_column("completion_cost_usd", float)
    calls.add_column("scorer", str)
    calls.create_index(["date"])
    # Batch API jobs, so a resumed run collects its batch instead of submitting (and paying) again.
    db["llm_batches"].create({
        "id": str, "date": str, "scorer": str, "criteria_version": int, "model": str,
        "status": str,  # submitted | collected | abandoned
        "requests": str,  # JSON {custom_id: [arxiv ids]}
        "input_file_id": str, "output_file_id": str,
        "submitted_at": str, "deadline": str, "finished_at": str, "detail": str,
    }, pk="id")
    db["llm_batches"].create_index(["date", "scorer", "criteria_version"])


@migration
def m004_run_notes(db: sqlite_utils.Database) -> None:
    # What the scoring run told the reader (notes) and its LLM usage, so a re-run that finds
    # every score stored renders the same digest instead of silently dropping them.
    db["runs"].add_column("notes", str)  # JSON list
    db["runs"].add_column("usage", str)  # JSON object


@migration
def m005_post_leases(db: sqlite_utils.Database) -> None:
    # Who is posting a day to a channel right now, so two processes (a `worker` and a `web`
    # both running, or a manual `post` during the scheduled one) never post the same thread
    # twice. A lease expires unless its holder keeps refreshing it.
    db["post_leases"].create({
        "date": str, "channel": str,
        "holder": str,  # host:pid:thread
        "acquired_at": str, "expires": float,  # unix time
    }, pk=("date", "channel"))


@migration
def m007_criteria_file_adoption(db: sqlite_utils.Database) -> None:
    # Which version was last adopted from the criteria file (its path and text's sha256), so a
    # run adopts the file again only once it changed; versions seeded from it count as adopted.
    versions = db["criteria_versions"]
    versions.add_column("file_path", str)
    versions.add_column("file_sha256", str)
    db.execute("update criteria_versions set file_sha256 = sha256 "
               "where created_by = 'settings' and note like 'seeded from %'")
