"""One SQLite connection per thread for the listeners.

Bolt answers each request on a worker thread, and several run at once (two clicks, a
reaction, a run in the background). One shared sqlite3 connection is not safe for that:
transactions and sqlite-utils' savepoints of different threads interleave on it ("no such
savepoint", a commit of another thread's half-done write). So every listener works on its
own thread's connection to the same file; WAL lets them read beside a writer and the busy
timeout queues writers.
"""
from __future__ import annotations

import dataclasses
import threading

from ..db import open_db

_local = threading.local()


def file_of(db) -> str:
    """The file behind a sqlite_utils Database ("" for an in-memory one)."""
    rows = db.conn.execute("pragma database_list").fetchall()
    return next((r[2] for r in rows if r[1] == "main"), "") or ""


def db_for_thread(db, path: str | None = None):
    """This thread's connection to `db`'s file (`db` itself for an in-memory database)."""
    path = file_of(db) if path is None else path
    if not path:  # ":memory:" cannot be opened twice; it is single-threaded use anyway
        return db
    cache = _local.__dict__.setdefault("dbs", {})
    mine = cache.get(path)
    if mine is None:
        mine = cache[path] = open_db(path, apply_migrations=False)
    return mine


class ThreadLocalDB:
    """Stands for a sqlite_utils Database; every use goes to the calling thread's connection."""

    def __init__(self, db):
        self._shared = db
        self._path = file_of(db)  # looked up once, here: the shared connection is not touched again

    def __getattr__(self, name):
        return getattr(db_for_thread(self._shared, self._path), name)

    def __getitem__(self, table):
        return db_for_thread(self._shared, self._path)[table]


def listener_ctx(ctx):
    """`ctx` whose `db` is per thread (locks, client and the run function stay shared)."""
    if isinstance(ctx.db, ThreadLocalDB):
        return ctx
    return dataclasses.replace(ctx, db=ThreadLocalDB(ctx.db))


def close_thread_dbs() -> None:
    """Close this thread's connections (for short-lived threads)."""
    for db in (_local.__dict__.pop("dbs", None) or {}).values():
        db.conn.close()
