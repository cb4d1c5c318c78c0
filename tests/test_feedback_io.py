"""`python -m bot feedback import FILE` / `export [FILE]`: JSON lines of arxiv_id, user, vote,
time, on real SQLite files."""
from __future__ import annotations

import io
import json

import pytest

from bot import feedback
from bot.cli import main
from bot.db import open_db
from bot.feedback_io import export_votes, import_votes
from bot.models import Paper
from bot.store import save_papers


def current(db) -> set[tuple]:
    return {(r["arxiv_id"], r["user_id"], r["vote"]) for r in db.query("select * from feedback")}


@pytest.fixture
def team(tmp_path):
    db = open_db(tmp_path / "team.sqlite")
    save_papers(db, "2025-03-03", [
        Paper("2503.00001", "Robots that grasp", ["A"], "A robot hand learns to grasp."),
        Paper("2503.00002", "Legal LLMs", ["B"], "Language models read contracts."),
    ])
    feedback.set_vote(db, "2503.00001", "U1", 1, source="slack", at="2025-03-03T10:00:00+00:00")
    feedback.set_vote(db, "2503.00002", "U1", -1, source="slack", at="2025-03-03T10:01:00+00:00")
    feedback.set_vote(db, "2503.00001", "U2", -1, source="slack", at="2025-03-03T10:02:00+00:00")
    feedback.set_vote(db, "2503.00001", "U2", 1, source="slack", at="2025-03-03T11:00:00+00:00")  # changed
    return db


def lines(*rows) -> io.BytesIO:
    """A votes file: dicts as JSON, str lines as written, bytes lines as raw bytes."""
    def raw(r) -> bytes:
        if isinstance(r, bytes):
            return r
        return (r if isinstance(r, str) else json.dumps(r)).encode("utf-8")
    return io.BytesIO(b"".join(raw(r) + b"\n" for r in rows))


def test_export_then_import_round_trips_into_a_fresh_database(team, tmp_path):
    buf = io.StringIO()
    assert export_votes(team, buf) == 3
    exported = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert {"arxiv_id", "user", "vote", "time"} <= set(exported[0])
    assert {(e["arxiv_id"], e["user"], e["vote"]) for e in exported} == current(team)
    fresh = open_db(tmp_path / "fresh.sqlite")
    rep = import_votes(fresh, io.BytesIO(buf.getvalue().encode()))
    assert rep.applied == 3 and not rep.problems
    assert current(fresh) == current(team)
    # The exported titles and abstracts register the papers, so the model can learn from them.
    assert rep.new_papers == 2
    assert next(fresh.query("select title from papers where arxiv_id = '2503.00002'"))["title"] == "Legal LLMs"
    # Importing the same file again changes nothing.
    again = import_votes(fresh, io.BytesIO(buf.getvalue().encode()))
    assert again.applied == 0 and again.unchanged == 3 and current(fresh) == current(team)
    out2 = io.StringIO()
    export_votes(fresh, out2)
    assert out2.getvalue() == buf.getvalue()


def test_latest_vote_wins_by_time_not_file_order(team):
    rep = import_votes(team, lines(
        {"arxiv_id": "2503.00002", "user": "U3", "vote": 1, "time": "2025-03-04T12:00:00Z"},
        {"arxiv_id": "2503.00002", "user": "U3", "vote": -1, "time": "2025-03-04T09:00:00Z"},  # older
    ))
    assert rep.applied == 2
    assert ("2503.00002", "U3", 1) in current(team)


def test_an_import_older_than_the_stored_vote_is_skipped(team):
    rep = import_votes(team, lines({"arxiv_id": "2503.00001", "user": "U2", "vote": -1,
                                    "time": "2025-03-03T10:30:00+00:00"}))
    assert rep.older == 1 and rep.applied == 0
    assert ("2503.00001", "U2", 1) in current(team)


def test_a_removal_line_removes_the_vote(team):
    rep = import_votes(team, lines({"arxiv_id": "2503.00002", "user": "U1", "vote": 0,
                                    "time": "2025-03-05T08:00:00+01:00"}))
    assert rep.applied == 1
    assert not any(r[0] == "2503.00002" for r in current(team))
    assert feedback.labels(team) == {"2503.00001": 1}


def test_malformed_lines_are_reported_with_their_numbers_and_skipped(team):
    good = {"arxiv_id": "2503.00002", "user": "U9", "vote": 1, "time": "2025-03-06T08:00:00Z"}
    rep = import_votes(team, lines(
        "{broken", {**good, "vote": 2}, {**good, "time": "yesterday"}, {**good, "user": ""},
        {**good, "vote": True}, ["list"], good, {**good, "arxiv_id": "x" * 200}))
    assert [p.split(": ")[0] for p in rep.problems] == [f"input:{n}" for n in (1, 2, 3, 4, 5, 6, 8)]
    assert "`vote`" in rep.problems[1] and "`time`" in rep.problems[2] and "`user`" in rep.problems[3]
    assert rep.applied == 1 and ("2503.00002", "U9", 1) in current(team)


