"""`/arxiv` and the criteria modal end to end: Slack-signed slash commands and view
submissions into the real Bolt app over real HTTP, the app calling the local Slack Web
API server, follow-ups arriving at a local stand-in for the command's response_url."""
from __future__ import annotations

import json
import threading

import pytest

from bot import criteria
from bot.slack.listeners.views.criteria_modal import joined_text, line_ends
from bot.slack.post import DayPost
from bot.slack.stats import team_stats
from bot.slack.text_parts import split_boxes, split_parts
from bot.team_settings import TeamSettingError, parse_categories, parse_names, team_categories, watched_authors
from tests.slack_helpers import block_actions_payload, view_submission_payload
from tests.slack_listener_fixtures import DATE, eventually, h, harness_factory  # noqa: F401 (fixtures)


def audit_actions(h) -> list[tuple[str, str]]:
    return [(r["who"], r["action"]) for r in h.db.query("select who, action from audit_log order by id")]


def versions(h) -> list[dict]:
    return list(h.db.query("select id, text, created_by, note from criteria_versions order by id"))


# ---- the criteria modal -----------------------------------------------------------------

def open_editor(h, user="U0ALICE") -> dict:
    """The view of the editor this call opens (not one an earlier call opened)."""
    before = len(h.slack.calls_to("views.open", ok_only=True))
    resp = h.command("criteria", user_id=user)
    assert resp.status_code == 200 and resp.text == ""  # the modal is the answer
    opened = eventually(lambda: h.slack.calls_to("views.open", ok_only=True)[before:], what="views.open")
    return opened[-1].params


def submit(h, view: dict, text: str | None, user="U0ALICE", more: str | None = None):
    values = {"criteria_1": {"text": {"type": "plain_text_input", "value": text}}}
    if more is not None or any(b.get("block_id") == "criteria_2" for b in view["view"]["blocks"]):
        values["criteria_2"] = {"text": {"type": "plain_text_input", "value": more}}
    payload = view_submission_payload(user, view["view"]["callback_id"], values,
                                      private_metadata=view["view"]["private_metadata"])
    resp = h.sender.interactive(payload)
    assert resp.status_code == 200
    return resp.json() if resp.text else {}


def test_criteria_modal_round_trip_saves_a_new_version(h):
    opened = open_editor(h)
    view = opened["view"]
    assert opened["trigger_id"].endswith(".trigger")
    first = next(b for b in view["blocks"] if b.get("block_id") == "criteria_1")
    current = criteria.current(h.db, h.settings.path("ranking.criteria_file"), feed="default")
    assert first["element"]["initial_value"] == current.text and first["element"]["multiline"] is True
    assert not first.get("optional") and len(view["title"]["text"]) <= 24

    new_text = "1. Sparse autoencoders and mechanistic interpretability\n   - Relevant: features, circuits"
    answer = submit(h, opened, new_text)
    assert answer["response_action"] == "update"
    assert "version 2" in json.dumps(answer["view"])
    rows = versions(h)
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[-1]["text"] == new_text and rows[-1]["created_by"] == "U0ALICE"
    assert criteria.current(h.db, h.settings.path("ranking.criteria_file"), feed="default").text == new_text
    assert ("U0ALICE", "criteria.save") in audit_actions(h)

    # The same text again is no new version.
    again = submit(h, open_editor(h), new_text)
    assert "Nothing changed" in json.dumps(again["view"]) and len(versions(h)) == 2


def test_criteria_modal_refuses_empty_and_too_long_text_with_the_reason(h):
    opened = open_editor(h)
    empty = submit(h, opened, None)
    assert empty == {"response_action": "errors", "errors": {"criteria_1": "Not saved: the criteria text is empty."}}
    blank = submit(h, opened, "   \n  ")
    assert "empty" in blank["errors"]["criteria_1"]
    criteria.save_version(h.db, paragraphs(8, 7743), created_by="U0BOB", feed="default")
    long_editor = open_editor(h)
    texts = as_opened(long_editor)
    texts[-1] = "y " * 1400  # every box within its limit, the whole over 8,000
    too_long = submit_boxes(h, long_editor, texts)
    assert too_long["response_action"] == "errors" and "too long" in too_long["errors"]["criteria_1"]
    assert "8000" in too_long["errors"]["criteria_1"]
    assert len(versions(h)) == 2  # nothing saved
    assert not any(a == "criteria.save" for _, a in audit_actions(h))


