"""One run of an announcement day at a time, across processes (table `run_leases`).

Two `digest` runs started together (a cron job and a person, `worker` and `post`) would
both embed and score the whole day. The first to take the day's lease runs it; the other
says who holds it and waits (bounded), then finds the day's work stored and only renders.

A holder refreshes its lease from a heartbeat thread. A lease is free again when its
holder releases it, when its process is gone (same host), or when it stopped refreshing
(`LEASE_SECONDS`: a holder on another host, a frozen process).

The same lease, keyed by (date, channel) in `post_leases` (LeaseTable), keeps two posters
of one day's thread apart (bot/slack/post.py).
"""
from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Callable
from urllib.request import pathname2url

from .config import DEFAULT_FEED
from .db import BUSY_TIMEOUT_SECONDS, DatabaseFileError, changed_in_place, check_file_unchanged, database_file, now

log = logging.getLogger(__name__)
LEASE_SECONDS = 90.0
HEARTBEAT_SECONDS = LEASE_SECONDS / 3
# How long a second run waits for the first before giving up (a whole day's LLM phase is
# capped well below this).
WAIT_SECONDS = 20 * 60.0
POLL_SECONDS = 1.0


class RunInProgress(RuntimeError):
    """Another process kept running the day for longer than this one would wait."""


class RunLeaseLost(RuntimeError):
    """This run stalled past its lease and another process took the day over: writing on
    would overwrite what the new holder writes."""


@dataclass(frozen=True)
class Lease:
    holder: str  # host#pidns:pid:thread
    acquired_at: str  # ISO time, UTC
    expires: float  # unix time

    def describe(self) -> str:
        host, _, rest = self.holder.partition(":")
        pid = rest.partition(":")[0]
        since = self.acquired_at.replace("T", " ").replace("+00:00", " UTC")
        return f"process {pid} on {host.partition('#')[0]}, since {since}"


def this_host() -> str:
    """The hostname and PID namespace: containers sharing a hostname have different PIDs."""
    try:
        ns = "".join(ch for ch in os.readlink("/proc/self/ns/pid") if ch.isdigit())
    except OSError:
        ns = ""
    return f"{socket.gethostname()}#{ns}".replace(":", "_")


def process_holder() -> str:
    """This thread of this process, as a lease holder names it."""
    return f"{this_host()}:{os.getpid()}:{threading.get_ident()}"


def holder_is_dead(holder: str) -> bool:
    """True when the holder ran on this host and its process is gone (a kill, a crash)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != this_host() or not pid.isdigit():
        return False  # another machine or container: only the expiry can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class LeaseTable:
    """A table of leases, one row per key (`keys` columns, then holder, acquired_at and
    expires): run_leases per day, post_leases per day and channel. Table and column names
    are this module's constants, never outside text."""
    name: str
    keys: tuple[str, ...]

    def _match(self) -> str:
        return " and ".join(f"{k} = ?" for k in self.keys)

    def row(self, db, key: tuple) -> Lease | None:
        got = db.execute(f"select holder, acquired_at, expires from {self.name} where {self._match()}",
                         list(key)).fetchone()
        return Lease(*got) if got else None

    def take(self, db, key: tuple, holder: str, now_s: float | None = None) -> Lease | None:
        """Take the lease of `key` (or refresh it, keeping its start); None when this holder
        has it, else the live holder's lease. One conditional upsert, so two processes
        racing for it cannot both win."""
        now_s = time.time() if now_s is None else now_s
        current = self.row(db, key)
        if current and current.holder != holder and current.expires > now_s and not holder_is_dead(current.holder):
            return current
        replaceable = current.holder if current else holder
        cols, t = ", ".join(self.keys), self.name
        with db.conn:
            db.conn.execute(
                f"""insert into {t} ({cols}, holder, acquired_at, expires) values ({", ".join("?" * len(key))},?,?,?)
                    on conflict({cols}) do update set holder = excluded.holder,
                        acquired_at = case when {t}.holder = excluded.holder then {t}.acquired_at
                                           else excluded.acquired_at end,
                        expires = excluded.expires
                    where {t}.holder in (excluded.holder, ?)""",
                [*key, holder, now(), now_s + LEASE_SECONDS, replaceable])
        got = self.row(db, key)
        return None if got and got.holder == holder else got

    def refresh(self, conn: sqlite3.Connection, key: tuple, holder: str) -> bool:
        """Push the expiry on (in the caller's transaction); False when the lease is not this
        holder's any more (taken over)."""
        return conn.execute(f"update {self.name} set expires = ? where {self._match()} and holder = ?",
                            [time.time() + LEASE_SECONDS, *key, holder]).rowcount > 0

    def release(self, db, key: tuple, holder: str) -> None:
        with db.conn:
            db.conn.execute(f"delete from {self.name} where {self._match()} and holder = ?", [*key, holder])


# A feed's day is run by one process at a time; a feed's day goes to a channel by one poster.
RUN_LEASES = LeaseTable("run_leases", ("feed", "date"))
POST_LEASES = LeaseTable("post_leases", ("feed", "date", "channel"))


def _lease_row(db, date: str, *, feed: str) -> Lease | None:
    return RUN_LEASES.row(db, (feed, date))


def take(db, date: str, holder: str, now_s: float | None = None, *, feed: str) -> Lease | None:
    """Take the feed's day's run lease; None when this holder has it, else the live holder's lease."""
    return RUN_LEASES.take(db, (feed, date), holder, now_s)


def release(db, date: str, holder: str, *, feed: str) -> None:
    RUN_LEASES.release(db, (feed, date), holder)


