"""Team feedback: each user's current vote on each paper (+1 / -1), with a history.

The latest vote of a user on a paper wins; vote 0 removes it. Every change is also
appended to `feedback_events`. Imports call `set_vote`; scorers read `labels`. This
module is the home of both tables: every query of them is here.

Votes belong to a feed (`feed=`, its name): the same paper voted in two feeds is two votes
with two tallies, and each feed's labels train only that feed's taste.

Slack delivers events at least once and not in order: a retry of a reaction_added can
arrive after the reaction_removed that followed it. So Slack's surfaces call `apply_event`
with the event's own time: an event older than the latest one seen for that user and
paper on any of those surfaces (a reaction and a click are one vote) is recorded (effect
"stale") but leaves the vote as it is, and a repeat of an event already seen (same source,
same time) is not recorded twice. Imported votes carry times the user chose, not Slack's
clock, so they take no part in that order.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from .db import now

VALID_VOTES = (-1, 0, 1)
# The Slack surfaces whose events `apply_event` orders together, by Slack's own times.
EVENT_SOURCES = ("reaction", "button")
# What an event does to the vote a user holds: the vote held -> the vote after the event.
Decide = Callable[[int], int]


@dataclass
class VoteChange:
    arxiv_id: str
    user_id: str
    before: int  # 0 = no vote
    after: int
    applied: bool = True  # False: a stale or repeated event, recorded at most, not applied


def current_vote(db, arxiv_id: str, user_id: str, *, feed: str) -> int:
    row = next(db.query("select vote from feedback where feed = ? and arxiv_id = ? and user_id = ?",
                        [feed, arxiv_id, user_id]), None)
    return row["vote"] if row else 0


def _store_vote(db, arxiv_id: str, user_id: str, vote: int, source: str, channel: str, at: str, *,
                feed: str) -> None:
    """The current-vote row: written for +1 / -1, deleted for 0 (inside the caller's transaction)."""
    if vote == 0:
        db.conn.execute("delete from feedback where feed = ? and arxiv_id = ? and user_id = ?",
                        (feed, arxiv_id, user_id))
        return
    db.conn.execute(
        """insert into feedback (feed, arxiv_id, user_id, vote, source, channel, created_at, updated_at)
           values (?,?,?,?,?,?,?,?)
           on conflict(feed, arxiv_id, user_id) do update set vote=excluded.vote, source=excluded.source,
               channel=excluded.channel, updated_at=excluded.updated_at""",
        (feed, arxiv_id, user_id, vote, source, channel, at, at))


def _record_event(db, arxiv_id: str, user_id: str, vote: int, source: str, at: str, effect: str, *,
                  feed: str) -> None:
    db.conn.execute("insert into feedback_events (feed, arxiv_id, user_id, vote, source, at, effect) "
                    "values (?,?,?,?,?,?,?)", (feed, arxiv_id, user_id, vote, source, at, effect))


def set_vote(db, arxiv_id: str, user_id: str, vote: int, source: str, channel: str = "",
             at: str | None = None, *, feed: str) -> VoteChange:
    """Set (or with vote=0 remove) a user's vote. Idempotent: the same vote twice is one vote."""
    if vote not in VALID_VOTES:
        raise ValueError(f"vote must be one of {VALID_VOTES}, got {vote!r}")
    if not arxiv_id or not user_id:
        raise ValueError("a vote needs an arxiv_id and a user_id")
    at = at or now()
    with db.conn:
        before = current_vote(db, arxiv_id, user_id, feed=feed)
        _store_vote(db, arxiv_id, user_id, vote, source, channel, at, feed=feed)
        if before != vote:
            _record_event(db, arxiv_id, user_id, vote, source, at, "changed", feed=feed)
    return VoteChange(arxiv_id, user_id, before, vote)


def toggle_vote(db, arxiv_id: str, user_id: str, vote: int, source: str, channel: str = "",
                at: str | None = None, *, feed: str) -> VoteChange:
    """Button semantics: the same vote again removes it, the other vote replaces it. With
    `at` (the click's own time) a click older than the latest click or reaction seen
    changes nothing."""
    return apply_event(db, arxiv_id, user_id, source, at or event_time(None), toggles(vote), channel, feed=feed)


def becomes(vote: int) -> Decide:
    """reaction_added: the vote is `vote`, whatever was held."""
    return lambda held: vote


def takes_back(vote: int) -> Decide:
    """reaction_removed: no vote, unless the vote held is another one (cast later elsewhere)."""
    return lambda held: 0 if held == vote else held


def toggles(vote: int) -> Decide:
    """A button: the same vote again removes it, the other vote replaces it."""
    return lambda held: 0 if held == vote else vote


def event_time(*candidates) -> str:
    """The ISO time (microseconds, UTC) of the first usable Slack time among `candidates`
    (event_ts / action_ts like "1700000001.000123", or event_time seconds); now if none."""
    for value in candidates:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if 0 < seconds < 1e11:
            return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds")
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@contextlib.contextmanager
def _write_lock(db):
    """One transaction from the first read, so two events for one vote never interleave."""
    if not db.conn.in_transaction:
        db.conn.execute("begin immediate")
    with db.conn:
        yield


def _seen(db, arxiv_id: str, user_id: str, source: str, at: str, *, feed: str) -> tuple[str | None, bool]:
    """The latest event time seen for (paper, user) from this source and EVENT_SOURCES, and
    whether this event (its source and time) is on record already: a Slack retry of an
    event handled before."""
    sources = {source, *EVENT_SOURCES}
    marks = ",".join("?" * len(sources))
    row = db.execute(f"select max(at), sum(at = ? and source = ?) from feedback_events where feed = ? "
                     f"and arxiv_id = ? and user_id = ? and source in ({marks})",
                     [at, source, feed, arxiv_id, user_id, *sources]).fetchone()
    return row[0], bool(row[1])


def _stale_on_record(db, arxiv_id: str, user_id: str, source: str, at: str, *, feed: str) -> bool:
    return db.execute("select 1 from feedback_events where feed = ? and arxiv_id = ? and user_id = ? "
                      "and source = ? and at = ? and effect = 'stale'",
                      [feed, arxiv_id, user_id, source, at]).fetchone() is not None


def apply_event(db, arxiv_id: str, user_id: str, source: str, at: str, decide: Decide,
                channel: str = "", *, feed: str) -> VoteChange:
    """Apply one event from a surface that delivers at least once and out of order, in the
    order of `at` (the event's own ISO time) per user and paper across EVENT_SOURCES. An event older
    than the latest is recorded once as "stale" and changes nothing; a repeat of the latest
    is dropped; any other is applied and recorded as "changed" or "unchanged", with the
    vote it asked for."""
    if not arxiv_id or not user_id:
        raise ValueError("a vote needs an arxiv_id and a user_id")
    with _write_lock(db):
        latest, repeat = _seen(db, arxiv_id, user_id, source, at, feed=feed)
        before = current_vote(db, arxiv_id, user_id, feed=feed)
        stale = latest is not None and at < latest
        if (repeat and not stale) or (stale and _stale_on_record(db, arxiv_id, user_id, source, at, feed=feed)):
            return VoteChange(arxiv_id, user_id, before, before, applied=False)
        wanted = decide(before)
        if wanted not in VALID_VOTES:
            raise ValueError(f"vote must be one of {VALID_VOTES}, got {wanted!r}")
        if not stale and wanted != before:
            _store_vote(db, arxiv_id, user_id, wanted, source, channel, at, feed=feed)
        effect = "stale" if stale else "changed" if wanted != before else "unchanged"
        _record_event(db, arxiv_id, user_id, wanted, source, at, effect, feed=feed)
    after = before if stale else wanted
    return VoteChange(arxiv_id, user_id, before, after, applied=not stale)


def tally(db, arxiv_id: str, *, feed: str) -> dict[str, int]:
    row = next(db.query("select sum(vote = 1) as up, sum(vote = -1) as down from feedback "
                        "where feed = ? and arxiv_id = ?", [feed, arxiv_id]))
    return {"up": row["up"] or 0, "down": row["down"] or 0}


def labels(db, *, feed: str) -> dict[str, int]:
    """Net team label per paper in the feed: +1 when likes outnumber dislikes, -1 the reverse (ties dropped)."""
    out = {}
    for r in db.query("select arxiv_id, sum(vote) as net from feedback where feed = ? group by arxiv_id", [feed]):
        if r["net"] > 0:
            out[r["arxiv_id"]] = 1
        elif r["net"] < 0:
            out[r["arxiv_id"]] = -1
    return out


def has_votes(db, *, feed: str) -> bool:
    return next(db.query("select 1 as x from feedback where feed = ? limit 1", [feed]), None) is not None


def count_votes(db, *, feed: str) -> int:
    return next(db.query("select count(*) as n from feedback where feed = ?", [feed]))["n"]


def stored_vote(db, arxiv_id: str, user_id: str, *, feed: str) -> tuple[int, str] | None:
    """The vote a user holds on a paper in the feed and when it was last set, None without one."""
    row = next(db.query("select vote, updated_at from feedback where feed = ? and arxiv_id = ? and user_id = ?",
                        [feed, arxiv_id, user_id]), None)
    return (row["vote"], row["updated_at"]) if row else None


def event_times(db, arxiv_id: str, user_id: str, *, feed: str) -> list[str]:
    """The times of every recorded event for a user and paper in the feed, as stored."""
    return [r["at"] for r in db.query("select at from feedback_events where feed = ? and arxiv_id = ? "
                                      "and user_id = ?", [feed, arxiv_id, user_id])]


def votes_oldest_first(db, *, feed: str) -> list[dict]:
    """Every current vote in the feed (arxiv_id, user_id, vote, updated_at), the oldest first."""
    return list(db.query("select arxiv_id, user_id, vote, updated_at from feedback where feed = ? "
                         "order by updated_at, arxiv_id, user_id", [feed]))


def latest_vote_times(db, *, feed: str) -> dict[str, str]:
    """arxiv_id -> the time of the latest vote on it, for every paper someone votes on in the feed."""
    return {r["arxiv_id"]: r["at"] for r in
            db.query("select arxiv_id, max(updated_at) as at from feedback where feed = ? group by arxiv_id", [feed])}


def net_verdicts(db, *, feed: str) -> list[dict]:
    """The papers with a net verdict in the feed (arxiv_id, net, last_vote), the most recently voted first."""
    return list(db.query(
        """select arxiv_id, sum(vote) as net, max(updated_at) as last_vote from feedback where feed = ?
           group by arxiv_id having net != 0 order by last_vote desc, arxiv_id""", [feed]))


def _chunks(ids: list[str], size: int = 500):
    ids = sorted(set(ids))
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        yield chunk, ",".join("?" * len(chunk))


def tallies(db, ids: list[str], *, feed: str) -> dict[str, dict[str, int]]:
    """arxiv_id -> {"up", "down"} for the papers among `ids` with a vote in the feed (in id order)."""
    out = {}
    for chunk, marks in _chunks(ids):
        for r in db.query(f"""select arxiv_id, sum(vote = 1) as up, sum(vote = -1) as down from feedback
                              where feed = ? and arxiv_id in ({marks}) group by arxiv_id order by arxiv_id""",
                          [feed, *chunk]):
            out[r["arxiv_id"]] = {"up": r["up"], "down": r["down"]}
    return out


def voter_count(db, ids: list[str], *, feed: str) -> int:
    """How many people hold a vote in the feed on any of these papers."""
    users: set[str] = set()
    for chunk, marks in _chunks(ids):
        users.update(r["user_id"] for r in db.query(
            f"select distinct user_id from feedback where feed = ? and arxiv_id in ({marks})", [feed, *chunk]))
    return len(users)
