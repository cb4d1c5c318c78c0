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
    feedback.set_vote(db, "2503.00001", "U1", 1, source="slack", at="2025-03-03T10:00:00+00:00", feed="default")
    feedback.set_vote(db, "2503.00002", "U1", -1, source="slack", at="2025-03-03T10:01:00+00:00", feed="default")
    feedback.set_vote(db, "2503.00001", "U2", -1, source="slack", at="2025-03-03T10:02:00+00:00", feed="default")
    feedback.set_vote(db, "2503.00001", "U2", 1, source="slack", at="2025-03-03T11:00:00+00:00", feed="default")  # changed
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
    assert export_votes(team, buf, feed="default") == 3
    exported = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert {"arxiv_id", "user", "vote", "time"} <= set(exported[0])
    assert {(e["arxiv_id"], e["user"], e["vote"]) for e in exported} == current(team)
    fresh = open_db(tmp_path / "fresh.sqlite")
    rep = import_votes(fresh, io.BytesIO(buf.getvalue().encode()), feed="default")
    assert rep.applied == 3 and not rep.problems
    assert current(fresh) == current(team)
    # The exported titles and abstracts register the papers, so the model can learn from them.
    assert rep.new_papers == 2
    assert next(fresh.query("select title from papers where arxiv_id = '2503.00002'"))["title"] == "Legal LLMs"
    # Importing the same file again changes nothing.
    again = import_votes(fresh, io.BytesIO(buf.getvalue().encode()), feed="default")
    assert again.applied == 0 and again.unchanged == 3 and current(fresh) == current(team)
    out2 = io.StringIO()
    export_votes(fresh, out2, feed="default")
    assert out2.getvalue() == buf.getvalue()


def test_latest_vote_wins_by_time_not_file_order(team):
    rep = import_votes(team, lines(
        {"arxiv_id": "2503.00002", "user": "U3", "vote": 1, "time": "2025-03-04T12:00:00Z"},
        {"arxiv_id": "2503.00002", "user": "U3", "vote": -1, "time": "2025-03-04T09:00:00Z"},  # older
    ), feed="default")
    assert rep.applied == 2
    assert ("2503.00002", "U3", 1) in current(team)


def test_an_import_older_than_the_stored_vote_is_skipped(team):
    rep = import_votes(team, lines({"arxiv_id": "2503.00001", "user": "U2", "vote": -1,
                                    "time": "2025-03-03T10:30:00+00:00"}), feed="default")
    assert rep.older == 1 and rep.applied == 0
    assert ("2503.00001", "U2", 1) in current(team)


def test_a_removal_line_removes_the_vote(team):
    rep = import_votes(team, lines({"arxiv_id": "2503.00002", "user": "U1", "vote": 0,
                                    "time": "2025-03-05T08:00:00+01:00"}), feed="default")
    assert rep.applied == 1
    assert not any(r[0] == "2503.00002" for r in current(team))
    assert feedback.labels(team, feed="default") == {"2503.00001": 1}


def test_malformed_lines_are_reported_with_their_numbers_and_skipped(team):
    good = {"arxiv_id": "2503.00002", "user": "U9", "vote": 1, "time": "2025-03-06T08:00:00Z"}
    rep = import_votes(team, lines(
        "{broken", {**good, "vote": 2}, {**good, "time": "yesterday"}, {**good, "user": ""},
        {**good, "vote": True}, ["list"], good, {**good, "arxiv_id": "x" * 200}), feed="default")
    assert [p.split(": ")[0] for p in rep.problems] == [f"input:{n}" for n in (1, 2, 3, 4, 5, 6, 8)]
    assert "`vote`" in rep.problems[1] and "`time`" in rep.problems[2] and "`user`" in rep.problems[3]
    assert rep.applied == 1 and ("2503.00002", "U9", 1) in current(team)


