"""Reading and writing domain objects in the SQLite store (all SQL is parameterised).

The home of the tables `papers`, `announcements`, `fetches`, `scores` and `audit_log`: no other
module queries them. Others ask here, and join in Python what they read elsewhere. Papers,
announcements and scores are shared by every feed (a score is keyed by a criteria version,
which belongs to one feed); each audit entry belongs to one feed (`feed=`)."""
from __future__ import annotations

import json
from dataclasses import replace

from .db import now
from .models import Paper, Score


def save_papers(db, date: str, papers: list[Paper], categories: list[str] | None = None) -> None:
    """Store a day's papers, fetched for `categories` (None: the whole day, a saved feed
    file). The day's announcements in those categories become exactly these (a re-fetch that
    no longer lists a paper drops its announcement, never the paper or its votes); those of
    other categories, fetched earlier that day for another feed, stay."""
    ts = now()
    with db.conn:
        keep = {p.arxiv_id for p in papers}
        fetched = set(categories) if categories is not None else None
        stale = [r[0] for r in db.conn.execute(
                     "select a.arxiv_id, p.categories from announcements a join papers p using (arxiv_id) "
                     "where a.date = ?", [date])
                 if r[0] not in keep and (fetched is None or fetched & set(json.loads(r[1] or "[]")))]
        db.conn.executemany("delete from announcements where date = ? and arxiv_id = ?", [(date, a) for a in stale])
        for pos, p in enumerate(papers):
            db.conn.execute(
                """insert into papers (arxiv_id, version, title, authors, abstract, categories,
                       primary_category, comment, pdf_url, license, doi, first_seen, updated_at)
                   values (?,?,?,?,?,?,?,?,?,?,?,?,?)
                   on conflict(arxiv_id) do update set
                       version=excluded.version, title=excluded.title, authors=excluded.authors,
                       abstract=excluded.abstract, categories=excluded.categories,
                       license=excluded.license, doi=excluded.doi, updated_at=excluded.updated_at,
                       primary_category=coalesce(nullif(excluded.primary_category, ''), papers.primary_category),
                       comment=coalesce(nullif(excluded.comment, ''), papers.comment),
                       pdf_url=coalesce(nullif(excluded.pdf_url, ''), papers.pdf_url)""",
                (p.arxiv_id, p.version, p.title, json.dumps(p.authors), p.abstract, json.dumps(p.categories),
                 p.primary_category, p.comment, p.pdf_url, p.license, p.doi, date, ts),
            )
            db.conn.execute(
                "insert or replace into announcements (date, arxiv_id, announce_type, position) values (?,?,?,?)",
                (date, p.arxiv_id, p.announce_type, pos),
            )


def save_enrichment(db, arxiv_id: str, primary_category: str, comment: str, pdf_url: str) -> None:
    with db.conn:
        db.conn.execute("update papers set primary_category=?, comment=?, pdf_url=? where arxiv_id=?",
                        (primary_category, comment, pdf_url, arxiv_id))


def _paper(row: dict, announce_type: str = "new") -> Paper:
    return Paper(
        arxiv_id=row["arxiv_id"], version=row["version"] or 1, title=row["title"],
        authors=json.loads(row["authors"] or "[]"), abstract=row["abstract"],
        categories=json.loads(row["categories"] or "[]"), announce_type=announce_type,
        license=row["license"] or "", doi=row["doi"] or "", primary_category=row["primary_category"] or "",
        comment=row["comment"] or "", pdf_url=row["pdf_url"] or "",
    )


def load_papers(db, date: str) -> list[Paper]:
    """The papers announced on a date, in feed order."""
    rows = db.query(
        """select p.*, a.announce_type as ann from announcements a join papers p using (arxiv_id)
           where a.date = ? order by a.position, a.arxiv_id""", [date])
    return [_paper(r, r["ann"]) for r in rows]


def kept_by_feed(papers: list[Paper], categories: list[str], announce_types: list[str]) -> list[Paper]:
    """The papers of a day one feed keeps, as that feed sees them: those with a category of
    its own, announced "new" when the first listed one (arXiv lists the primary first) is one
    of them, else "cross", and of an announce type it keeps."""
    wanted = set(categories)
    kept = []
    for p in papers:
        if not wanted & set(p.categories):
            continue
        seen_as = "new" if p.categories[0] in wanted else "cross"
        if seen_as in announce_types:
            kept.append(replace(p, announce_type=seen_as))
    return kept


def feed_day(db, date: str, categories: list[str], announce_types: list[str]) -> list[Paper]:
    """The stored papers of a date one feed keeps (`kept_by_feed`), in feed order."""
    return kept_by_feed(load_papers(db, date), categories, announce_types)


def record_fetch(db, date: str, categories: list[str], source: str, items: list[list[str]]) -> None:
    """One fetch of a day (table `fetches`): the categories asked for, where from ("network"
    or a file), and each item's categories (replacements too: a feed counts its share)."""
    with db.conn:
        db["fetches"].insert({"date": date, "categories": json.dumps(categories), "source": source,
                              "items": json.dumps(items), "fetched_at": now()})


