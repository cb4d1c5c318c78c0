"""Two feeds on one real SQLite file: votes, tallies, labels, few-shot examples, criteria
versions and their file adoption, team settings and the audit log belong to one feed; and
`feedback` / `criteria` act on the feed --feed names (asked for when there are several)."""
from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest

from bot import criteria, feedback, feeds, store, team_settings
from bot.cli import main
from bot.config import load_settings
from bot.db import open_db
from bot.feedback_io import export_votes, import_votes
from bot.learn import team_labels
from bot.llm.fewshot import choose_examples
from bot.models import Paper

A, B = "alpha", "beta"
MOE = "1. Sparse mixture-of-experts routing\n   - Relevant: expert routing, load balancing.\n"
VISION = "1. Embodied vision: robots that see\n   - Relevant: visual navigation, manipulation from pixels.\n"
PAPERS = [
    Paper("2503.00001", "Routing tokens to experts", ["A. Author"], "A sparse mixture of experts balances load."),
    Paper("2503.00002", "Robots that see and grasp", ["B. Author"], "A robot arm grasps from camera images."),
    Paper("2503.00003", "Legal language models", ["C. Author"], "Language models read contracts for lawyers."),
]


def _write(path: Path, text: str, age_seconds: float = 0) -> Path:
    path.write_text(text, encoding="utf-8")
    when = time.time() - age_seconds
    os.utime(path, (when, when))
    return path


@pytest.fixture
def team(tmp_path, monkeypatch):
    """Feeds alpha and beta, each with its own criteria file, on one database in tmp_path."""
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    _write(tmp_path / "alpha.txt", MOE, age_seconds=60)
    _write(tmp_path / "beta.txt", VISION, age_seconds=60)
    settings_file = tmp_path / "team.toml"
    settings_file.write_text(
        f'[storage]\ndatabase = "{tmp_path / "team.sqlite"}"\ndigest_dir = "{tmp_path / "digests"}"\n'
        f'[feeds.{A}.ranking]\ncriteria_file = "{tmp_path / "alpha.txt"}"\n'
        f'[feeds.{A}.slack]\nchannel = "C0ALPHA"\n'
        f'[feeds.{B}.ranking]\ncriteria_file = "{tmp_path / "beta.txt"}"\n'
        f'[feeds.{B}.slack]\nchannel = "C0BETA"\n', encoding="utf-8")
    settings = load_settings(settings_file)
    db = open_db(tmp_path / "team.sqlite")
    store.save_papers(db, "2025-03-03", PAPERS)
    return settings, db, settings_file


