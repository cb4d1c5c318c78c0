"""An existing database migrates into the feed "default" with nothing lost: tested on a file
written by the code of main before feeds existed (tests/fixtures/pre_feeds/)."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.db import FEED_KEYED, open_db

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "pre_feeds" / "arxiv.sqlite"


def _rows(path: Path) -> dict[str, list[dict]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")]
    out = {t: [dict(r) for r in conn.execute(f"select * from [{t}]")] for t in tables}
    conn.close()
    return out


@pytest.fixture
def migrated(tmp_path):
    path = tmp_path / "arxiv.sqlite"
    shutil.copy(FIXTURE, path)
    before = _rows(path)
    db = open_db(path)
    return before, db


def test_the_fixture_holds_every_kind_of_row():
    before = _rows(FIXTURE)
    for table in ("papers", "announcements", "scores", "picks", "runs", "deliveries", "feedback", "feedback_events",
                  "criteria_versions", "team_settings", "audit_log", "llm_calls", "scheduled_runs"):
        assert before[table], f"the fixture has no {table} rows"
    assert "feed" not in before["runs"][0]


def test_every_row_survives_in_the_feed_default(migrated):
    before, db = migrated
    for table, rows in before.items():
        if table == "_migrations":
            continue
        after = [dict(r) for r in db.query(f"select * from [{table}]")]
        assert len(after) == len(rows), table
        if table in FEED_KEYED:
            assert {r.pop("feed") for r in after} <= {"default"}, table
        key = lambda r: sorted((k, str(v)) for k, v in r.items())  # noqa: E731
        assert sorted(map(key, after)) == sorted(map(key, rows)), f"{table}: rows changed"


def test_feed_tables_are_keyed_by_feed(migrated):
    _, db = migrated
    for table, pk in FEED_KEYED.items():
        assert "feed" in db[table].columns_dict, table
        if pk is not None:
            assert tuple(db[table].pks) == pk, table
    # The same key in another feed is another row, not a conflict.
    row = dict(next(db.query("select * from feedback")))
    row["feed"] = "vision"
    db["feedback"].insert(row)
    assert db.execute("select count(*) from feedback where arxiv_id = ? and user_id = ?",
                      [row["arxiv_id"], row["user_id"]]).fetchone()[0] == 2


def test_indexes_and_references_are_kept(migrated):
    _, db = migrated
    assert ["channel_id", "ts"] in [ix.columns for ix in db["deliveries"].indexes]
    assert db.execute("pragma foreign_key_check").fetchall() == []
    assert "feeds" in db.table_names()


def test_migrating_twice_changes_nothing(migrated, tmp_path):
    _, db = migrated
    path = tmp_path / "arxiv.sqlite"
    db.conn.close()
    first = _rows(path)
    open_db(path).conn.close()
    assert _rows(path) == first
