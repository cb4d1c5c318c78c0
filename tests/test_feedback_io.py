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


def lines(*rows) -> io.StringIO:
    return io.StringIO("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def test_export_then_import_round_trips_into_a_fresh_database(team, tmp_path):
    buf = io.StringIO()
    assert export_votes(team, buf) == 3
    exported = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert {"arxiv_id", "user", "vote", "time"} <= set(exported[0])
    assert {(e["arxiv_id"], e["user"], e["vote"]) for e in exported} == current(team)
    fresh = open_db(tmp_path / "fresh.sqlite")
    rep = import_votes(fresh, io.StringIO(buf.getvalue()))
    assert rep.applied == 3 and not rep.problems
    assert current(fresh) == current(team)
    # The exported titles and abstracts register the papers, so the model can learn from them.
    assert rep.new_papers == 2
    assert next(fresh.query("select title from papers where arxiv_id = '2503.00002'"))["title"] == "Legal LLMs"
    # Importing the same file again changes nothing.
    again = import_votes(fresh, io.StringIO(buf.getvalue()))
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
    assert [p.split(":")[0] for p in rep.problems] == ["line 1", "line 2", "line 3", "line 4", "line 5",
                                                      "line 6", "line 8"]
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
    with open(out, "a") as fh:
        fh.write("not json\n")
    dst = tmp_path / "other.sqlite"
    assert main(["feedback", "import", str(out), "--db", str(dst)]) == 0
    captured = capsys.readouterr()
    assert "3 votes applied" in captured.out and "1 malformed lines skipped" in captured.out
    assert "line 4: not valid JSON" in captured.err
    assert current(open_db(dst)) == current(team)
    assert main(["feedback", "import", str(tmp_path / "missing.jsonl"), "--db", str(dst)]) == 1
    assert "cannot read feedback file" in capsys.readouterr().err