def box_values(parts: list[str | None]) -> dict:
    return {f"criteria_{i}": {"text": {"value": p}} for i, p in enumerate(parts, 1)}


def test_long_criteria_are_spread_over_boxes_and_joined_back():
    text = "\n".join(f"{i}. topic number {i} " + "word " * 60 for i in range(1, 25))
    parts, joins = split_boxes(text)
    assert len(parts) == 3 and all(len(p) <= 2900 for p in parts) and joins == ["\n", "\n"]
    assert joined_text(box_values(parts), {"boxes": 3, "joins": line_ends(joins)}) == (text.strip(), None)
    assert split_parts("") == [""] and split_parts("short") == ["short"]
    # A line too long for a box is cut, and joined back without a line end.
    assert split_boxes("z" * 6000) == (["z" * 2900, "z" * 2900, "z" * 200], ["", ""])
    # A blank line at a box boundary travels as the join, not lost at a box's edge.
    blank = "a" * 2000 + "\n\n\n" + "b" * 2000
    assert split_boxes(blank) == (["a" * 2000, "b" * 2000], ["\n\n\n"])
    # An emptied middle box: its neighbours meet with the join that followed it.
    three = {"boxes": 3, "joins": [1, 2]}
    assert joined_text(box_values(["x", None, "z"]), three) == ("x\n\nz", None)
    # A view from before box counts were recorded: every box that arrived is read, in order.
    assert joined_text(box_values(["x", "y", "z", "w"]), {}) == ("x\ny\nz\nw", None)


# ---- long criteria: every box is read back ------------------------------------------------

def paragraphs(n: int, total: int) -> str:
    """`n` numbered topics separated by blank lines, `total` characters in all."""
    size, extra = divmod(total - 2 * (n - 1), n)
    paras = []
    for i in range(1, n + 1):
        para = (f"{i}. Topic {i}: " + f"keyword{i} method{i} " * 200)[:size + (i <= extra)]
        paras.append(para[:-1] + "." if para.endswith(" ") else para)
    return "\n\n".join(paras)


def boxes_of(opened: dict) -> list[dict]:
    return [b for b in opened["view"]["blocks"] if b.get("block_id", "").startswith("criteria_")]


def submit_boxes(h, opened: dict, texts: list[str | None], user="U0ALICE") -> dict:
    """Submit the editor with `texts` in its boxes, in order, as Slack sends state.values
    (an emptied box arrives with value null)."""
    values = {b["block_id"]: {"text": {"type": "plain_text_input", "value": t}}
              for b, t in zip(boxes_of(opened), texts)}
    payload = view_submission_payload(user, opened["view"]["callback_id"], values,
                                      private_metadata=opened["view"]["private_metadata"])
    resp = h.sender.interactive(payload)
    assert resp.status_code == 200
    return resp.json() if resp.text else {}


def as_opened(opened: dict) -> list[str | None]:
    return [b["element"].get("initial_value") for b in boxes_of(opened)]


def current_text(h) -> str:
    return criteria.current(h.db, h.settings.path("ranking.criteria_file"), feed="default").text


def test_eight_long_topics_open_in_several_boxes_and_every_box_is_saved(h):
    from slack_sdk.models.views import View

    text = paragraphs(8, 7743)
    assert len(text) == 7743 and all(900 < len(p) < 1000 for p in text.split("\n\n"))
    criteria.save_version(h.db, text, created_by="U0BOB", feed="default")
    opened = open_editor(h)
    View(**opened["view"]).validate_json()  # Slack's own limits: labels, max_length, metadata
    boxes = boxes_of(opened)
    assert len(boxes) >= 4 and all(b["element"]["max_length"] == 3000 for b in boxes)
    labels = [b["label"]["text"] for b in boxes]
    assert labels[-1].endswith(f"({len(boxes)}/{len(boxes)})")

    unchanged = submit_boxes(h, opened, as_opened(opened))
    assert "Nothing changed" in json.dumps(unchanged["view"])  # the boxes join back to the very text

    ninth = "9. Topic 9: causal discovery"
    texts = as_opened(opened)
    assert texts[-1] is None  # an empty box to grow into
    texts[-1] = ninth
    saved = submit_boxes(h, opened, texts)
    assert saved["response_action"] == "update", saved
    assert current_text(h) == text + "\n" + ninth
    assert "7. Topic 7" in current_text(h) and "8. Topic 8" in current_text(h)


