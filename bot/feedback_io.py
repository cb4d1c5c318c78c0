"""Feedback history in and out as JSON Lines, so a team can bring its votes and take them away.

One vote a line: {"arxiv_id": "2502.15315", "user": "U123", "vote": 1, "time": "2025-03-01T09:00:00+00:00"}
vote is 1 (👍), -1 (👎) or 0 (the vote was removed). Export adds "title" and "abstract" when
the paper is known, and import uses them to register a paper this database has never seen,
so the history can train the team model on a fresh install.

Import keeps "latest vote wins": lines are applied in time order, and a line older than the
vote already stored for that user and paper is skipped. Importing the same file twice
changes nothing the second time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from . import feedback
from .db import now

MAX_ID = 64
MAX_TEXT = 20000


@dataclass
class ImportReport:
    applied: int = 0  # votes set or removed
    unchanged: int = 0  # the same vote was already stored
    older: int = 0  # a newer vote was already stored
    new_papers: int = 0  # papers registered from the lines' title/abstract
    unknown_papers: int = 0  # votes on papers without text here (kept, not learnable yet)
    problems: list[str] = field(default_factory=list)  # "line N: what was wrong"


def _parse_time(value) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="seconds")


def _check(row) -> tuple[dict | None, str | None]:
    if not isinstance(row, dict):
        return None, "not a JSON object"
    aid, user, vote = row.get("arxiv_id"), row.get("user"), row.get("vote")
    if not isinstance(aid, str) or not aid.strip() or len(aid) > MAX_ID:
        return None, "`arxiv_id` is missing or not a short string"
    if not isinstance(user, str) or not user.strip() or len(user) > MAX_ID:
        return None, "`user` is missing or not a short string"
    if isinstance(vote, bool) or vote not in feedback.VALID_VOTES:
        return None, f"`vote` must be 1, -1 or 0, got {vote!r}"[:120]
    at = _parse_time(row.get("time"))
    if at is None:
        return None, "`time` is missing or not an ISO 8601 time such as 2025-03-01T09:00:00Z"
    out = {"arxiv_id": aid.strip(), "user": user.strip(), "vote": int(vote), "time": at}
    for key in ("title", "abstract"):
        if isinstance(row.get(key), str) and row[key].strip():
            out[key] = row[key].strip()[:MAX_TEXT]
    return out, None


def read_votes(fh: IO[str]) -> tuple[list[dict], list[str]]:
    votes, problems = [], []
    for n, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: not valid JSON ({exc.msg})")
            continue
        vote, problem = _check(row)
        if problem:
            problems.append(f"line {n}: {problem}")
        else:
            votes.append(vote)
    return votes, problems


def _ensure_paper(db, v: dict) -> str:
    """'known', 'new' (registered from the line) or 'unknown'."""
    if next(db.query("select 1 as x from papers where arxiv_id = ?", [v["arxiv_id"]]), None):
        return "known"
    if "title" in v and "abstract" in v:
        with db.conn:
            db.conn.execute(
                """insert into papers (arxiv_id, version, title, authors, abstract, categories, first_seen, updated_at)
                   values (?, 1, ?, '[]', ?, '[]', ?, ?)""", (v["arxiv_id"], v["title"], v["abstract"], v["time"], now()))
        return "new"
    return "unknown"


def import_votes(db, fh: IO[str]) -> ImportReport:
    votes, problems = read_votes(fh)
    rep = ImportReport(problems=problems)
    seen_unknown: set[str] = set()
    for v in sorted(votes, key=lambda v: v["time"]):  # stable: same time keeps file order
        state = _ensure_paper(db, v)
        if state == "new":
            rep.new_papers += 1
        elif state == "unknown" and v["arxiv_id"] not in seen_unknown:
            seen_unknown.add(v["arxiv_id"])
            rep.unknown_papers += 1
        row = next(db.query("select vote, updated_at from feedback where arxiv_id = ? and user_id = ?",
                            [v["arxiv_id"], v["user"]]), None)
        last = next(db.query("select max(at) as at from feedback_events where arxiv_id = ? and user_id = ?",
                             [v["arxiv_id"], v["user"]]))["at"]
        stored_at = row["updated_at"] if row else last
        if stored_at and stored_at > v["time"]:
            rep.older += 1
            continue
        change = feedback.set_vote(db, v["arxiv_id"], v["user"], v["vote"], source="import", at=v["time"])
        if change.before == change.after:
            rep.unchanged += 1
        else:
            rep.applied += 1
    return rep


def export_votes(db, fh: IO[str]) -> int:
    """Write every current vote (oldest first); returns how many."""
    n = 0
    rows = db.query(
        """select f.arxiv_id, f.user_id, f.vote, f.updated_at, p.title, p.abstract
           from feedback f left join papers p using (arxiv_id) order by f.updated_at, f.arxiv_id, f.user_id""")
    for r in rows:
        out = {"arxiv_id": r["arxiv_id"], "user": r["user_id"], "vote": r["vote"], "time": r["updated_at"]}
        if r["title"]:
            out["title"], out["abstract"] = r["title"], r["abstract"] or ""
        fh.write(json.dumps(out, ensure_ascii=False) + "\n")
        n += 1
    return n


def open_input(path: str | Path) -> IO[str]:
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read feedback file {path}: {exc.strerror or exc}") from None
