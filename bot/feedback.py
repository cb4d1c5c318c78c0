"""Team feedback: each user's current vote on each paper (+1 / -1), with a history.

The latest vote of a user on a paper wins; vote 0 removes it. Every change is also
appended to `feedback_events`. Surfaces (Slack buttons, reactions, imports) call
`set_vote` or `toggle_vote`; scorers read `labels`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .db import now

VALID_VOTES = (-1, 0, 1)


@dataclass
class VoteChange:
    arxiv_id: str
    user_id: str
    before: int  # 0 = no vote
    after: int


def current_vote(db, arxiv_id: str, user_id: str) -> int:
    row = next(db.query("select vote from feedback where arxiv_id = ? and user_id = ?", [arxiv_id, user_id]), None)
    return row["vote"] if row else 0


def set_vote(db, arxiv_id: str, user_id: str, vote: int, source: str, channel: str = "",
             at: str | None = None) -> VoteChange:
    """Set (or with vote=0 remove) a user's vote. Idempotent: the same vote twice is one vote."""
    if vote not in VALID_VOTES:
        raise ValueError(f"vote must be one of {VALID_VOTES}, got {vote!r}")
    if not arxiv_id or not user_id:
        raise ValueError("a vote needs an arxiv_id and a user_id")
    at = at or now()
    with db.conn:
        before = current_vote(db, arxiv_id, user_id)
        if vote == 0:
            db.conn.execute("delete from feedback where arxiv_id = ? and user_id = ?", (arxiv_id, user_id))
        else:
            db.conn.execute(
                """insert into feedback (arxiv_id, user_id, vote, source, channel, created_at, updated_at)
                   values (?,?,?,?,?,?,?)
                   on conflict(arxiv_id, user_id) do update set vote=excluded.vote, source=excluded.source,
                       channel=excluded.channel, updated_at=excluded.updated_at""",
                (arxiv_id, user_id, vote, source, channel, at, at))
        if before != vote:
            db.conn.execute("insert into feedback_events (arxiv_id, user_id, vote, source, at) values (?,?,?,?,?)",
                            (arxiv_id, user_id, vote, source, at))
    return VoteChange(arxiv_id, user_id, before, vote)


def toggle_vote(db, arxiv_id: str, user_id: str, vote: int, source: str, channel: str = "") -> VoteChange:
    """Button semantics: the same vote again removes it, the other vote replaces it."""
    before = current_vote(db, arxiv_id, user_id)
    return set_vote(db, arxiv_id, user_id, 0 if before == vote else vote, source, channel)


def tally(db, arxiv_id: str) -> dict[str, int]:
    row = next(db.query(
        "select sum(vote = 1) as up, sum(vote = -1) as down from feedback where arxiv_id = ?", [arxiv_id]))
    return {"up": row["up"] or 0, "down": row["down"] or 0}


def labels(db) -> dict[str, int]:
    """Net team label per paper: +1 when likes outnumber dislikes, -1 the reverse (ties dropped)."""
    out = {}
    for r in db.query("select arxiv_id, sum(vote) as net from feedback group by arxiv_id"):
        if r["net"] > 0:
            out[r["arxiv_id"]] = 1
        elif r["net"] < 0:
            out[r["arxiv_id"]] = -1
    return out
