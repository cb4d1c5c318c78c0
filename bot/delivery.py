"""The exactly-once delivery record (table `deliveries`), for every delivery surface.

A feed's day is delivered to a target (a Slack channel, a mailbox) as items: its first
message ("parent") and one per paper. Each item is recorded around its sending: first an
intent (no ts), then what the surface answered (its message id, `ts`). So a second run finds
every item delivered and sends nothing; a crash between the surface's answer and the record
leaves an intent, which the surface can look for before sending again.
"""
from __future__ import annotations

from .db import now

PARENT = "parent"


def delivered(db, date: str, target: str, *, feed: str) -> dict[str, dict]:
    """The feed's day's items recorded for a target (intents included: their ts is empty)."""
    return {r["item"]: r for r in db.query(
        "select * from deliveries where feed = ? and date = ? and channel = ?", [feed, date, target])}


def intend(db, date: str, target: str, item: str, thread_ts: str | None, channel_id: str | None, *,
           feed: str) -> None:
    with db.conn:
        db.conn.execute(
            """insert into deliveries (feed, date, channel, item, ts, thread_ts, posted_at, channel_id)
               values (?, ?, ?, ?, null, ?, null, ?)
               on conflict(feed, date, channel, item) do update set thread_ts = excluded.thread_ts,
                   channel_id = coalesce(excluded.channel_id, deliveries.channel_id)""",
            (feed, date, target, item, thread_ts, channel_id))


def record(db, date: str, target: str, item: str, ts: str, thread_ts: str | None, channel_id: str, *,
           feed: str) -> None:
    with db.conn:
        db.conn.execute(
            """update deliveries set ts = ?, thread_ts = ?, channel_id = ?, posted_at = ?
               where feed = ? and date = ? and channel = ? and item = ?""",
            (ts, thread_ts, channel_id, now(), feed, date, target, item))


def forget_intent(db, date: str, target: str, item: str, *, feed: str) -> None:
    """Drop an intent the surface refused (nothing was sent)."""
    with db.conn:
        db.conn.execute("delete from deliveries where feed = ? and date = ? and channel = ? and item = ? "
                        "and ts is null", (feed, date, target, item))


def forget(db, date: str, target: str, item: str, *, feed: str) -> None:
    """Drop an item's record, sent or not (its message is gone from the surface)."""
    with db.conn:
        db.conn.execute("delete from deliveries where feed = ? and date = ? and channel = ? and item = ?",
                        (feed, date, target, item))


def papers_delivered(db, date: str, target: str, *, feed: str) -> int:
    return sum(1 for r in delivered(db, date, target, feed=feed).values() if r["ts"] and r["item"] != PARENT)


def find_paper_message(db, channel_id: str, ts: str) -> dict | None:
    """The delivery row (with its feed) of one of our paper messages, by the surface's channel
    ID and message id; None for a parent or any other message."""
    return next(db.query(
        "select * from deliveries where (channel_id = ? or channel = ?) and ts = ? and item != ?",
        [channel_id, channel_id, ts, PARENT]), None)


def thread_of(db, channel_id: str, ts: str) -> dict | None:
    """The delivery row of any of our messages (parent included) by channel ID and message id."""
    return next(db.query("select * from deliveries where (channel_id = ? or channel = ?) and ts = ?",
                         [channel_id, channel_id, ts]), None)