class _Heartbeat(threading.Thread):
    """Refreshes a lease on its own connection (a shared one would commit the run's
    half-done transactions) until `stop()`."""

    def __init__(self, path: str, table: LeaseTable, key: tuple, holder: str):
        super().__init__(name=f"{table.name}-{'-'.join(key)}", daemon=True)
        self.table, self.key, self.holder = table, key, holder
        self.stopped = threading.Event()
        self.lost = threading.Event()  # the lease row is another holder's now, or gone with its file
        self.path = path
        self.file_changed = ""  # why the lease can no longer be refreshed when its file changed under it
        # Opened here, while the file surely exists, and never creating one (mode=rw): a
        # database deleted mid-run must stay deleted, so the run can notice and say so.
        self.conn = sqlite3.connect(f"file:{pathname2url(path)}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_SECONDS,
                                    check_same_thread=False)

    def run(self) -> None:
        conn = self.conn
        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                try:
                    with conn:
                        refreshed = self.table.refresh(conn, self.key, self.holder)
                except sqlite3.Error as exc:
                    if _file_changed_under(exc):  # the run reports it, once, naming the file
                        self.file_changed = f"rewritten in place: its table {self.table.name} is gone (SQLite: {exc})"
                        self.lost.set()
                        return
                    # A busy or slow disk: the next beat tries again; the run itself goes on.
                    log.warning("could not refresh the lease in %s for %s: %s", self.table.name,
                                " ".join(self.key), exc)
                    continue
                if not refreshed:  # taken over (this process stalled past LEASE_SECONDS): stop claiming it
                    self.lost.set()
                    return
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def _file_changed_under(exc: sqlite3.Error) -> bool:
    """The lease's table vanished or the file stopped being a database: the file was emptied
    or rewritten in place mid-run, which no later beat can mend."""
    code = getattr(exc, "sqlite_errorname", "") or ""
    return "no such table" in str(exc) or code == "SQLITE_NOTADB" or code.startswith("SQLITE_CORRUPT")


def start_heartbeat(db, table: LeaseTable, key: tuple, holder: str) -> _Heartbeat | None:
    """Keep `holder`'s lease of `key` alive while this process lives (None for a database
    without a file, which no other process can share)."""
    path = database_file(db)
    if not path:
        return None
    beat = _Heartbeat(path, table, key, holder)
    beat.start()
    return beat


def _span(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:g} s"


class RunLease:
    """`with RunLease(db, date, feed=...):` runs the body holding the feed's day's lease, waiting
    for another holder up to `wait_seconds` (telling `notify` who it is once), else RunInProgress."""

    def __init__(self, db, date: str, *, feed: str, wait_seconds: float = WAIT_SECONDS,
                 notify: Callable[[str], None] | None = None, poll_seconds: float = POLL_SECONDS):
        self.db, self.date, self.wait_seconds, self.poll_seconds = db, date, wait_seconds, poll_seconds
        self.feed = feed
        # How messages name the day: with its feed where an installation may have several.
        self.what = date if feed == DEFAULT_FEED else f"{date} of feed {feed}"
        self.notify = notify or log.warning
        self.holder = process_holder()
        self.heartbeat: _Heartbeat | None = None
        self.waited = False  # another process held the day when this run came: it may have finished it

    def __enter__(self) -> "RunLease":
        deadline = time.monotonic() + self.wait_seconds
        other = take(self.db, self.date, self.holder, feed=self.feed)
        if other:
            self.notify(f"a run for {self.what} is in progress ({other.describe()}); waiting for it to finish "
                        f"(up to {_span(self.wait_seconds)}), then this run uses what it stored")
        waited_for = other
        while other:
            if time.monotonic() >= deadline:
                raise RunInProgress(
                    f"a run for {self.what} is still in progress ({other.describe()}) after "
                    f"{_span(self.wait_seconds)} of waiting: its digest appears when it finishes; "
                    "run the same command again later to see it")
            time.sleep(self.poll_seconds)
            other = take(self.db, self.date, self.holder, feed=self.feed)
        if waited_for:
            self.waited = True
            self.notify(f"the other run for {self.what} has ended; going on with what it stored")
        self.heartbeat = start_heartbeat(self.db, RUN_LEASES, (self.feed, self.date), self.holder)
        return self

    def ensure_held(self) -> None:
        """Raise RunLeaseLost when another process holds the day's lease now; called before
        the run writes its results. A database file deleted or changed under the run is a
        DatabaseFileError naming it."""
        self.ensure_file_unchanged()
        current = _lease_row(self.db, self.date, feed=self.feed)
        if current is not None and current.holder == self.holder and not (self.heartbeat and self.heartbeat.lost.is_set()):
            return
        who = f" ({current.describe()})" if current else ""
        raise RunLeaseLost(f"another process{who} took over the run of {self.what} while this one was stalled "
                           "past its lease; this run stops without writing picks or the digest (the other "
                           "run writes them; the scores stored so far are kept for it)")

    def ensure_file_unchanged(self) -> None:
        """Raise DatabaseFileError when the database's file was deleted, replaced or changed in
        place, as the file itself shows or as the heartbeat found its lease table gone."""
        check_file_unchanged(self.db)
        beat = self.heartbeat
        if beat is not None and beat.file_changed:
            raise changed_in_place(beat.path, beat.file_changed)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        changed = None
        if exc_type is None:
            try:
                self.ensure_file_unchanged()
            except DatabaseFileError as error:
                changed = error
        try:
            release(self.db, self.date, self.holder, feed=self.feed)
        except sqlite3.Error as error:
            # The lease then expires by itself. When the run failed, its own error is the one
            # message to read: a damaged or vanished database fails the release the same way.
            (log.debug if exc_type or changed else log.warning)("could not release the run lease for %s: %s",
                                                                self.date, error)
        if changed is not None:
            raise changed

