"""Feedback history in and out as JSON Lines, so a team can bring its votes and take them away.
Each import or export is one feed's votes (`feed=`): the file itself names no feed, so a
feed's history can move into another feed or installation.

One vote a line: {"arxiv_id": "2502.15315", "user": "U123", "vote": 1, "time": "2025-03-01T09:00:00+00:00"}
vote is 1 (👍), -1 (👎) or 0 (the vote was removed). Export adds "title" and "abstract" when
the paper is known, and import uses them to register a paper this database has never seen,
so the history can train the team model on a fresh install.

Import keeps "latest vote wins": lines are applied in time order, and a line older than the
vote already stored for that user and paper is skipped. Times are compared as instants
(09:00Z, 04:00-05:00 and 09:00:00.000000+00:00 are one time), and of several lines for one
user and paper at one instant the last in the file wins; the earlier ones are counted as
replaced. A line is "already there" only when the stored vote is that line's vote at that
instant, so importing the same file twice changes nothing the second time. A time in the
future is refused (beyond a few minutes of clock skew): it would make every later vote look older.
A line that cannot be read (not UTF-8, not JSON, a field missing: "malformed") or that is
refused (an arxiv_id that is no arXiv id, a user id with odd characters or over 64, a
vote other than 1/-1/0, an odd `source`, a time in the future) is skipped and named as
FILE:LINE with the reason; the other lines are imported, and the report counts each kind.
The file may be gzip-compressed (as eval's labels are) and may start with a UTF-8 BOM.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from . import feedback, store
from .jsonl import at_line, open_binary, read_lines
from .progress import Progress
from .text import counted

MAX_TEXT = 20000
CLOCK_SKEW = timedelta(minutes=10)  # how far ahead of this machine's clock a vote time may be
SOURCE = "import"
PROGRESS_EVERY = 1000  # votes between two progress updates

# New style (YYMM.NNNN or YYMM.NNNNN) or old style (archive[.SC]/YYMMNNN), an optional
# version dropped: the id also names files and URLs, so nothing else may pass as one.
ARXIV_ID = re.compile(r"(?P<id>\d{2}(?:0[1-9]|1[0-2])\.\d{4,5}"
                      r"|[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/\d{2}(?:0[1-9]|1[0-2])\d{3})(?:v[1-9]\d*)?")
USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+:-]{0,63}")  # a Slack id (U012AB3CD) or a plain name
SOURCE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # where the vote was cast: slack, reaction, ...
_FRACTION = re.compile(r"[T ]\d{2}:?\d{2}:?\d{2}[.,]\d")  # the time was written with fractions of a second

MALFORMED = "malformed"
BAD_ID, BAD_USER, BAD_VOTE = "refused: bad arXiv id", "refused: bad user id", "refused: bad vote"
BAD_SOURCE, IN_FUTURE = "refused: bad source", "refused: time in the future"


class LineProblem(Exception):
    """Why one line is skipped: `kind` (MALFORMED or a "refused: ..." reason) and the words."""

    def __init__(self, kind: str, why: str):
        super().__init__(why)
        self.kind, self.why = kind, why


@dataclass
class ImportReport:
    applied: int = 0  # votes set or removed
    unchanged: int = 0  # the same vote was already stored
    older: int = 0  # a newer vote was already stored
    replaced: int = 0  # a later line in the file is for the same user, paper and instant
    new_papers: int = 0  # papers registered from the lines' title/abstract
    unknown_papers: int = 0  # votes on papers without text here (kept, not learnable yet)
    problems: list[str] = field(default_factory=list)  # "FILE:N: what was wrong"
    skipped: Counter = field(default_factory=Counter)  # lines skipped, by kind (MALFORMED, BAD_ID, ...)

    def summary(self, source: str) -> list[str]:
        """What the import did, in words, one category at a time, counted right ("1 vote")."""
        head = (f"imported {source}: {counted(self.applied, 'vote')} applied, {self.unchanged} already there, "
                f"{self.older} older than a stored vote (kept the newer)")
        if self.replaced:
            head += f", {counted(self.replaced, 'line')} replaced by a later line for the same user, paper and time"
        out = [head + "".join(f", {_skipped_words(kind, n)}" for kind, n in sorted(self.skipped.items()))]
        if self.new_papers:
            out.append(f"  {counted(self.new_papers, 'paper')} registered from the file's titles and abstracts")
        if self.unknown_papers:
            one = self.unknown_papers == 1
            out.append(f"  {counted(self.unknown_papers, 'paper')} {'is' if one else 'are'} unknown here (no "
                       f"title/abstract): {'its' if one else 'their'} votes are kept but cannot train the model "
                       f"until {'it is' if one else 'they are'} fetched")
        return out


def _skipped_words(kind: str, n: int) -> str:
    return f"{counted(n, 'malformed line')} skipped" if kind == MALFORMED else f"{counted(n, 'line')} {kind}"


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


def _check_time(value, latest: datetime) -> tuple[str, datetime]:
    """The time as stored, to the precision it was written in (Slack's microseconds survive
    an export and import), and the instant it names (what every comparison uses), or a LineProblem."""
    at = _parse_time(value)
    if at is None:
        raise LineProblem(MALFORMED, "`time` is missing or not an ISO 8601 time such as 2025-03-01T09:00:00Z")
    if at > latest:
        raise LineProblem(IN_FUTURE, f"`time` {str(value)[:40]} is in the future (this machine's clock says "
                                     f"{(latest - CLOCK_SKEW).isoformat(timespec='seconds')}); fix the time or the clock")
    return at.isoformat(timespec="microseconds" if _FRACTION.search(value) else "seconds"), at


def _field(row: dict, key: str, pattern: re.Pattern, refusal: str, example: str) -> re.Match:
    """`row[key]`, a string that `pattern` matches whole (outer blanks dropped), or a LineProblem."""
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise LineProblem(MALFORMED, f"`{key}` is missing or not a string")
    match = pattern.fullmatch(value.strip())
    if not match:
        raise LineProblem(refusal, f"`{key}` {value[:40]!r} is not {example}")
    return match


def _check_source(row: dict) -> None:
    """An optional `source` (where the vote was cast) must be a short plain word."""
    value = row.get("source")
    if value is not None and not (isinstance(value, str) and SOURCE_NAME.fullmatch(value)):
        raise LineProblem(BAD_SOURCE, f"`source` {str(value)[:40]!r} is not a short lowercase word such as slack")


def _check(row, latest: datetime) -> dict:
    """The vote a line asks for, its fields checked, or a LineProblem."""
    if not isinstance(row, dict):
        raise LineProblem(MALFORMED, "not a JSON object")
    aid = _field(row, "arxiv_id", ARXIV_ID, BAD_ID, "an arXiv id (such as 2502.12345, 2502.12345v2 or cs/0101001)")
    user = _field(row, "user", USER_ID, BAD_USER, "a user id (1-64 letters, digits or . _ @ + : -, such as U012AB3CD)")
    vote = row.get("vote")
    if vote is None:
        raise LineProblem(MALFORMED, "`vote` is missing")
    if type(vote) is not int or vote not in feedback.VALID_VOTES:
        raise LineProblem(BAD_VOTE, f"`vote` must be 1, -1 or 0, got {vote!r}"[:120])
    _check_source(row)
    time, at = _check_time(row.get("time"), latest)
    out = {"arxiv_id": aid["id"], "user": user.group(), "vote": vote, "time": time, "at": at}
    for key in ("title", "abstract"):
        if isinstance(row.get(key), str) and row[key].strip():
            out[key] = row[key].strip()[:MAX_TEXT]
    return out


def read_votes(fh: IO[bytes], source: str = "input") -> tuple[list[dict], list[str], Counter]:
    """The file's valid votes, one "SOURCE:LINE: why" per line skipped, and how many lines
    were skipped of each kind."""
    latest = datetime.now(timezone.utc) + CLOCK_SKEW
    votes, problems, skipped = [], [], Counter()
    for line in read_lines(fh, f"feedback file {source}"):
        try:
            if line.problem:
                raise LineProblem(MALFORMED, line.problem)
            votes.append(_check(line.value, latest))
        except LineProblem as bad:
            problems.append(at_line(source, line.number, bad.why))
            skipped[bad.kind] += 1
    return votes, problems, skipped


def _ensure_paper(db, v: dict) -> str:
    """'known', 'new' (registered from the line) or 'unknown'."""
    if store.has_paper(db, v["arxiv_id"]):
        return "known"
    if "title" in v and "abstract" in v:
        store.add_paper_text(db, v["arxiv_id"], v["title"], v["abstract"], first_seen=v["time"])
        return "new"
    return "unknown"


def _last_per_instant(votes: list[dict]) -> tuple[list[dict], int]:
    """The votes in time order, keeping of several lines for one user and paper at one
    instant only the last in the file (file order is all that tells them apart), and how
    many were dropped."""
    last = {(v["arxiv_id"], v["user"], v["at"]): v for v in votes}
    return sorted(last.values(), key=lambda v: v["at"]), len(votes) - len(last)


def import_votes(db, fh: IO[bytes], source: str = "input", progress: Progress | None = None, *,
                 feed: str) -> ImportReport:
    """Apply the votes of a JSON lines file opened in binary, plain or gzip (`source` names
    it in problems) as votes of the feed."""
    votes, problems, skipped = read_votes(fh, source)
    votes, replaced = _last_per_instant(votes)
    rep = ImportReport(problems=problems, skipped=skipped, replaced=replaced)
    seen_unknown: set[str] = set()
    if progress and votes:
        progress(0, step=f"importing {source}", total=len(votes))
    reported = 0
    horizon = datetime.now(timezone.utc) + CLOCK_SKEW
    for n, v in enumerate(votes, 1):
        _count_paper(rep, _ensure_paper(db, v), v["arxiv_id"], seen_unknown)
        _apply(db, v, rep, horizon, feed=feed)
        if progress and (n % PROGRESS_EVERY == 0 or n == len(votes)):
            progress(n - reported)
            reported = n
    return rep


def _count_paper(rep: ImportReport, state: str, arxiv_id: str, seen_unknown: set[str]) -> None:
    if state == "new":
        rep.new_papers += 1
    elif state == "unknown" and arxiv_id not in seen_unknown:
        seen_unknown.add(arxiv_id)
        rep.unknown_papers += 1


def _stored(db, v: dict, *, feed: str) -> tuple[int, datetime | None]:
    """The vote held in the feed for the line's user and paper (0: none) and the time of the
    latest change to it (the vote's own, or the removal's)."""
    held = feedback.stored_vote(db, v["arxiv_id"], v["user"], feed=feed)
    if held:
        return held[0], _parse_time(held[1])
    times = [_parse_time(at) for at in feedback.event_times(db, v["arxiv_id"], v["user"], feed=feed)]
    return 0, max((t for t in times if t), default=None)  # as instants: the texts differ in width


def _apply(db, v: dict, rep: ImportReport, horizon: datetime, *, feed: str) -> None:
    """Apply one vote unless a newer one is stored, or this very vote is (imported before,
    or exported from here: the same value at the same instant). A stored time past
    `horizon` (the future, from an import made before times were checked) does not count
    as newer: it would block every real vote."""
    held, held_at = _stored(db, v, feed=feed)
    at = v["at"]
    if held_at and horizon >= held_at > at:
        rep.older += 1
        return
    if held_at == at and held == v["vote"]:
        rep.unchanged += 1
        return
    change = feedback.set_vote(db, v["arxiv_id"], v["user"], v["vote"], source=SOURCE, at=v["time"], feed=feed)
    if change.before == change.after:
        rep.unchanged += 1
    else:
        rep.applied += 1


def export_votes(db, fh: IO[str], *, feed: str) -> int:
    """Write every current vote of the feed (oldest first); returns how many."""
    votes = feedback.votes_oldest_first(db, feed=feed)
    papers = store.get_papers(db, [r["arxiv_id"] for r in votes])
    for r in votes:
        out = {"arxiv_id": r["arxiv_id"], "user": r["user_id"], "vote": r["vote"], "time": r["updated_at"]}
        paper = papers.get(r["arxiv_id"])
        if paper and paper.title:
            out["title"], out["abstract"] = paper.title, paper.abstract or ""
        fh.write(json.dumps(out, ensure_ascii=False) + "\n")
    return len(votes)


def open_input(path: str | Path) -> IO[bytes]:
    """Binary, so that a line that is not UTF-8 costs that line, not the file; read_lines
    unpacks a gzip file itself."""
    return open_binary(path, "feedback file")
