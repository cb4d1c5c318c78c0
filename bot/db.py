"""The SQLite store: one file, WAL, busy timeout, schema built by ordered migrations.

Each migration is a function applied once and recorded in `_migrations` (the shape of
simonw/llm's migrations). Never edit a migration that has shipped: add a new one.
sqlite-utils' own `Migrations` class is not used: it decides what is pending before its
transaction starts, so two processes opening a new file at once could both apply a
migration, and it records in a second table; `migrate` re-checks under BEGIN IMMEDIATE.
"""
from __future__ import annotations

import sqlite3
import time
import weakref
from dataclasses import dataclass
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


def _applied(db: sqlite_utils.Database) -> set[str]:
    if "_migrations" not in db.table_names():
        return set()
    return {r["name"] for r in db["_migrations"].rows}


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations in order; returns the names applied."""
    if not {fn.__name__ for fn in MIGRATIONS} - _applied(db):
        return []  # the usual case: nothing to write, no write lock taken
    applied = []
    for fn in MIGRATIONS:
        # Explicit BEGIN IMMEDIATE so a migration's DDL and its record commit together or not
        # at all, and so two processes opening a new file at once take turns: the second one
        # waits for the lock, then sees the migration recorded and skips it.
        db.conn.execute("begin immediate")
        try:
            _ensure_migrations_table(db)
            if fn.__name__ in _applied(db):
                db.conn.execute("commit")
                continue
            fn(db)
            db["_migrations"].insert({"name": fn.__name__, "applied_at": now()})
            db.conn.execute("commit")
        except BaseException:
            db.conn.execute("rollback")
            raise
        applied.append(fn.__name__)
    return applied


def _enter_wal(conn: sqlite3.Connection) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is
    # locked" at once there instead of calling the busy handler, so two processes creating
    # the file together take turns here by hand, within the usual busy timeout.
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            conn.execute("pragma journal_mode = wal")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def open_db(path: str | Path, *, apply_migrations: bool = True, create: bool = True) -> sqlite_utils.Database:
    """Open (or, unless `create` is False, create) the database; a file that cannot be used
    is a DatabaseFileError naming it, what is wrong and what to do."""
    path = Path(path)
    in_memory = str(path) == ":memory:"
    if not in_memory:
        _refuse_orphaned_wal(path)
        if not create:
            _refuse_missing(path)
        _prepare_folder(path)
    try:
        # check_same_thread=False: the Slack app answers from worker threads; SQLite itself
        # serialises writes and WAL lets readers run beside a writer. The busy timeout makes a
        # short write by another process (a vote, a lease) a wait instead of an error.
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
        conn.execute(f"pragma busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        _enter_wal(conn)
        conn.execute("pragma synchronous = normal")
        conn.execute("pragma foreign_keys = on")
        db = sqlite_utils.Database(conn)
        if apply_migrations:
            migrate(db)
    except sqlite3.Error as exc:
        raise explain(exc, path) from exc
    if not in_memory:
        _OPENED_FILES[db] = _OpenedFile.of(db, path)
    return db


# ---- a database file that cannot be used: say which, what is wrong, what to do ---------------

BUSY_TIMEOUT_SECONDS = 30.0
WHERE = "the setting `storage.database` (or --db)"
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class _OpenedFile:
    """What the database's file was when opened: which file (device, inode), its size and its
    schema, to notice it deleted, replaced, or emptied or rewritten in place mid-run."""
    identity: tuple[int, int] | None
    size: int
    schema_version: int
    n_tables: int

    @classmethod
    def of(cls, db: sqlite_utils.Database, path: Path) -> "_OpenedFile":
        size = path.stat().st_size if path.exists() else 0
        return cls(_file_identity(path), size, db.execute("pragma schema_version").fetchone()[0], _count_tables(db))


def _count_tables(db: sqlite_utils.Database) -> int:
    return db.execute("select count(*) from sqlite_master where type = 'table'").fetchone()[0]


# The file each open database was opened as, to notice it deleted or replaced mid-run.
_OPENED_FILES: "weakref.WeakKeyDictionary[sqlite_utils.Database, _OpenedFile]" = weakref.WeakKeyDictionary()


class DatabaseFileError(RuntimeError):
    """The database file cannot be used as it is; the message says why and what to do."""


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _prepare_folder(path: Path) -> None:
    if path.is_dir():
        raise DatabaseFileError(f"the database {path} is a folder, not a file: point {WHERE} at a file, "
                                f"e.g. {path / 'arxiv.sqlite'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise DatabaseFileError(f"cannot create the database {path}: {exc.filename} is a file, not a folder. "
                                f"Check {WHERE}") from None
    except OSError as exc:
        raise DatabaseFileError(f"cannot create the folder {path.parent} for the database {path}: "
                                f"{exc.strerror} ({exc.filename}). Check {WHERE}: its folder must be "
                                "a folder this user can create or write") from None


def _log_files(path: Path) -> list[str]:
    return [str(p) for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def _after_deletion(path: Path) -> str:
    """What to do about a database deleted or moved while in use, as the next run will see it:
    while its log files are there, a run refuses to start (_refuse_orphaned_wal) until they
    are put back with it or deleted."""
    leftovers = " and ".join(_log_files(path))
    if not leftovers:
        return "Put the database back if that was a mistake, or run the command again to start an empty database"
    return (f"If that was a mistake, put the database back beside its log files {leftovers} (its last "
            f"writes are in the -wal file); to start an empty database instead, delete {leftovers} "
            "and run the command again")


def _refuse_orphaned_wal(path: Path) -> None:
    """SQLite would start an empty database beside a deleted one's log files and then fail
    with "disk I/O error"; say what they are instead."""
    leftovers = [] if path.exists() else _log_files(path)
    if leftovers:
        raise DatabaseFileError(f"the database {path} does not exist, but its log files {' and '.join(leftovers)} "
                                f"do: the database was deleted or moved while in use. {_after_deletion(path)}")


def _refuse_missing(path: Path) -> None:
    """For a command that only reads what runs stored: a missing file is a wrong path, and
    an empty database made there would only hide that."""
    if not path.exists():
        raise DatabaseFileError(f"the database {path} does not exist: check {WHERE}. This command reads what "
                                "earlier runs stored, so it creates no database")


def _cannot_open(path: Path, where: str) -> str:
    if path.is_dir():
        return f"{path} is a folder, not a file: point {where} at a file, e.g. {path / 'arxiv.sqlite'}"
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist or is not a folder: check {where}"
    return (f"cannot open the database {path}: check that the user running the bot may read and write it "
            f"and create files in {path.parent} (SQLite writes {path.name}-wal and -shm beside it)")


def explain(exc: sqlite3.Error, path: str | Path, where: str = WHERE) -> DatabaseFileError:
    """SQLite's terse error as one message that names the file and what to do about it;
    `where` is the setting or option that names the file."""
    path = Path(path)
    # sqlite_errorname is set on errors that come from SQLite itself (not on misuse errors).
    code = getattr(exc, "sqlite_errorname", "") or ""
    said = f"(SQLite: {exc})"
    if code == "SQLITE_NOTADB":
        text = (f"{path} is not a SQLite database {said}: check {where}. If it is the right file, it was "
                "overwritten or damaged and running again will not help: restore it from a backup, or "
                "move it aside and run the command again to start an empty database")
    elif code.startswith("SQLITE_CORRUPT"):
        text = (f"the database {path} is damaged {said}; running again will not help. Restore it from a "
                f"backup, or salvage what is readable with `sqlite3 {path} .recover | sqlite3 recovered.sqlite` "
                f"and point {where} at recovered.sqlite, or move it aside to start an empty database")
    elif code == "SQLITE_READONLY_DBMOVED":
        text = (f"the database {path} was deleted or moved while in use {said}: what this run stored "
                f"is not in the file any more. {_after_deletion(path)}")
    elif code.startswith("SQLITE_READONLY"):
        text = (f"the database {path} is read-only for this user {said}; running again will not help. "
                f"Let the user running the bot write the file and its folder {path.parent} (SQLite writes "
                f"{path.name}-wal and -shm beside it), or point {where} at a writable copy")
    elif code.startswith("SQLITE_CANTOPEN"):
        text = f"{_cannot_open(path, where)} {said}"
    elif code.startswith("SQLITE_FULL"):
        text = (f"the disk holding the database {path} is full {said}: free some space and run the same "
                "command again to resume (what was stored is kept)")
    elif code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        text = (f"the database {path} stayed locked by another process for over {BUSY_TIMEOUT_SECONDS:.0f} s "
                f"{said}: another run or the Slack app is writing to it. Run the same command again when "
                "it is done (what was stored is kept)")
    elif code.startswith("SQLITE_IOERR"):
        text = (f"reading or writing the database {path} failed {said}: check that the disk is not full "
                "or gone, and that the file was not deleted or moved while in use; then run the same "
                "command again to resume")
    else:
        text = f"the database {path} could not be used {said}: check {where}"
    return DatabaseFileError(text)


def database_file(db: sqlite_utils.Database) -> str:
    """The file an open database reads and writes; "" for an in-memory one."""
    row = next((r for r in db.execute("pragma database_list").fetchall() if r[1] == "main"), None)
    return row[2] if row else ""


def check_file_unchanged(db: sqlite_utils.Database) -> None:
    """Raise DatabaseFileError when the database's file was deleted, replaced, or emptied or
    rewritten in place since it was opened: SQLite goes on writing to a deleted file, and in
    WAL mode a truncated one still answers from its -wal file, so nothing fails by itself."""
    name = database_file(db)
    opened = _OPENED_FILES.get(db)
    if not name or opened is None:
        return
    path = Path(name)
    now_id = _file_identity(path)
    if now_id is None or now_id != opened.identity:
        what = "deleted" if now_id is None else "replaced by another file"
        way_out = (_after_deletion(path) if now_id is None else
                   "Put the database back if that was a mistake, or run the same command again")
        raise DatabaseFileError(f"the database {path} was {what} while this run was using it: it went on "
                                "writing into the old file, so what the run stored is lost (digest files "
                                f"already written are kept). {way_out} to redo the day")
    changed = _changed_in_place(db, path, opened)
    if changed:
        raise changed_in_place(path, changed)


def changed_in_place(path: str | Path, how: str) -> DatabaseFileError:
    """The error for a database file emptied or rewritten in place mid-run (`how`: what was
    seen, e.g. "emptied or cut short in place (0 bytes now, ...)")."""
    path = Path(path)
    # When the run's connection closes, SQLite writes back what its -wal file still holds, so
    # the file may come back whole, in part, or damaged: only a check can tell which.
    return DatabaseFileError(
        f"the database {path} was {how} while this run was using it: what the run stored may be lost "
        f"(digest files already written are kept). Check the file with `sqlite3 {path} 'pragma "
        "integrity_check'`: if it does not say ok, restore it from a backup, or delete it and its "
        f"{path.name}-wal and -shm files and run the command again to start an empty database")


def _changed_in_place(db: sqlite_utils.Database, path: Path, opened: _OpenedFile) -> str:
    """How the same file was emptied or rewritten by something else (`: > file`, a copy over
    it), or "" when it still holds what this connection wrote. Size and header are read from
    the file itself: SQLite's own view may still come from the -wal file."""
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
        size = path.stat().st_size
    except OSError as exc:
        return f"made unreadable ({exc.strerror})"
    if size < opened.size:
        return f"emptied or cut short in place ({size} bytes now, {opened.size} when the run opened it)"
    if header != SQLITE_HEADER:
        return "overwritten in place with something that is not a SQLite database"
    try:
        schema_version = db.execute("pragma schema_version").fetchone()[0]
        n_tables = _count_tables(db)
    except sqlite3.Error as exc:
        return f"rewritten in place and is now unreadable (SQLite: {exc})"
    if schema_version < opened.schema_version or n_tables < opened.n_tables:
        return "rewritten in place: its tables are gone"
    return ""


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
    # LLM calls: the split of the cost for the digest's table, direct vs Batch API
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
def m006_run_leases(db: sqlite_utils.Database) -> None:
    # Who is running an announcement day right now (bot/run_lock.py), so a second process
    # started meanwhile waits and reuses the work instead of embedding and scoring it again.
    db["run_leases"].create({
        "date": str,
        "holder": str,  # host#pidns:pid:thread
        "acquired_at": str, "expires": float,  # unix time, refreshed by the holder's heartbeat
    }, pk="date")