def box_count_text(n: int) -> str:
    """A text that the editor splits into `n` boxes (lines too long to share a box). Five
    is the most 8,000 characters can need: two neighbouring boxes hold over 2,900."""
    lines = [(f"{i}. Topic {i} " + "alpha beta gamma " * 100)[:1451] for i in range(1, n + 1)]
    return "\n".join(lines)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_criteria_split_at_every_box_count_round_trip_exactly(h, n):
    text = box_count_text(n)
    assert len(split_parts(text)) == n
    criteria.save_version(h.db, text, created_by="U0BOB", feed="default")
    opened = open_editor(h)
    assert [t for t in as_opened(opened) if t] == split_parts(text)
    assert "Nothing changed" in json.dumps(submit_boxes(h, opened, as_opened(opened))["view"])
    texts = as_opened(opened)
    last = max(i for i, t in enumerate(texts) if t)
    texts[last] += " (edited)"
    assert submit_boxes(h, opened, texts)["response_action"] == "update"
    assert current_text(h) == text + " (edited)"


def test_a_line_too_long_for_one_box_is_cut_and_joined_without_a_new_line(h):
    text = "1. " + "unbroken" * 900  # 7,203 characters, no line end to split at
    criteria.save_version(h.db, text, created_by="U0BOB", feed="default")
    opened = open_editor(h)
    assert len([t for t in as_opened(opened) if t]) == 3
    assert "Nothing changed" in json.dumps(submit_boxes(h, opened, as_opened(opened))["view"])


def test_an_emptied_box_drops_only_its_own_text(h):
    text = paragraphs(8, 7743)
    criteria.save_version(h.db, text, created_by="U0BOB", feed="default")
    opened = open_editor(h)
    texts = as_opened(opened)
    removed = texts[1]
    texts[1] = None  # the user selected all of box 2 and deleted it
    assert submit_boxes(h, opened, texts)["response_action"] == "update"
    # Every other box is kept word for word, in order; only box 2's text is gone.
    assert current_text(h).split() == text.replace(removed, " ", 1).split()
    assert "3. Topic 3" in removed and "3. Topic 3" not in current_text(h)
    assert len(current_text(h)) < len(text) - len(removed) + 3


def test_a_long_run_of_blank_lines_at_a_split_keeps_the_editor_within_slack_limits(h):
    """What joins two boxes travels in private_metadata (3,000 characters at most): a run
    of 1,600 blank lines where the text is split must neither break the editor nor be lost."""
    first = ("1. Topic one " + "alpha beta gamma " * 200)[:2800]
    text = first + "\n" * 1601 + "2. Topic two: causal discovery and structure learning"
    criteria.save_version(h.db, text, created_by="U0BOB", feed="default")
    assert current_text(h) == text

    opened = open_editor(h)

    assert len(opened["view"]["private_metadata"]) <= 3000
    assert [t for t in as_opened(opened) if t] == split_parts(text)
    assert "Nothing changed" in json.dumps(submit_boxes(h, opened, as_opened(opened))["view"])


def test_a_box_over_its_length_or_missing_is_refused_with_a_reason_and_nothing_cut(h):
    text = paragraphs(8, 7743)
    criteria.save_version(h.db, text, created_by="U0BOB", feed="default")
    opened = open_editor(h)
    n_versions = len(versions(h))
    texts = as_opened(opened)
    texts[2] = texts[2] + " more" * 300  # past the box's 3,000 characters
    over = submit_boxes(h, opened, texts)
    assert over["response_action"] == "errors"
    assert "3000" in over["errors"]["criteria_3"] and "box 3" in over["errors"]["criteria_3"].lower()

    missing = submit_boxes(h, opened, as_opened(opened)[:-2])  # the last boxes never arrived
    assert missing["response_action"] == "errors"
    assert "did not arrive" in json.dumps(missing["errors"])
    assert len(versions(h)) == n_versions and current_text(h) == text


