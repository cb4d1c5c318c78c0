"""Feedback history in and out as JSON Lines, so a team can bring its votes and take them away.

One vote a line: {"arxiv_id": "2502.15315", "user": "U123", "vote": 1, "time": "2025-03-01T09:00:00+00:00"}
vote is 1 (👍), -1 (👎) or 0 (the vote was removed). Export adds "title" and "abstract" when
the paper is known, and import uses them to register a paper this database has never seen,
so the history can train the team model on a fresh install.

Import keeps "latest vote wins": lines are applied in time order, and a line older than the
vote already stored for that user and paper is skipped. A time in the future is refused
(beyond a few minutes of clock skew): it would make every later vote look older. An
imported vote is recorded once by its natural key (paper, user, time, vote), so importing
the same file twice changes nothing the second time, even for votes that share a time.
A line that cannot be read (not UTF-8, not JSON, a field missing) is skipped and named
as FILE:LINE with the reason; the other lines are imported.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from . import feedback
from .db import now
from .jsonl import at_line, read_lines
from .progress import Progress

MAX_ID = 64
MAX_TEXT = 20000
CLOCK_SKEW = timedelta(minutes=10)  # how far ahead of this machine's clock a vote time may be
SOURCE = "import"
PROGRESS_EVERY = 1000  # votes between two progress updates


@dataclass
class ImportReport:
    applied: int = 0  # votes set or removed
    unchanged: int = 0  # the same vote was already stored
    older: int = 0  # a newer vote was already stored
    new_papers: int = 0  # papers registered from the lines' title/abstract
    unknown_papers: int = 0  # votes on papers without text here (kept, not learnable yet)
    problems: list[str] = field(default_factory=list)  # "FILE:N: what was wrong"


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.strip())
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return t.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:00-05:00 is past year 9999 in UTC
        return None


def _check_time(value, latest: datetime) -> tuple[str | None, str | None]:
    """(the time as stored, None) or (None, what is wrong with it)."""
    at = _parse_time(value)
    if at is None:
        return None, "`time` is missing or not an ISO 8601 time such as 2025-03-01T09:00:00Z"
    if at > latest:
        return None, (f"`time` {str(value)[:40]} is in the future (this machine's clock says "
                      f"{(latest - CLOCK_SKEW).isoformat(timespec='seconds')}); fix the time or the clock")
    return at.isoformat(timespec="seconds"), None


def _check(row, latest: datetime) -> tuple[dict | None, str | None]:
    if not isinstance(row, dict):
        return None, "not a JSON object"
    aid, user, vote = row.get("arxiv_id"), row.get("user"), row.get("vote")
    if not isinstance(aid, str) or not aid.strip() or len(aid) > MAX_ID:
        return None, "`arxiv_id` is missing or not a short string"
    if not isinstance(user, str) or not user.strip() or len(user) > MAX_ID:
        return None, "`user` is missing or not a short string"
    if isinstance(vote, bool) or vote not in feedback.VALID_VOTES:
        return None, f"`vote` must be 1, -1 or 0, got {vote!r}"[:120]
    at, problem = _check_time(row.get("time"), latest)
    if problem:
        return None, problem
    out = {"arxiv_id": aid.strip(), "user": user.strip(), "vote": int(vote), "time": at}
    for key in ("title", "abstract"):
        if isinstance(row.get(key), str) and row[key].strip():
            out[key] = row[key].strip()[:MAX_TEXT]
    return out, None


def read_votes(fh: IO[bytes], source: str = "input") -> tuple[list[dict], list[str]]:
    """The file's valid votes, and one "SOURCE:LINE: why" per line skipped."""
    latest = datetime.now(timezone.utc) + CLOCK_SKEW
    votes, problems = [], []
    for line in read_lines(fh):
        vote, problem = (None, line.problem) if line.problem else _check(line.value, latest)
        if problem:
            problems.append(at_line(source, line.number, problem))
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


def _already_imported(db, v: dict) -> bool:
    """This very vote (paper, user, time, value) was imported before: a re-import skips it."""
    return next(db.query(
        "select 1 as x from feedback_events where arxiv_id = ? and user_id = ? and source = ? and at = ? and vote = ?",
        [v["arxiv_id"], v["user"], SOURCE, v["time"], v["vote"]]), None) is not None


def import_votes(db, fh: IO[bytes], source: str = "input", progress: Progress | None = None) -> ImportReport:
    """Apply the votes of a JSON lines file opened in binary (`source` names it in problems)."""
    votes, problems = read_votes(fh, source)
    rep = ImportReport(problems=problems)
    seen_unknown: set[str] = set()
    if progress and votes:
        progress(0, step=f"importing {source}", total=len(votes))
    reported = 0
    horizon = (datetime.now(timezone.utc) + CLOCK_SKEW).isoformat(timespec="seconds")
    for n, v in enumerate(sorted(votes, key=lambda v: v["time"]), 1):  # stable: same time keeps file order
        _apply(db, v, rep, seen_unknown, horizon)
        if progress and (n % PROGRESS_EVERY == 0 or n == len(votes)):
            progress(n - reported)
            reported = n
    return rep


def _apply(db, v: dict, rep: ImportReport, seen_unknown: set[str], horizon: str) -> None:
    """Apply one vote unless a newer one is stored or this very vote was imported before.
    A stored time past `horizon` (the future, from an import made before times were
    checked) does not count as newer: it would block every real vote."""
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
    if stored_at and horizon >= stored_at > v["time"]:
        rep.older += 1
        return
    if _already_imported(db, v):
        rep.unchanged += 1
        return
    change = feedback.set_vote(db, v["arxiv_id"], v["user"], v["vote"], source=SOURCE, at=v["time"])
    if change.before == change.after:
        rep.unchanged += 1
    else:
        rep.applied += 1


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


def open_input(path: str | Path) -> IO[bytes]:
    """Binary, so that a line that is not UTF-8 costs that line, not the file."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ValueError(f"cannot read feedback file {path}: {exc.strerror or exc}") from None