@migration
def m007_criteria_file_adoption(db: sqlite_utils.Database) -> None:
    # Which version was last adopted from the criteria file (its path and text's sha256), so a
    # run adopts the file again only once it changed; versions seeded from it count as adopted.
    versions = db["criteria_versions"]
    versions.add_column("file_path", str)
    versions.add_column("file_sha256", str)
    db.execute("update criteria_versions set file_sha256 = sha256 "
               "where created_by = 'settings' and note like 'seeded from %'")


@migration
def m008_vote_event_order(db: sqlite_utils.Database) -> None:
    # Slack delivers events at least once and out of order (a retry of a reaction can come
    # after its removal): vote events from Slack carry their own time in `at`, each is
    # recorded, and `effect` says what it did: changed | unchanged | stale (older than the
    # latest event of that user on that paper, reactions and buttons alike, since both set
    # the one vote a user holds: recorded, the vote left as it was).
    db["feedback_events"].add_column("effect", str, not_null_default="changed")
    db["feedback_events"].create_index(["arxiv_id", "user_id", "source", "at"])


@migration
def m009_pick_sources(db: sqlite_utils.Database) -> None:
    # A stored day reads back as it was scored: each pick keeps its own score's source (an
    # LLM scorer's pick may be the local ranker's stand-in) and the run keeps the label its
    # scorer gave the day ("local:minilm (the LLM calls failed)"), beside the scorer's name.
    db["picks"].add_column("source", str)  # local | llm | local-fallback | author | ...
    db["runs"].add_column("scorer_label", str)
    db.execute("update runs set scorer_label = scorer")
    # Older picks: the source of the stored score they came from (stand-ins were never stored).
    db.execute("""update picks set source = (
                      select s.source from scores s join runs r on r.date = picks.date
                      where s.arxiv_id = picks.arxiv_id and s.scorer = picks.scorer
                        and s.criteria_version = r.criteria_version)""")