def test_criteria_history_and_restore(h):
    criteria.current(h.db, h.settings.path("ranking.criteria_file"), feed="default")
    criteria.save_version(h.db, "1. Second version of our criteria text", created_by="U0BOB", note="edited in Slack", feed="default")
    listing = h.command("criteria history")
    assert listing.status_code == 200
    assert "*v2* (current)" in listing.text and "<@U0BOB>" in listing.text and "*v1*" in listing.text
    restored = h.command("criteria restore 1")
    assert "Version 1 restored as version 3" in restored.text
    rows = versions(h)
    assert rows[-1]["id"] == 3 and rows[-1]["text"] == rows[0]["text"] and rows[-1]["note"] == "restored from version 1"
    assert rows[-1]["created_by"] == "U0ALICE"
    assert ("U0ALICE", "criteria.restore") in audit_actions(h)
    assert "already the current" in h.command("criteria restore 3").text
    assert "no criteria version 42" in h.command("criteria restore 42").text
    assert "not a version number" in h.command("criteria restore two").text


# ---- authors and categories -------------------------------------------------------------

def test_authors_add_remove_list_reach_the_pipeline(h):
    assert "Yoshua Bengio" in h.command("authors list").text  # from settings ranking.authors
    added = h.command("authors add Geoffrey Hinton, Y. LeCun; Y. Bengio")
    assert "Added: Geoffrey Hinton, Y. LeCun" in added.text and "Already watched: Y. Bengio" in added.text
    assert watched_authors(h.settings, h.db) == ["Yoshua Bengio", "Geoffrey Hinton", "Y. LeCun"]
    removed = h.command("authors remove yoshua bengio, Nobody Here")
    assert "Removed: Yoshua Bengio" in removed.text and "Not in the list: Nobody Here" in removed.text
    assert watched_authors(h.settings, h.db) == ["Geoffrey Hinton", "Y. LeCun"]
    row = next(h.db.query("select updated_by from team_settings where key = 'authors'"))
    assert row["updated_by"] == "U0ALICE"
    assert audit_actions(h) == [("U0ALICE", "authors.add"), ("U0ALICE", "authors.remove")]


def test_author_names_from_slack_are_escaped_and_checked(h):
    resp = h.command("authors add <!here> Smith")
    assert "&lt;!here&gt; Smith" in resp.text and "<!here>" not in resp.text
    assert "Nothing changed" in h.command("authors add 12345").text
    with pytest.raises(TeamSettingError):
        parse_names(" , ;")


def test_categories_list_and_set(h):
    assert "cs.LG cs.AI" in h.command("categories").text
    changed = h.command("categories set cs.LG stat.ML cs.LG")
    assert "Categories set to cs.LG stat.ML" in changed.text
    assert team_categories(h.settings, h.db) == ["cs.LG", "stat.ML"]
    bad = h.command("categories set cs.LG <b>bogus</b>")
    assert "Nothing changed" in bad.text and "&lt;b&gt;bogus" in bad.text
    assert team_categories(h.settings, h.db) == ["cs.LG", "stat.ML"]
    assert audit_actions(h) == [("U0ALICE", "categories.set")]
    assert parse_categories("cs.AI, econ math.OC") == ["cs.AI", "econ", "math.OC"]


# ---- permissions ------------------------------------------------------------------------

def test_only_admins_may_change_when_admins_are_configured(harness_factory):
    h = harness_factory(admins=["U0ADMIN"])
    for text in ("criteria", "criteria restore 1", "authors add Ada Lovelace", "authors remove Yoshua Bengio",
                 "categories set cs.CL", "run"):
        resp = h.command(text, user_id="U0BOB")
        assert resp.status_code == 200
        assert "Only the team's admins" in resp.text and "<@U0ADMIN>" in resp.text, text
    # A forged or stale modal from a non-admin is refused too.
    opened = view_for_submit(h)
    refused = submit(h, opened, "1. A non-admin tries to replace the criteria", user="U0BOB")
    assert refused["response_action"] == "errors" and "admins" in refused["errors"]["criteria_1"]
    # Nothing changed and nothing was opened for the non-admin.
    assert h.slack.calls_to("views.open") == [] and audit_actions(h) == []
    assert watched_authors(h.settings, h.db) == ["Yoshua Bengio"]
    assert len(list(h.db.query("select id from criteria_versions"))) <= 1
    # Reading stays open to everyone; the admin may change.
    assert "Watched authors" in h.command("authors list", user_id="U0BOB").text
    assert "Added: Ada Lovelace" in h.command("authors add Ada Lovelace", user_id="U0ADMIN").text
    assert audit_actions(h) == [("U0ADMIN", "authors.add")]
    assert h.command("criteria", user_id="U0ADMIN").text == ""
    eventually(lambda: h.slack.calls_to("views.open", ok_only=True))