def _run(settings_file, capsys, *argv):
    rc = main(["--settings", str(settings_file), *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _crit_path(settings, feed: str) -> Path:
    return settings.for_feed(feed).path("ranking.criteria_file")


# --- votes ----------------------------------------------------------------------------------

def test_a_vote_in_one_feed_changes_its_tally_labels_and_examples_and_not_the_others(team):
    _, db, _ = team
    paper = PAPERS[0].arxiv_id
    feedback.toggle_vote(db, paper, "U1", 1, "button", "C0ALPHA", feed=A)
    assert feedback.tally(db, paper, feed=A) == {"up": 1, "down": 0}
    assert feedback.tally(db, paper, feed=B) == {"up": 0, "down": 0}
    assert feedback.labels(db, feed=A) == {paper: 1} and feedback.labels(db, feed=B) == {}
    assert feedback.has_votes(db, feed=A) and not feedback.has_votes(db, feed=B)
    assert [e.arxiv_id for e in choose_examples(db, 4, feed=A)] == [paper]
    assert choose_examples(db, 4, feed=B) == []
    assert [p.arxiv_id for p in team_labels(db, feed=A).liked] == [paper]
    assert team_labels(db, feed=B).liked == []


def test_the_same_paper_voted_in_two_feeds_is_two_votes_with_two_tallies_and_events(team):
    _, db, _ = team
    paper = PAPERS[1].arxiv_id
    feedback.toggle_vote(db, paper, "U1", 1, "button", "C0ALPHA", at="2025-03-03T10:00:00.000000+00:00", feed=A)
    feedback.apply_event(db, paper, "U1", "reaction", "2025-03-03T09:00:00.000000+00:00", feedback.becomes(-1),
                         "C0BETA", feed=B)
    # Beta's event is older than alpha's click, yet not stale: events are ordered per feed.
    assert feedback.current_vote(db, paper, "U1", feed=A) == 1 and feedback.current_vote(db, paper, "U1", feed=B) == -1
    assert feedback.tallies(db, [paper], feed=A) == {paper: {"up": 1, "down": 0}}
    assert feedback.tallies(db, [paper], feed=B) == {paper: {"up": 0, "down": 1}}
    assert feedback.count_votes(db, feed=A) == feedback.count_votes(db, feed=B) == 1
    assert feedback.voter_count(db, [paper], feed=B) == 1
    events = list(db.query("select feed, vote, effect from feedback_events order by id"))
    assert events == [{"feed": A, "vote": 1, "effect": "changed"}, {"feed": B, "vote": -1, "effect": "changed"}]
    feedback.toggle_vote(db, paper, "U1", 1, "button", "C0ALPHA", feed=A)  # the same button again: removed
    assert feedback.labels(db, feed=A) == {} and feedback.labels(db, feed=B) == {paper: -1}


def test_export_and_import_move_one_feeds_votes(team):
    _, db, _ = team
    feedback.set_vote(db, PAPERS[0].arxiv_id, "U1", 1, "slack", at="2025-03-03T10:00:00+00:00", feed=A)
    feedback.set_vote(db, PAPERS[2].arxiv_id, "U2", -1, "slack", at="2025-03-03T11:00:00+00:00", feed=B)
    out = io.StringIO()
    assert export_votes(db, out, feed=A) == 1
    assert [json.loads(line)["arxiv_id"] for line in out.getvalue().splitlines()] == [PAPERS[0].arxiv_id]
    rep = import_votes(db, io.BytesIO(out.getvalue().encode()), feed=B)  # alpha's history into beta
    assert rep.applied == 1
    assert feedback.labels(db, feed=B) == {PAPERS[0].arxiv_id: 1, PAPERS[2].arxiv_id: -1}
    assert feedback.labels(db, feed=A) == {PAPERS[0].arxiv_id: 1}


# --- criteria -------------------------------------------------------------------------------

def test_criteria_versions_belong_to_one_feed(team):
    settings, db, _ = team
    a1 = criteria.current(db, _crit_path(settings, A), feed=A)
    b1 = criteria.current(db, _crit_path(settings, B), feed=B)
    assert "mixture-of-experts" in a1.text and "Embodied vision" in b1.text and a1.version != b1.version
    a2 = criteria.save_version(db, "1. Quantization of large language models", "U1", "edited in Slack", feed=A)
    assert criteria.current(db, _crit_path(settings, B), feed=B).version == b1.version  # beta's stays current
    assert criteria.version_row(db, a2, feed=B) is None and criteria.version_row(db, a2, feed=A)["created_by"] == "U1"
    with pytest.raises(criteria.UnknownVersion, match=f"no criteria version {a1.version} in feed 'beta'"):
        criteria.restore_version(db, str(a1.version), "U2", feed=B)
    done = criteria.restore_version(db, str(a1.version), "U2", feed=A)
    assert done.changed and criteria.current(db, _crit_path(settings, A), feed=A).text == a1.text
    listed, total = criteria.history(db, _crit_path(settings, A), feed=A)
    assert total == 3 and [v.id for v in listed if v.current] == [done.saved_as]
    assert criteria.history(db, _crit_path(settings, B), feed=B)[1] == 1
    assert [e["action"] for e in store.audit_entries(db, feed=A)] == ["criteria.restore"]
    assert store.audit_entries(db, feed=B) == []


def test_each_feed_adopts_its_own_criteria_file(team, tmp_path):
    settings, db, _ = team
    criteria.for_run(db, _crit_path(settings, A), feed=A)
    b_before, _ = criteria.for_run(db, _crit_path(settings, B), feed=B)
    _write(tmp_path / "alpha.txt", MOE + "2. Load balancing losses for expert layers\n")
    assert criteria.file_status(db, _crit_path(settings, A), feed=A) == "changed"
    assert criteria.file_status(db, _crit_path(settings, B), feed=B) == "adopted"
    a_after, said = criteria.for_run(db, _crit_path(settings, A), feed=A)
    assert "Load balancing losses" in a_after.text and said and "changed since it was last adopted" in said[0]
    assert criteria.for_run(db, _crit_path(settings, B), feed=B) == (b_before, [])


def test_two_feeds_naming_one_file_each_adopt_it_as_their_own_version(team, tmp_path):
    settings, db, _ = team
    shared = _crit_path(settings, A)
    a1, _ = criteria.for_run(db, shared, feed=A)
    b1, _ = criteria.for_run(db, shared, feed=B)
    assert a1.text == b1.text and a1.version != b1.version
    criteria.save_version(db, "1. Graph neural networks for chemistry", "U1", feed=B)  # beta edits in Slack
    _write(shared, MOE + "2. Expert parallelism\n", age_seconds=30)  # a copy dated before beta's edit
    # Alpha's current version came from the file: adopted. Beta's Slack edit is newer: kept.
    assert criteria.file_status(db, shared, feed=A) == "changed" and criteria.file_status(db, shared, feed=B) == "older"
    assert "Expert parallelism" in criteria.for_run(db, shared, feed=A)[0].text
    b2, said = criteria.for_run(db, shared, feed=B)
    assert "Graph neural networks" in b2.text and "stays unused" in said[0] and "criteria --feed beta set" in said[0]


def test_a_feed_started_from_slack_starts_from_the_default_criteria_and_keeps_them(team, tmp_path):
    settings, db, _ = team
    feeds.start_feed(settings, db, "lab", "C0LAB", "U1")
    lab = feeds.feed_named(settings, db, "lab")
    edited = criteria.save_version(db, MOE + "2. Routing collapse\n", "U1", feed=A)  # not the file's text any more
    seed = criteria.seed_feed(db, criteria.version_row(db, edited, feed=A)["text"], "U1", feed=lab.feed,
                              criteria_file=lab.path("ranking.criteria_file"))
    crit, said = criteria.for_run(db, lab.path("ranking.criteria_file"), feed=lab.feed)
    assert crit.version == seed and "Routing collapse" in crit.text and said == []
    assert criteria.version_row(db, seed, feed=lab.feed)["created_by"] == "U1"


# --- team settings and audit ----------------------------------------------------------------

def test_watched_authors_and_categories_are_per_feed(team):
    settings, db, _ = team
    alpha, beta = settings.for_feed(A), settings.for_feed(B)
    configured = list(alpha["ranking.authors"])
    team_settings.add_authors(alpha, db, ["Geoffrey Hinton"], "U1")
    team_settings.set_categories(db, ["stat.ML"], "U1", feed=B)
    assert team_settings.watched_authors(alpha, db) == configured + ["Geoffrey Hinton"]
    assert team_settings.watched_authors(beta, db) == configured
    assert team_settings.team_categories(beta, db) == ["stat.ML"]
    assert team_settings.team_categories(alpha, db) == list(alpha["arxiv.categories"])
    assert team_settings.remove_authors(beta, db, ["Geoffrey Hinton"], "U2") == ([], ["Geoffrey Hinton"])
    assert team_settings.remove_authors(beta, db, configured[:1], "U2") == (configured[:1], [])
    assert team_settings.authors(beta, db) == configured[1:]
    assert team_settings.authors(alpha, db) == configured + ["Geoffrey Hinton"]
    store.audit(db, "U1", "authors.add", "Geoffrey Hinton", feed=A)
    assert [(e["who"], e["action"]) for e in store.audit_entries(db, feed=A)] == [("U1", "authors.add")]
    assert store.audit_entries(db, feed=B) == []


# --- the commands ---------------------------------------------------------------------------

def test_feedback_export_with_feed_writes_that_feeds_votes_only(team, capsys, tmp_path):
    _, db, settings_file = team
    feedback.set_vote(db, PAPERS[0].arxiv_id, "U1", 1, "slack", feed=A)
    feedback.set_vote(db, PAPERS[1].arxiv_id, "U1", 1, "slack", feed=B)
    rc, out, err = _run(settings_file, capsys, "feedback", "export", "--feed", A)
    assert rc == 0 and [json.loads(line)["arxiv_id"] for line in out.splitlines()] == [PAPERS[0].arxiv_id]
    assert "exported 1 vote (feed alpha)" in err
    votes = tmp_path / "beta.jsonl"
    rc, _, err = _run(settings_file, capsys, "feedback", "export", str(votes), "--feed", B)
    assert rc == 0 and [json.loads(x)["arxiv_id"] for x in votes.read_text().splitlines()] == [PAPERS[1].arxiv_id]
    rc, out, _ = _run(settings_file, capsys, "feedback", "import", str(votes), "--feed", A, "--quiet")
    assert rc == 0 and "1 vote applied" in out and feedback.count_votes(db, feed=A) == 2


@pytest.mark.parametrize("argv", [("feedback", "export"), ("feedback", "import", "x.jsonl"), ("criteria", "show"),
                                  ("criteria", "history")])
def test_with_several_feeds_a_command_asks_which_naming_them(team, capsys, argv):
    _, _, settings_file = team
    rc, out, err = _run(settings_file, capsys, *argv)
    assert rc == 1 and out == ""
    assert "2 feeds (alpha, beta)" in err and "--feed NAME" in err


def test_an_unknown_feed_is_refused_naming_the_feeds(team, capsys):
    _, _, settings_file = team
    rc, _, err = _run(settings_file, capsys, "criteria", "--feed", "gamma", "show")
    assert rc == 1 and "there is no feed 'gamma'; the feeds are: alpha, beta" in err


def test_criteria_commands_act_on_the_feed_named(team, capsys, tmp_path):
    settings, db, settings_file = team
    rc, out, _ = _run(settings_file, capsys, "criteria", "show", "--feed", B)
    assert rc == 0 and "Embodied vision" in out and "mixture-of-experts" not in out
    new = _write(tmp_path / "ours.txt", "1. Quantization of large language models\n   - Relevant: 4-bit weights.\n")
    rc, out, _ = _run(settings_file, capsys, "criteria", "--feed", B, "set", str(new))
    assert rc == 0 and "saved as criteria version" in out
    assert "Quantization" in criteria.current(db, _crit_path(settings, B), feed=B).text
    assert "mixture-of-experts" in criteria.current(db, _crit_path(settings, A), feed=A).text
    rc, out, _ = _run(settings_file, capsys, "criteria", "history", "--feed", B)
    assert rc == 0 and "criteria --feed beta restore N" in out and len(out.splitlines()) == 5  # 2 versions
    alpha_version = criteria.current(db, _crit_path(settings, A), feed=A).version
    rc, _, err = _run(settings_file, capsys, "criteria", "--feed", B, "restore", str(alpha_version))
    assert rc == 1 and f"no criteria version {alpha_version} in feed 'beta'" in err
    assert "criteria --feed beta history" in err
    assert [e["action"] for e in store.audit_entries(db, feed=B)] == ["criteria.set"]


def test_with_one_feed_the_commands_need_no_feed_option(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    _write(tmp_path / "crit.txt", MOE)
    settings_file = tmp_path / "one.toml"
    settings_file.write_text(f'[ranking]\ncriteria_file = "{tmp_path / "crit.txt"}"\n'
                             f'[storage]\ndatabase = "{tmp_path / "one.sqlite"}"\n', encoding="utf-8")
    rc, out, _ = _run(settings_file, capsys, "criteria", "show")
    assert rc == 0 and "mixture-of-experts" in out
    db = open_db(tmp_path / "one.sqlite")
    store.save_papers(db, "2025-03-03", PAPERS[:1])
    feedback.set_vote(db, PAPERS[0].arxiv_id, "U1", 1, "slack", feed="default")
    rc, out, err = _run(settings_file, capsys, "feedback", "export")
    assert rc == 0 and json.loads(out)["arxiv_id"] == PAPERS[0].arxiv_id and "(feed default)" in err
