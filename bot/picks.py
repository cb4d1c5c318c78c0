"""A day's picks as stored (table `picks`, this module its home): what the digest and the
Slack thread showed, in rank order, each with the score it was picked on.

The pipeline writes them once per run of a feed's day (`save_day`); a re-rendered message, a
resumed thread and the team figures read them back here. Every feed has its own picks: the
same paper may be picked by two feeds, each with its own rank."""
from __future__ import annotations

from .digest import Pick


def save_day(db, date: str, picks: list[Pick], scorer: str, *, feed: str) -> None:
    """The feed's day's picks become exactly these, ranked 1.. in the order given."""
    with db.conn:
        db.conn.execute("delete from picks where feed = ? and date = ?", (feed, date))
        db.conn.executemany(
            """insert into picks (feed, date, rank, arxiv_id, relevance, novelty, comment, author_match, scorer,
                   source) values (?,?,?,?,?,?,?,?,?,?)""",
            [(feed, date, i, pk.paper.arxiv_id, pk.score.relevance, pk.score.novelty,
              "Author match" if pk.author_match else pk.score.comment, int(bool(pk.author_match)), scorer,
              pk.score.source)
             for i, pk in enumerate(picks, 1)])


def day_rows(db, date: str, *, feed: str) -> list[dict]:
    """The stored rows of a feed's day's picks, in rank order."""
    return list(db.query("select * from picks where feed = ? and date = ? order by rank", [feed, date]))


def pick_row(db, date: str, arxiv_id: str, *, feed: str) -> dict | None:
    return next(db.query("select * from picks where feed = ? and date = ? and arxiv_id = ?",
                         [feed, date, arxiv_id]), None)


def recent_dates(db, days: int, *, feed: str) -> list[str]:
    """The feed's latest `days` dates that have picks, newest first."""
    return [r["date"] for r in db.query("select distinct date from picks where feed = ? order by date desc limit ?",
                                        [feed, days])]


def picked_ids(db, date: str, *, feed: str) -> list[str]:
    return [r["arxiv_id"] for r in db.query("select arxiv_id from picks where feed = ? and date = ? order by rank",
                                            [feed, date])]