def view_for_submit(h) -> dict:
    from bot.slack.listeners.views.criteria_modal import criteria_modal

    return {"view": criteria_modal(h.app.ctx, h.app.ctx.feeds()[0])}


# ---- run --------------------------------------------------------------------------------

def test_run_acks_at_once_while_the_slow_run_continues_and_refuses_a_second(harness_factory):
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    calls = []

    def slow_run(feed, date=None, channel=None, **kw):
        calls.append(date)
        started.set()
        release.wait(30)
        finished.set()
        return DayPost(date, "#arxiv-papers", "posted", f"posted {date} to #arxiv-papers: 4 message(s)")

    h = harness_factory(run_day=slow_run)
    first = h.command(f"run {DATE}")
    # The answer came back while the run had not finished (it waits for `release`).
    assert first.status_code == 200 and "Running the stored day 2025-02-24" in first.text
    assert not finished.is_set()
    assert started.wait(10)
    second = h.command("run")
    assert "already in progress" in second.text
    assert h.hooks.texts() == []
    release.set()
    texts = eventually(lambda: h.hooks.texts(), what="the follow-up on response_url")
    assert texts == [":white_check_mark: posted 2025-02-24 to #arxiv-papers: 4 message(s)"]
    assert calls == [DATE]
    eventually(lambda: not h.app.ctx.run_lock.locked(), what="the run lock released")


def test_run_of_a_posted_day_posts_nothing_twice(h):
    before = len(h.slack.calls_to("chat.postMessage"))
    resp = h.command(f"run {DATE}")
    assert resp.status_code == 200
    text = eventually(lambda: h.hooks.texts(), what="the follow-up")[0]
    assert "already posted" in text
    assert len(h.slack.calls_to("chat.postMessage")) == before == 0


def test_run_with_a_bad_date_answers_how_to_use_it(h):
    resp = h.command("run tomorrow")
    assert "is not a date" in resp.text and "YYYY-MM-DD" in resp.text
    assert not h.app.ctx.run_lock.locked()


# ---- stats, help, unknown input -----------------------------------------------------------

def test_stats_counts_votes_and_liked_picks(h):
    for user, action, paper in (("U0ALICE", "vote_up", "2502.00001"), ("U0BOB", "vote_up", "2502.00001"),
                                ("U0BOB", "vote_down", "2502.00003")):
        h.sender.action(block_actions_payload(user, action, paper, message_ts=h.messages[paper]))
    eventually(lambda: len(list(h.db.query("select * from feedback"))) == 3)
    resp = h.command("stats")
    assert "3 picks, 1 liked (33%), 1 disliked" in resp.text
    assert "👍 2 · 👎 1 from 2 people" in resp.text
    assert "cs.LG (2 👍)" in resp.text and "Sparse autoencoders" in resp.text
    s = team_stats(h.db, feed="default")
    assert (s.picked, s.liked, s.up, s.down, s.voters) == (3, 1, 2, 1, 2)


def test_help_and_unknown_input_answer_usage_never_a_trace(h):
    assert "/arxiv criteria" in h.command("help").text
    assert "/arxiv criteria" in h.command("").text
    for text in ("frobnicate <!channel>", "authors destroy all", "categories set", "criteria burn",
                 "stats please", "run 2025-02-24 2025-02-25"):
        resp = h.command(text)
        assert resp.status_code == 200, text
        assert "I don't know" in resp.text and "/arxiv run [YYYY-MM-DD]" in resp.text, text
        assert "Traceback" not in resp.text and "<!channel>" not in resp.text
    assert "&lt;!channel&gt;" in h.command("frobnicate <!channel>").text


def test_a_failure_inside_a_subcommand_answers_one_sentence(h):
    h.db.conn.execute("drop table team_settings")  # a broken store: the real error path
    resp = h.command("authors list")
    assert resp.status_code == 200
    assert "failed on my side (OperationalError)" in resp.text and "Traceback" not in resp.text