def test_votes_on_unknown_papers_are_kept_and_counted(team):
    rep = import_votes(team, lines({"arxiv_id": "2512.99999", "user": "U1", "vote": 1,
                                    "time": "2025-03-06T08:00:00Z"}), feed="default")
    assert rep.applied == 1 and rep.unknown_papers == 1
    assert ("2512.99999", "U1", 1) in current(team)


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
    rep = import_votes(team, lines(VOTE, bad, {**VOTE, "user": "U7"}), source="votes.jsonl", feed="default")
    column = bad.index(b"\xc6") + 1
    assert rep.problems == [f"votes.jsonl:2: not UTF-8 (byte 0xc6 at column {column})"]
    assert rep.applied == 2
    assert {("2503.00002", "U5", 1), ("2503.00002", "U7", 1)} <= current(team)


def test_a_control_character_in_a_line_is_reported_for_that_line_only(team):
    rep = import_votes(team, lines(VOTE, '{"arxiv_id": "2503.00002", "user": "U\x016", "vote": 1}'),
                       source="votes.jsonl", feed="default")
    assert len(rep.problems) == 1 and rep.problems[0].startswith("votes.jsonl:2: not valid JSON")
    assert rep.applied == 1


def test_a_vote_dated_in_the_future_is_refused_and_later_votes_still_count(team):
    rep = import_votes(team, lines(
        {**VOTE, "vote": -1, "time": "9999-12-31T23:59:59+00:00"},
        {**VOTE, "vote": 1, "time": "2025-03-07T09:00:00Z"},
        {**VOTE, "user": "U8", "time": "9999-12-31T23:59:59-05:00"},  # past year 9999 in UTC
    ), source="votes.jsonl", feed="default")
    assert [p.split(": ")[0] for p in rep.problems] == ["votes.jsonl:1", "votes.jsonl:3"]
    assert "in the future" in rep.problems[0] and "9999-12-31" in rep.problems[0]
    assert rep.applied == 1 and ("2503.00002", "U5", 1) in current(team)
    assert not any(r[1] == "U8" for r in current(team))


def test_a_future_time_stored_by_an_earlier_import_no_longer_blocks_real_votes(team):
    feedback.set_vote(team, "2503.00002", "U5", -1, source="import", at="9999-12-31T00:00:00+00:00", feed="default")
    rep = import_votes(team, lines({**VOTE, "vote": 1}), feed="default")
    assert rep.applied == 1 and rep.older == 0 and ("2503.00002", "U5", 1) in current(team)


def test_a_vote_a_few_minutes_ahead_is_accepted_as_clock_skew(team):
    from datetime import datetime, timedelta, timezone

    ahead = (datetime.now(timezone.utc) + timedelta(minutes=2)).isoformat()
    rep = import_votes(team, lines({**VOTE, "time": ahead}), feed="default")
    assert rep.applied == 1 and not rep.problems


def events(db) -> list[tuple]:
    return [tuple(r.values()) for r in db.query("select * from feedback_events order by rowid")]


def test_importing_votes_with_the_same_time_twice_changes_nothing_the_second_time(team):
    same_time = [{**VOTE, "vote": 1}, {**VOTE, "vote": -1}, {**VOTE, "user": "U6", "vote": 1},
                 {**VOTE, "user": "U6", "vote": 0}]
    first = import_votes(team, lines(*same_time), feed="default")
    # The last line at that instant stands: U5's -1 is set, U6's removal finds no vote to remove.
    assert (first.applied, first.unchanged, first.replaced) == (1, 1, 2)
    assert ("2503.00002", "U5", -1) in current(team) and not any(r[1] == "U6" for r in current(team))
    votes, history = current(team), events(team)
    again = import_votes(team, lines(*same_time), feed="default")
    assert (again.applied, again.unchanged, again.replaced) == (0, 2, 2) and not again.problems
    assert current(team) == votes and events(team) == history


# --- real files: a BOM, gzip, checked fields, the report's words, exact round trips ---------

