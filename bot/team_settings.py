"""Each feed's watched authors and arXiv categories, changed from Slack (table `team_settings`).

Both live in `team_settings` as JSON lists (keys 'authors' and 'categories') per feed; until
the first change from Slack they are the feed's configured `ranking.authors` /
`arxiv.categories`. Functions given a feed's Settings act on `settings.feed`.
The daily run reads them here too (`watched_authors`, `team_categories`), so the next run
uses what was changed. Callers record each change with `store.audit`.
"""
from __future__ import annotations

import json
import re

from .authors import Name, same_person
from .config import SPEC
from .db import now

MAX_AUTHORS = 200
MAX_NAME_CHARS = 100
MAX_CATEGORIES = 20


class TeamSettingError(ValueError):
    """A change that cannot be made; the message says what was wrong."""


def _stored(db, key: str, *, feed: str) -> list[str] | None:
    """The feed's list saved under `key`, None until one was saved."""
    row = next(db.query("select value from team_settings where feed = ? and key = ?", [feed, key]), None)
    return json.loads(row["value"]) if row else None


def watched_authors(settings, db) -> list[str]:
    """The feed's configured authors (`ranking.authors`), or its list as last changed from Slack."""
    saved = _stored(db, "authors", feed=settings.feed)
    return saved if saved is not None else list(settings["ranking.authors"])


def team_categories(settings, db) -> list[str]:
    """The feed's configured `arxiv.categories`, or its list as last changed from Slack."""
    saved = _stored(db, "categories", feed=settings.feed)
    return saved if saved is not None else list(settings["arxiv.categories"])


def _save(db, key: str, values: list[str], who: str, *, feed: str) -> None:
    with db.conn:
        db.conn.execute(
            """insert into team_settings (feed, key, value, updated_by, updated_at) values (?,?,?,?,?)
               on conflict(feed, key) do update set value=excluded.value, updated_by=excluded.updated_by,
                   updated_at=excluded.updated_at""",
            (feed, key, json.dumps(values, ensure_ascii=False), who, now()))


def parse_names(text: str) -> list[str]:
    """Names separated by commas, semicolons or new lines; each checked to be a person's name."""
    names = [re.sub(r"\s+", " ", n).strip() for n in re.split(r"[,;\n]", text or "")]
    names = [n for n in names if n]
    if not names:
        raise TeamSettingError("no author name given")
    for n in names:
        if len(n) > MAX_NAME_CHARS:
            raise TeamSettingError(f"an author name is longer than {MAX_NAME_CHARS} characters")
        if Name.parse(n) is None:
            raise TeamSettingError(f"`{n}` does not look like a person's name (it has no letters)")
    return names


def authors(settings, db) -> list[str]:
    return watched_authors(settings, db)


def _find(names: list[str], wanted: str) -> int | None:
    """Index of the listed name that is the same person as `wanted` (initials, accents, order)."""
    w = Name.parse(wanted)
    for i, n in enumerate(names):
        parsed = Name.parse(n)
        if n.casefold() == wanted.casefold() or (w and parsed and same_person(w, parsed) and
                                                  len(parsed.given) == len(w.given)):
            return i
    return None


def add_authors(settings, db, names: list[str], who: str) -> tuple[list[str], list[str]]:
    """Adds the names not yet watched; returns (added, already watched)."""
    current = authors(settings, db)
    added, present = [], []
    for n in names:
        if _find(current, n) is not None:
            present.append(n)
        else:
            current.append(n)
            added.append(n)
    if len(current) > MAX_AUTHORS:
        raise TeamSettingError(f"at most {MAX_AUTHORS} watched authors; remove some first")
    if added:
        _save(db, "authors", current, who, feed=settings.feed)
    return added, present


def remove_authors(settings, db, names: list[str], who: str) -> tuple[list[str], list[str]]:
    """Removes the listed names; returns (removed, not found)."""
    current = authors(settings, db)
    removed, missing = [], []
    for n in names:
        i = _find(current, n)
        if i is None:
            missing.append(n)
        else:
            removed.append(current.pop(i))
    if removed:
        _save(db, "authors", current, who, feed=settings.feed)
    return removed, missing


def categories(settings, db) -> list[str]:
    return team_categories(settings, db)


def parse_categories(text: str) -> list[str]:
    """`cs.LG cs.AI` (spaces or commas) -> ["cs.LG", "cs.AI"], checked like `arxiv.categories`."""
    cats = list(dict.fromkeys(c for c in re.split(r"[\s,;]+", text or "") if c))
    if not cats:
        raise TeamSettingError("no category given, e.g. `cs.LG cs.AI stat.ML`")
    if len(cats) > MAX_CATEGORIES:
        raise TeamSettingError(f"at most {MAX_CATEGORIES} categories")
    bad = [c for c in cats if SPEC["arxiv.categories"]([c])]
    if bad:
        raise TeamSettingError(f"not an arXiv category name: {', '.join(bad[:5])} "
                               "(expected names like cs.LG, stat.ML, math.OC, econ)")
    return cats


def set_categories(db, cats: list[str], who: str, *, feed: str) -> None:
    _save(db, "categories", cats, who, feed=feed)