def test_votes_on_unknown_papers_are_kept_and_counted(team):
    rep = import_votes(team, lines({"arxiv_id": "2599.12345", "user": "U1", "vote": 1,
                                    "time": "2025-03-06T08:00:00Z"}))
    assert rep.applied == 1 and rep.unknown_papers == 1
    assert ("2599.12345", "U1", 1) in current(team)


def test_cli_import_and_export(team, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    src = tmp_path / "team.sqlite"
    out = tmp_path / "votes.jsonl"
    assert main(["feedback", "export", str(out), "--db", str(src)]) == 0
    assert "exported 3 votes" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 3
    assert main(["feedback", "export", "--db", str(src)]) == 0
    assert capsys.readouterr().out == out.read_text()
    with open(out, "ab") as fh:
        fh.write(b"not json\n" + b'{"arxiv_id": "2503.00001", "user": "U\xc6", "vote": 1}\n')
    dst = tmp_path / "other.sqlite"
    assert main(["feedback", "import", str(out), "--db", str(dst)]) == 0
    captured = capsys.readouterr()
    assert "3 votes applied" in captured.out and "2 malformed lines skipped" in captured.out
    assert f"{out}:4: not valid JSON" in captured.err and f"{out}:5: not UTF-8 (byte 0xc6" in captured.err
    assert current(open_db(dst)) == current(team)
    assert main(["feedback", "import", str(tmp_path / "missing.jsonl"), "--db", str(dst)]) == 1
    assert "cannot read feedback file" in capsys.readouterr().err


# --- one bad line costs that line; times are checked; a re-import changes nothing ----------

VOTE = {"arxiv_id": "2503.00002", "user": "U5", "vote": 1, "time": "2025-03-07T08:00:00Z"}


def test_a_line_that_is_not_utf8_is_skipped_with_its_number_the_rest_imported(team):
    bad = json.dumps({**VOTE, "user": "U6", "title": "Caf_"}).encode().replace(b"Caf_", b"Caf\xc6")
    rep = import_votes(team, lines(VOTE, bad, {**VOTE, "user": "U7"}), source="votes.jsonl")
    column = bad.index(b"\xc6") + 1
    assert rep.problems == [f"votes.jsonl:2: not UTF-8 (byte 0xc6 at column {column})"]
    assert rep.applied == 2
    assert {("2503.00002", "U5", 1), ("2503.00002", "U7", 1)} <= current(team)


def test_a_control_character_in_a_line_is_reported_for_that_line_only(team):
    rep = import_votes(team, lines(VOTE, '{"arxiv_id": "2503.00002", "user": "U\x016", "vote": 1}'),
                       source="votes.jsonl")
    assert len(rep.problems) == 1 and rep.problems[0].startswith("votes.jsonl:2: not valid JSON")
    assert rep.applied == 1


def test_a_vote_dated_in_the_future_is_refused_and_later_votes_still_count(team):
    rep = import_votes(team, lines(
        {**VOTE, "vote": -1, "time": "9999-12-31T23:59:59+00:00"},
        {**VOTE, "vote": 1, "time": "2025-03-07T09:00:00Z"},
        {**VOTE, "user": "U8", "time": "9999-12-31T23:59:59-05:00"},  # past year 9999 in UTC
    ), source="votes.jsonl")
    assert [p.split(": ")[0] for p in rep.problems] == ["votes.jsonl:1", "votes.jsonl:3"]
    assert "in the future" in rep.problems[0] and "9999-12-31" in rep.problems[0]
    assert rep.applied == 1 and ("2503.00002", "U5", 1) in current(team)
    assert not any(r[1] == "U8" for r in current(team))


def test_a_future_time_stored_by_an_earlier_import_no_longer_blocks_real_votes(team):
    feedback.set_vote(team, "2503.00002", "U5", -1, source="import", at="9999-12-31T00:00:00+00:00")
    rep = import_votes(team, lines({**VOTE, "vote": 1}))
    assert rep.applied == 1 and rep.older == 0 and ("2503.00002", "U5", 1) in current(team)


def test_a_vote_a_few_minutes_ahead_is_accepted_as_clock_skew(team):
    from datetime import datetime, timedelta, timezone

    ahead = (datetime.now(timezone.utc) + timedelta(minutes=2)).isoformat()
    rep = import_votes(team, lines({**VOTE, "time": ahead}))
    assert rep.applied == 1 and not rep.problems


def events(db) -> list[tuple]:
    return [tuple(r.values()) for r in db.query("select * from feedback_events order by rowid")]


def test_importing_votes_with_the_same_time_twice_changes_nothing_the_second_time(team):
    same_time = [{**VOTE, "vote": 1}, {**VOTE, "vote": -1}, {**VOTE, "user": "U6", "vote": 1},
                 {**VOTE, "user": "U6", "vote": 0}]
    first = import_votes(team, lines(*same_time))
    assert first.applied == 4
    votes, history = current(team), events(team)
    again = import_votes(team, lines(*same_time))
    assert again.applied == 0 and again.unchanged == 4 and not again.problems
    assert current(team) == votes and events(team) == history