def write_votes(path, *rows, prefix: bytes = b"", gz: bool = False):
    import gzip

    data = prefix + lines(*rows).getvalue()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def run_import(path, db_path, capsys) -> tuple[str, str]:
    assert main(["feedback", "import", str(path), "--db", str(db_path), "--quiet"]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_a_utf8_bom_at_the_start_of_the_file_is_accepted(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    path = write_votes(tmp_path / "votes.jsonl", VOTE, {**VOTE, "user": "U6"}, prefix=b"\xef\xbb\xbf")
    out, err = run_import(path, tmp_path / "db.sqlite", capsys)
    assert "2 votes applied" in out and "skipped" not in out and "warning" not in err
    assert current(open_db(tmp_path / "db.sqlite")) == {("2503.00002", "U5", 1), ("2503.00002", "U6", 1)}


@pytest.mark.parametrize("name", ["votes.jsonl.gz", "votes.jsonl", "votes.txt"])
def test_a_gzip_file_is_read_by_its_magic_bytes_whatever_its_name(tmp_path, capsys, monkeypatch, name):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    path = write_votes(tmp_path / name, VOTE, {**VOTE, "user": "U6"}, prefix=b"\xef\xbb\xbf", gz=True)
    out, err = run_import(path, tmp_path / "db.sqlite", capsys)
    assert "2 votes applied" in out and "warning" not in err
    assert current(open_db(tmp_path / "db.sqlite")) == {("2503.00002", "U5", 1), ("2503.00002", "U6", 1)}


def test_a_cut_off_gzip_file_is_a_clear_error_naming_it(tmp_path, capsys, monkeypatch):
    import gzip

    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    path = tmp_path / "votes.jsonl.gz"
    path.write_bytes(gzip.compress(lines(*[{**VOTE, "user": f"U{i}"} for i in range(500)]).getvalue())[:-40])
    assert main(["feedback", "import", str(path), "--db", str(tmp_path / "db.sqlite"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"cannot read feedback file {path}" in err and "Traceback" not in err


def test_the_shared_reader_gives_eval_the_same_bom_and_gzip_handling(tmp_path):
    from bot.eval import read_labels

    row = {"date": "2025-03-01", "arxiv_id": "2503.00009", "title": "T", "abstract": "A", "relevance": 7}
    for name, gz in (("labels.data", True), ("labels.jsonl", False)):
        path = write_votes(tmp_path / name, row, prefix=b"\xef\xbb\xbf", gz=gz)
        lf = read_labels(path)
        assert not lf.problems and [it.paper.arxiv_id for it in lf.papers] == ["2503.00009"]


GOOD_IDS = {"2502.12345": "2502.12345", "2502.12345v3": "2502.12345", "0704.0001": "0704.0001",
            "cs/0101001": "cs/0101001", "hep-th/9901001v2": "hep-th/9901001", "math.AG/0309136": "math.AG/0309136"}
BAD_IDS = ["../../etc", "2502.123", "2513.12345", "2502.12345/../x", "cs/01", "CS/0101001", "2502.12345v",
           "2502.12345\u202e", "javascript:alert(1)", "cs/0101001/../../x"]


def test_arxiv_ids_are_checked_per_line_and_bad_ones_refused_with_the_reason(team, tmp_path):
    rows = [{**VOTE, "arxiv_id": aid} for aid in [*GOOD_IDS, *BAD_IDS]]
    path = write_votes(tmp_path / "votes.jsonl", *rows)
    with open(path, "rb") as fh:
        rep = import_votes(team, fh, source=str(path), feed="default")
    assert rep.applied == len(set(GOOD_IDS.values()))
    assert {aid for aid, user, _ in current(team) if user == "U5"} == set(GOOD_IDS.values())
    bad_lines = range(len(GOOD_IDS) + 1, len(rows) + 1)
    assert [p.split(": ")[0] for p in rep.problems] == [f"{path}:{n}" for n in bad_lines]
    assert all("not an arXiv id" in p for p in rep.problems)
    assert "'../../etc'" in rep.problems[0]
    assert rep.skipped == {"refused: bad arXiv id": len(BAD_IDS)}


def test_user_vote_and_source_are_checked_per_line(team, tmp_path):
    rows = [{**VOTE, "user": "U012AB3CD"}, {**VOTE, "user": "W0ABC", "source": "slack"},
            {**VOTE, "user": "U 1"}, {**VOTE, "user": "U1\u202e"}, {**VOTE, "user": "U" * 65},
            {**VOTE, "user": "U1\tX"}, {**VOTE, "user": 7},
            {**VOTE, "user": "U2", "vote": 2}, {**VOTE, "user": "U2", "vote": "1"}, {**VOTE, "user": "U2", "vote": 1.5},
            {**VOTE, "user": "U3", "source": 5}, {**VOTE, "user": "U3", "source": "../../x"},
            {**VOTE, "user": "U3", "source": "s" * 40}]
    path = write_votes(tmp_path / "votes.jsonl", *rows)
    with open(path, "rb") as fh:
        rep = import_votes(team, fh, source=str(path), feed="default")
    assert rep.applied == 2
    assert [p.split(": ")[0] for p in rep.problems] == [f"{path}:{n}" for n in range(3, len(rows) + 1)]
    assert rep.skipped == {"refused: bad user id": 4, "malformed": 1, "refused: bad vote": 3,
                           "refused: bad source": 3}
    assert "`user` 'U 1'" in rep.problems[0] and "`source`" in rep.problems[-1]


def test_the_report_names_each_category_with_the_right_plurals(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    path = write_votes(tmp_path / "votes.jsonl", {**VOTE, "arxiv_id": "2512.00001"}, "{broken",
                       {**VOTE, "time": "9999-12-31T00:00:00Z"}, {**VOTE, "arxiv_id": "../../etc"},
                       {**VOTE, "arxiv_id": "../../x"})
    out, err = run_import(path, tmp_path / "db.sqlite", capsys)
    assert "1 vote applied" in out and "0 already there" in out
    assert "1 malformed line" in out and "1 line refused: time in the future" in out
    assert "2 lines refused: bad arXiv id" in out and "malformed lines" not in out
    assert "1 paper is unknown here" in out and "its votes are kept" in out and "papers are" not in out
    assert f"{path}:3: `time` 9999-12-31" in err and f"{path}:4:" in err and f"{path}:5:" in err
    assert main(["feedback", "export", str(tmp_path / "out.jsonl"), "--db", str(tmp_path / "db.sqlite")]) == 0
    assert "exported 1 vote to" in capsys.readouterr().err


def slack_team(tmp_path):
    """Votes as Slack's surfaces store them: event times with microseconds."""
    db = open_db(tmp_path / "slack.sqlite")
    save_papers(db, "2025-03-03", [Paper("2503.00001", "Robots", ["A"], "A robot hand."),
                                   Paper("2503.00002", "Law", ["B"], "Contracts.")])
    feedback.apply_event(db, "2503.00001", "U1", "reaction", feedback.event_time("1741000000.123456"),
                         feedback.becomes(1), feed="default")
    feedback.apply_event(db, "2503.00002", "U1", "button", feedback.event_time("1741000100.000042"),
                         feedback.toggles(-1), feed="default")
    feedback.apply_event(db, "2503.00001", "U2", "reaction", feedback.event_time("1741000200.5"),
                         feedback.becomes(-1), feed="default")
    return db


def exported(db) -> str:
    buf = io.StringIO()
    export_votes(db, buf, feed="default")
    return buf.getvalue()


def test_slack_votes_with_microseconds_round_trip_exactly_into_a_fresh_database(tmp_path):
    team = slack_team(tmp_path)
    text = exported(team)
    assert ".123456+00:00" in text
    fresh = open_db(tmp_path / "fresh.sqlite")
    rep = import_votes(fresh, io.BytesIO(text.encode()), feed="default")
    assert rep.applied == 3 and not rep.problems
    assert current(fresh) == current(team) and exported(fresh) == text


def test_reimporting_an_export_into_the_same_database_reports_unchanged_not_older(tmp_path):
    team = slack_team(tmp_path)
    text = exported(team)
    rows_before = [tuple(r.values()) for r in team.query("select * from feedback order by arxiv_id, user_id")]
    history = events(team)
    rep = import_votes(team, io.BytesIO(text.encode()), feed="default")
    assert (rep.applied, rep.unchanged, rep.older) == (0, 3, 0) and not rep.problems
    assert [tuple(r.values()) for r in team.query("select * from feedback order by arxiv_id, user_id")] == rows_before
    assert events(team) == history


# --- votes that share an instant: the later line wins, however the time is spelled --------

SAME_INSTANT = {"Z": "2025-03-01T09:00:00Z", "offset": "2025-03-01T04:00:00-05:00",
                "micro": "2025-03-01T09:00:00.000000+00:00"}


def same_instant_votes(path, votes, spellings):
    return write_votes(path, *[{"arxiv_id": "2502.15654", "user": "U2", "vote": v, "time": SAME_INSTANT[s]}
                               for v, s in zip(votes, spellings)])


def stored_votes(db_path) -> list[int]:
    return [r["vote"] for r in open_db(db_path).query("select vote from feedback")]


@pytest.mark.parametrize("votes, spellings", [
    ((1, -1, 1), ("Z", "Z", "Z")),
    ((-1, 1, -1), ("Z", "Z", "Z")),
    ((-1, -1, 1), ("micro", "Z", "offset")),  # sorted as text, the micro line came last
    ((1, 1, -1), ("offset", "micro", "Z")),
])
def test_votes_at_one_instant_in_one_file_end_at_the_last_line(tmp_path, capsys, monkeypatch, votes, spellings):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    db_path = tmp_path / "X.sqlite"
    path = same_instant_votes(tmp_path / "v.jsonl", votes, spellings)
    out, _ = run_import(path, db_path, capsys)
    assert stored_votes(db_path) == [votes[-1]]
    assert "1 vote applied, 0 already there" in out and "2 lines replaced by a later line" in out
    history = events(open_db(db_path))
    recorded = [r["vote"] for r in open_db(db_path).query("select vote from feedback_events")]
    assert recorded == [votes[-1]]  # only the vote that stands is on record
    again, _ = run_import(path, db_path, capsys)
    assert "0 votes applied, 1 already there" in again
    assert stored_votes(db_path) == [votes[-1]] and events(open_db(db_path)) == history


@pytest.mark.parametrize("spelling", ["Z", "offset", "micro"])
def test_already_there_only_when_the_stored_vote_is_the_lines_vote_at_that_instant(tmp_path, capsys, monkeypatch,
                                                                                   spelling):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    db_path = tmp_path / "X.sqlite"
    run_import(same_instant_votes(tmp_path / "a.jsonl", (-1, 1, -1), ("Z", "offset", "micro")), db_path, capsys)
    assert stored_votes(db_path) == [-1]
    out, _ = run_import(same_instant_votes(tmp_path / "b.jsonl", (1,), (spelling,)), db_path, capsys)
    assert "1 vote applied, 0 already there" in out and stored_votes(db_path) == [1]
    out, _ = run_import(same_instant_votes(tmp_path / "c.jsonl", (1,), ("micro" if spelling != "micro" else "Z",)),
                        db_path, capsys)
    assert "0 votes applied, 1 already there" in out and stored_votes(db_path) == [1]


def test_a_removal_is_already_there_at_its_instant_however_spelled(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    db_path = tmp_path / "X.sqlite"
    run_import(same_instant_votes(tmp_path / "a.jsonl", (1,), ("Z",)), db_path, capsys)
    first = write_votes(tmp_path / "b.jsonl", {"arxiv_id": "2502.15654", "user": "U2", "vote": 0,
                                               "time": "2025-03-01T10:00:00.000000+00:00"})
    run_import(first, db_path, capsys)
    # After the removal the latest change is at 10:00 (an event), spelled as instants of
    # different widths: a vote at 09:59:59.5 is older, one at 10:00 sharp is "already there".
    out, _ = run_import(write_votes(tmp_path / "c.jsonl", {"arxiv_id": "2502.15654", "user": "U2", "vote": 0,
                                                            "time": "2025-03-01T11:00:00+01:00"}), db_path, capsys)
    assert "0 votes applied, 1 already there" in out and stored_votes(db_path) == []
    out, _ = run_import(write_votes(tmp_path / "d.jsonl", {"arxiv_id": "2502.15654", "user": "U2", "vote": 1,
                                                            "time": "2025-03-01T09:59:59.5Z"}), db_path, capsys)
    assert "0 votes applied, 0 already there, 1 older" in out and stored_votes(db_path) == []