def test_a_failed_run_is_answered_and_logged_once(harness_factory, caplog):
    """The poster leaves its report to its caller: `/arxiv run` answers it in Slack and puts
    it in the server's log once (the log is all an operator of `python -m bot run` sees)."""
    import logging

    stopped = (f"Slack posting for {DATE} stopped: the app is not a member of #arxiv-papers: invite it there "
               "(/invite @arXiv Papers) and run again")
    h = harness_factory(run_day=lambda feed, date=None, channel=None, **kw: DayPost(date, "#arxiv-papers", "failed",
                                                                            stopped, error="not_in_channel"))
    with caplog.at_level(logging.INFO):
        h.command(f"run {DATE}")
        texts = eventually(lambda: h.hooks.texts(), what="the follow-up on response_url")
        eventually(lambda: not h.app.ctx.run_lock.locked(), what="the run lock released")

    assert len(texts) == 1 and "not a member of #arxiv-papers" in texts[0]
    logged = [r for r in caplog.records if "not a member of #arxiv-papers" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR, caplog.text


@pytest.mark.parametrize("which", ["99999999999999999999", "\u00b2", "v\u0663", "-1", "1.0", "v"])
def test_criteria_restore_of_a_number_that_is_no_version_answers_one_sentence(h, which):
    """Huge numbers, superscript and other-script digits ('²'.isdigit() is True): a plain
    refusal naming the history command, never an OverflowError; nothing stored or audited."""
    criteria.current(h.db, h.settings.path("ranking.criteria_file"), feed="default")
    resp = h.command(f"criteria restore {which}")
    assert resp.status_code == 200 and "failed on my side" not in resp.text, resp.text
    assert ("not a version number" in resp.text or "no criteria version" in resp.text) and \
        "/arxiv criteria history" in resp.text, resp.text
    assert len(versions(h)) == 1 and not any(a == "criteria.restore" for _, a in audit_actions(h))


def test_a_run_that_raises_is_answered_in_one_line_and_logged_with_its_traceback(h, caplog):
    """The real run on a broken store (sqlite3.OperationalError, which the poster does not
    turn into a DayPost): the caller hears one line, the log has the traceback, the lock goes."""
    import logging

    h.db.conn.execute("drop table picks")
    with caplog.at_level(logging.INFO):
        h.command(f"run {DATE}")
        texts = eventually(lambda: h.hooks.texts(), what="the follow-up on response_url")
        eventually(lambda: not h.app.ctx.run_lock.locked(), what="the run lock released")

    assert len(texts) == 1 and "\n" not in texts[0] and "OperationalError" in texts[0], texts
    assert "Traceback" not in texts[0] and "no such table" not in texts[0]
    crashed = [r for r in caplog.records if r.exc_info and "no such table: picks" in str(r.exc_info[1])]
    assert len(crashed) == 1 and crashed[0].levelno == logging.ERROR, caplog.text
    assert f"/arxiv run {DATE}" in crashed[0].getMessage() and "U0ALICE" in crashed[0].getMessage()


def test_a_runs_warnings_are_logged_once_each(harness_factory, caplog):
    """`/arxiv run` logs the day's report as the scheduler does: its line and each warning, once."""
    import logging

    warnings = ["2502.00001: Slack refused its blocks (invalid_blocks); posted a plain version",
                "LLM scoring with gpt-5.4-nano: 4 papers ranked locally because the first 2 calls failed"]
    h = harness_factory(run_day=lambda feed, date=None, channel=None, **kw: DayPost(
        date, "#arxiv-papers", "posted", f"posted {date} to #arxiv-papers: 4 message(s)", warnings=list(warnings)))
    with caplog.at_level(logging.INFO):
        h.command(f"run {DATE}")
        eventually(lambda: h.hooks.texts(), what="the follow-up on response_url")
        eventually(lambda: not h.app.ctx.run_lock.locked(), what="the run lock released")

    for said in [f"posted {DATE} to #arxiv-papers: 4 message(s)", *warnings]:
        records = [r for r in caplog.records if said in r.getMessage()]
        assert len(records) == 1, (said, caplog.text)
    assert all(r.levelno == logging.WARNING for r in caplog.records if warnings[1] in r.getMessage())