@migration
def m010_llm_endpoints(db: sqlite_utils.Database) -> None:
    # What each LLM endpoint (base_url + model) turned out to be and honour (bot/llm/endpoints.py),
    # so a run neither re-probes a response format the server refused nor re-identifies it.
    db["llm_endpoints"].create({
        "base_url": str, "model": str, "kind": str,  # openai | llama.cpp | vllm | ollama | other
        "response_format": str,  # json_object once json_schema was refused; json_schema once it worked
        "limit_field": str,  # max_tokens | max_completion_tokens, once learnt ("" = the kind's)
        "json_object_schema": int,  # 0 once the server refused a schema inside response_format json_object
        "context_tokens": int, "identified_at": str, "updated_at": str,
    }, pk=("base_url", "model"))


# Tables whose rows belong to one feed, and the primary key each gets with the feed in it
# (None: the key stays; the table only gains the column).
FEED_KEYED = {
    "runs": ("feed", "date"),
    "picks": ("feed", "date", "arxiv_id"),
    "deliveries": ("feed", "date", "channel", "item"),
    "feedback": ("feed", "arxiv_id", "user_id"),
    "team_settings": ("feed", "key"),
    "scheduled_runs": ("feed", "day", "channel"),
    "post_leases": ("feed", "date", "channel"),
    "run_leases": ("feed", "date"),
    "feedback_events": None,
    "criteria_versions": None,
    "audit_log": None,
    "llm_calls": None,
    "llm_batches": None,
}
DEFAULT_FEED = "default"


