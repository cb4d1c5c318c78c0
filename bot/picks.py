"""A day's picks as stored (table `picks`, this module its home): what the digest and the
Slack thread showed, in rank order, each with the score it was picked on.

The pipeline writes them once per run of a day (`save_day`); a re-rendered message, a
resumed thread and the team figures read them back here."""
from __future__ import annotations

from .digest import Pick


def save_day(db, date: str, picks: list[Pick], scorer: str) -> None:
    """The day's picks become exactly these, ranked 1.. in the order given."""
    with db.conn:
        db.conn.execute("delete from picks where date = ?", (date,))
        db.conn.executemany(
            """insert into picks (date, rank, arxiv_id, relevance, novelty, comment, author_match, scorer, source)
               values (?,?,?,?,?,?,?,?,?)""",
            [(date, i, pk.paper.arxiv_id, pk.score.relevance, pk.score.novelty,
              "Author match" if pk.author_match else pk.score.comment, int(bool(pk.author_match)), scorer,
              pk.score.source)
             for i, pk in enumerate(picks, 1)])


def day_rows(db, date: str) -> list[dict]:
    """The stored rows of a day's picks, in rank order."""
    return list(db.query("select * from picks where date = ? order by rank", [date]))


def pick_row(db, date: str, arxiv_id: str) -> dict | None:
    return next(db.query("select * from picks where date = ? and arxiv_id = ?", [date, arxiv_id]), None)


def recent_dates(db, days: int) -> list[str]:
    """The latest `days` dates that have picks, newest first."""
    return [r["date"] for r in db.query("select distinct date from picks order by date desc limit ?", [days])]


def picked_ids(db, date: str) -> list[str]:
    return [r["arxiv_id"] for r in db.query("select arxiv_id from picks where date = ? order by rank", [date])]