def network_fetch_since(db, since: str, categories: list[str]) -> dict | None:
    """The latest fetch from arXiv at or after `since` (ISO time, UTC) that asked for every one
    of `categories` and found announcements, with its categories and items read back; None when
    there is none. An empty answer is not reused: arXiv may have been rebuilding, so the next
    run asks again."""
    for row in db.query("select * from fetches where source = 'network' and fetched_at >= ? and items != '[]' "
                        "order by fetched_at desc, id desc", [since]):
        asked = json.loads(row["categories"])
        if set(categories) <= set(asked):
            return {**row, "categories": asked, "items": json.loads(row["items"])}
    return None


def earlier_paper_texts(db, before: str, limit: int) -> list[tuple[str, str]]:
    """(title, abstract) of the papers announced on the latest days before a date, newest first."""
    rows = db.execute(
        """select p.title, p.abstract from announcements a join papers p using (arxiv_id)
           where a.date < ? order by a.date desc, a.position limit ?""", [before, limit]).fetchall()
    return [(r[0], r[1]) for r in rows]


def get_paper(db, arxiv_id: str) -> Paper | None:
    row = next(db.query("select * from papers where arxiv_id = ?", [arxiv_id]), None)
    return _paper(row) if row else None


def has_paper(db, arxiv_id: str) -> bool:
    return next(db.query("select 1 as x from papers where arxiv_id = ?", [arxiv_id]), None) is not None


def get_papers(db, ids: list[str]) -> dict[str, Paper]:
    """The known papers among `ids`, by id (in id order); unknown ids are left out."""
    out = {}
    ids = sorted(set(ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for r in db.query(f"select * from papers where arxiv_id in ({','.join('?' * len(chunk))}) "
                          "order by arxiv_id", chunk):
            out[r["arxiv_id"]] = _paper(r)
    return out


def add_paper_text(db, arxiv_id: str, title: str, abstract: str, first_seen: str) -> None:
    """Register a paper known only by its title and abstract (a vote imported from another
    install): enough to learn from, the rest is filled in if a feed ever lists it."""
    with db.conn:
        db.conn.execute(
            """insert into papers (arxiv_id, version, title, authors, abstract, categories, first_seen, updated_at)
               values (?, 1, ?, '[]', ?, '[]', ?, ?)""", (arxiv_id, title, abstract, first_seen, now()))


def latest_announced(db, limit: int, before: str | None = None, leave_out: set[str] = frozenset()) -> list[Paper]:
    """Up to `limit` papers announced on some day (before `before`, when given), the most
    recently first seen first, leaving out the ids in `leave_out`."""
    where, params = ("and a.date < ?", [before]) if before else ("", [])
    # Each paper left out frees one place, so asking for that many more is always enough.
    rows = db.query(
        f"""select p.* from papers p
            where exists (select 1 from announcements a where a.arxiv_id = p.arxiv_id {where})
            order by p.first_seen desc, p.arxiv_id desc limit ?""", [*params, limit + len(leave_out)])
    return [_paper(r) for r in rows if r["arxiv_id"] not in leave_out][:limit]


def load_scores(db, scorer: str, criteria_version: int, ids: list[str]) -> dict[str, Score]:
    out = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = db.query(
            f"""select * from scores where scorer = ? and criteria_version = ?
                and arxiv_id in ({','.join('?' * len(chunk))})""", [scorer, criteria_version, *chunk])
        for r in rows:
            out[r["arxiv_id"]] = Score(r["arxiv_id"], r["relevance"], r["novelty"], r["comment"],
                                       r["raw"] or 0.0, r["source"])
    return out


def save_scores(db, scorer: str, criteria_version: int, date: str, scores: list[Score]) -> None:
    ts = now()
    with db.conn:
        db.conn.executemany(
            """insert or replace into scores (arxiv_id, scorer, criteria_version, relevance, novelty,
                   comment, raw, source, date, created_at) values (?,?,?,?,?,?,?,?,?,?)""",
            [(s.arxiv_id, scorer, criteria_version, s.relevance, s.novelty, s.comment, s.raw, s.source, date, ts)
             for s in scores])


def audit(db, who: str, action: str, detail: str = "", *, feed: str) -> None:
    """Record who changed what in a feed (its criteria, authors, categories, a thread restarted...)."""
    with db.conn:
        db.conn.execute("insert into audit_log (feed, who, action, detail, at) values (?,?,?,?,?)",
                        (feed, who, action, detail, now()))


def audit_entries(db, *, feed: str, limit: int = 50) -> list[dict]:
    """The feed's latest audit entries (who, action, detail, at), the newest first."""
    return list(db.query("select who, action, detail, at from audit_log where feed = ? order by id desc limit ?",
                         [feed, limit]))