@migration
def m011_feeds(db: sqlite_utils.Database) -> None:
    # One installation serves several feeds (an interest: its channel, criteria, votes and
    # taste). Everything stored before feeds existed belongs to the feed "default", which is
    # the only feed when the settings name none. Papers, announcements, scores (keyed by a
    # criteria version, which belongs to one feed) and embeddings are shared by all feeds.
    for name, pk in FEED_KEYED.items():
        table = db[name]
        table.add_column("feed", str, not_null_default=DEFAULT_FEED)
        if pk is not None:
            table.transform(pk=pk)
    db["feedback_events"].create_index(["feed", "arxiv_id"])
    db["criteria_versions"].create_index(["feed", "id"])
    db["llm_calls"].create_index(["feed", "date"])
    # Feeds started from Slack (`/arxiv feed new NAME` in a channel); those of the settings
    # file live there. A Slack-made feed has a channel and starts from the default criteria.
    db["feeds"].create({
        "name": str, "channel": str, "created_by": str, "created_at": str,
    }, pk="name")
    db["feeds"].create_index(["channel"], unique=True)


@migration
def m012_fetches(db: sqlite_utils.Database) -> None:
    # One arXiv request serves every feed: each fetch of a day is recorded with the categories
    # it asked for, so a feed run later the same day (before arXiv rebuilds its feed) reuses
    # the stored day instead of asking again. `items`: each item's categories, replacements too.
    db["fetches"].create({
        "id": int, "date": str, "categories": str, "source": str, "items": str, "fetched_at": str,
    }, pk="id")
    db["fetches"].create_index(["fetched_at"])
