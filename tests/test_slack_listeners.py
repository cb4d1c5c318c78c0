"""Votes, the App Home tab and request signatures, end to end: Slack-signed requests with
Slack's documented payloads into the real Bolt app over real HTTP, the app calling the
local Slack Web API server, votes landing in the real SQLite file."""
from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.slack.home import next_scheduled_run
from bot.slack.votes import reaction_vote
from tests.servers.slack_server import DEFAULT_CHANNEL_ID
from tests.slack_helpers import app_home_opened_event, block_actions_payload, reaction_event
from tests.slack_listener_fixtures import eventually, h, harness_factory  # noqa: F401 (fixtures)

PAPER = "2502.00001"


def click(h, user, action_id, arxiv_id=PAPER):
    payload = block_actions_payload(user, action_id, arxiv_id, message_ts=h.messages[arxiv_id])
    resp = h.sender.action(payload)
    assert resp.status_code == 200
    return resp


def tally_shown(call_or_message) -> str:
    """The context line of a paper message ("… team 👍 1 · 👎 0"), from a chat.update call
    or from the message as the Slack server holds it."""
    blocks = getattr(call_or_message, "params", call_or_message)["blocks"]
    return next(b["elements"][0]["text"] for b in blocks if b["type"] == "context")


def ephemerals(h, user):
    return [c.params["text"] for c in h.slack.calls_to("chat.postEphemeral") if c.params["user"] == user]


# ---- buttons ----------------------------------------------------------------------------

def test_button_vote_is_recorded_confirmed_to_the_clicker_and_shown_in_place(h):
    click(h, "U0ALICE", "vote_up")
    update = eventually(lambda: h.updates_of(h.messages[PAPER]), what="chat.update of the paper message")[-1]
    assert h.votes(PAPER) == {"U0ALICE": (1, "button")}
    assert update.params["channel"] == DEFAULT_CHANNEL_ID
    assert "👍 1 · 👎 0" in tally_shown(update)
    buttons = next(b for b in update.params["blocks"] if b["type"] == "actions")["elements"]
    assert [b["text"]["text"] for b in buttons[:2]] == ["👍 1", "👎 0"]
    # The message in the channel itself now carries the tally (updated, not re-posted).
    stored = h.slack.messages[DEFAULT_CHANNEL_ID][h.messages[PAPER]]
    assert "edited" in stored and "👍 1" in tally_shown(update)
    note = eventually(lambda: ephemerals(h, "U0ALICE"))[-1]
    assert "👍 noted" in note and "again to take it back" in note
    eph = h.slack.calls_to("chat.postEphemeral")[-1].params
    assert eph["thread_ts"] == h.messages["parent"]  # shown inside the day's thread
    events = list(h.db.query("select vote, source from feedback_events where arxiv_id = ?", [PAPER]))
    assert events == [{"vote": 1, "source": "button"}]


def test_clicking_the_same_button_again_removes_the_vote(h):
    click(h, "U0ALICE", "vote_up")
    eventually(lambda: len(h.updates_of(h.messages[PAPER])) == 1)
    click(h, "U0ALICE", "vote_up")
    update = eventually(lambda: h.updates_of(h.messages[PAPER])[1:], what="second update")[0]
    assert h.votes(PAPER) == {}
    assert "👍 0 · 👎 0" in tally_shown(update)
    assert "removed" in eventually(lambda: ephemerals(h, "U0ALICE")[1:])[0]
    assert [r["vote"] for r in h.db.query("select vote from feedback_events order by id")] == [1, 0]


def test_switching_buttons_replaces_the_vote_and_votes_are_per_user(h):
    click(h, "U0ALICE", "vote_up")
    eventually(lambda: len(h.updates_of(h.messages[PAPER])) == 1)
    click(h, "U0BOB", "vote_up")
    eventually(lambda: len(h.updates_of(h.messages[PAPER])) == 2)
    click(h, "U0ALICE", "vote_down")
    update = eventually(lambda: h.updates_of(h.messages[PAPER])[2:], what="third update")[0]
    assert h.votes(PAPER) == {"U0ALICE": (-1, "button"), "U0BOB": (1, "button")}
    assert "👍 1 · 👎 1" in tally_shown(update)
    assert "from 👍 to 👎" in eventually(lambda: ephemerals(h, "U0ALICE")[1:])[0]


def test_confirmation_of_a_vote_on_a_hostile_title_is_escaped(h):
    evil = "2502.00002"
    click(h, "U0ALICE", "vote_up", evil)
    note = eventually(lambda: ephemerals(h, "U0ALICE"))[0]
    assert "<!channel>" not in note and "<https://evil.example" not in note
    assert "&lt;!channel&gt;" in note and "&amp;" in note
    update = eventually(lambda: h.updates_of(h.messages[evil]))[0]
    shown = " ".join(b.get("text", {}).get("text", "") for b in update.params["blocks"])
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown


def test_a_button_for_an_unknown_paper_records_nothing(h):
    resp = h.sender.action(block_actions_payload("U0ALICE", "vote_up", "9999.99999", message_ts=h.messages[PAPER]))
    assert resp.status_code == 200
    note = eventually(lambda: ephemerals(h, "U0ALICE"))[0]
    assert "not recorded" in note
    assert list(h.db.query("select * from feedback")) == []
    assert h.slack.calls_to("chat.update") == []


def test_the_pdf_link_button_is_acknowledged(h):
    resp = h.sender.action(block_actions_payload("U0ALICE", "open_pdf", "", message_ts=h.messages[PAPER]))
    assert resp.status_code == 200


# ---- reactions --------------------------------------------------------------------------

def react(h, kind, user, name, ts, channel=DEFAULT_CHANNEL_ID):
    resp = h.sender.event(reaction_event(kind, user, name, channel, ts))
    assert resp.status_code == 200


def test_thumbs_reactions_with_any_skin_tone_are_votes_and_removal_takes_them_back(h):
    ts = h.messages[PAPER]
    react(h, "reaction_added", "U0ALICE", "+1::skin-tone-4", ts)
    react(h, "reaction_added", "U0BOB", "thumbsdown", ts)
    eventually(lambda: len(h.votes(PAPER)) == 2, what="two reaction votes")
    assert h.votes(PAPER) == {"U0ALICE": (1, "reaction"), "U0BOB": (-1, "reaction")}
    eventually(lambda: any("👍 1 · 👎 1" in tally_shown(c) for c in h.updates_of(ts)), what="tally update")
    react(h, "reaction_removed", "U0ALICE", "+1::skin-tone-4", ts)
    eventually(lambda: "U0ALICE" not in h.votes(PAPER), what="removal")
    assert h.votes(PAPER) == {"U0BOB": (-1, "reaction")}
    eventually(lambda: any("👍 0 · 👎 1" in tally_shown(c) for c in h.updates_of(ts)), what="tally after removal")


def test_removing_a_reaction_keeps_a_later_vote_the_other_way(h):
    ts = h.messages[PAPER]
    react(h, "reaction_added", "U0ALICE", "thumbsup", ts)
    eventually(lambda: h.votes(PAPER).get("U0ALICE") == (1, "reaction"))
    click(h, "U0ALICE", "vote_down")
    eventually(lambda: h.votes(PAPER).get("U0ALICE") == (-1, "button"))
    react(h, "reaction_removed", "U0ALICE", "thumbsup", ts)
    h.handled("the removal")
    assert h.votes(PAPER)["U0ALICE"] == (-1, "button")
    # The removal is on record too: it changed nothing (the button's vote is newer).
    assert vote_events(h, "U0ALICE") == [(1, "reaction", "changed"), (-1, "button", "changed"),
                                         (-1, "reaction", "unchanged")]


def test_reactions_elsewhere_and_other_emoji_are_ignored(h):
    react(h, "reaction_added", "U0ALICE", "+1", h.messages["parent"])  # the day's parent message
    react(h, "reaction_added", "U0ALICE", "+1", "1699999999.000001")  # someone else's message
    react(h, "reaction_added", "U0ALICE", "+1", h.messages[PAPER], channel="C0OTHER")  # same ts, other channel
    react(h, "reaction_added", "U0ALICE", "tada", h.messages[PAPER])  # not a thumb
    react(h, "reaction_added", "U0ALICE", "+1000", h.messages[PAPER])
    react(h, "reaction_added", "U0BOB", "+1", h.messages["2502.00003"])  # the one real vote
    h.handled("the reactions")
    assert list(h.db.query("select arxiv_id, user_id from feedback")) == [{"arxiv_id": "2502.00003",
                                                                          "user_id": "U0BOB"}]
    assert {c.params["ts"] for c in h.slack.calls_to("chat.update")} == {h.messages["2502.00003"]}


def vote_events(h, user: str) -> list[tuple[int, str, str]]:
    return [(r["vote"], r["source"], r["effect"]) for r in h.db.query(
        "select vote, source, effect from feedback_events where user_id = ? order by id", [user])]


def test_a_late_retry_of_a_reaction_does_not_bring_a_removed_vote_back(h):
    """Slack delivers at least once: a retry (X-Slack-Retry-Num) of reaction_added can come
    after the reaction_removed that followed it. Events apply in their event time's order."""
    ts = h.messages[PAPER]
    t0 = time.time() - 90
    added = h.sender.envelope(reaction_event("reaction_added", "U0ALICE", "+1", DEFAULT_CHANNEL_ID, ts, event_ts=t0))
    assert h.sender.event_envelope(added).status_code == 200
    eventually(lambda: h.votes(PAPER).get("U0ALICE") == (1, "reaction"), what="the vote")
    removed = reaction_event("reaction_removed", "U0ALICE", "+1", DEFAULT_CHANNEL_ID, ts, event_ts=t0 + 2)
    assert h.sender.event(removed).status_code == 200
    eventually(lambda: "U0ALICE" not in h.votes(PAPER), what="the removal")

    retry = h.sender.event_envelope(added, retry_num=1)  # a minute late, same event_id and event_ts

    assert retry.status_code == 200
    react(h, "reaction_added", "U0CAROL", "+1", ts)  # sent after the retry: once it is in, look
    eventually(lambda: "U0CAROL" in h.votes(PAPER), what="a later vote")
    eventually(lambda: len(vote_events(h, "U0ALICE")) == 3, what="the retry recorded")
    assert "U0ALICE" not in h.votes(PAPER)  # the user has no reaction: no vote
    assert vote_events(h, "U0ALICE") == [(1, "reaction", "changed"), (0, "reaction", "changed"),
                                         (1, "reaction", "stale")]
    # The message never showed Alice's vote back: Carol's is the only one after the removal.
    eventually(lambda: "👍 1 · 👎 0" in tally_shown(h.slack.messages[DEFAULT_CHANNEL_ID][ts]), what="the tally")
    assert not any("👍 2" in tally_shown(c) for c in h.updates_of(ts))
    # A second retry of the same late event is not recorded again.
    h.sender.event_envelope(added, retry_num=2)
    h.handled("the second retry")
    assert len(vote_events(h, "U0ALICE")) == 3 and "U0ALICE" not in h.votes(PAPER)


def test_a_reaction_added_again_later_counts_and_its_old_removal_does_not(h):
    ts = h.messages[PAPER]
    t0 = time.time() - 60
    # One at a time: Bolt handles events on worker threads, so three sent at once may be applied
    # in any order, and then the removal is already stale before its retry arrives.
    for kind, at in (("reaction_added", t0), ("reaction_removed", t0 + 1), ("reaction_added", t0 + 2)):
        h.sender.event(reaction_event(kind, "U0ALICE", "thumbsup", DEFAULT_CHANNEL_ID, ts, event_ts=at))
        h.handled(kind)
    eventually(lambda: len(vote_events(h, "U0ALICE")) == 3, what="three events")
    assert h.votes(PAPER)["U0ALICE"] == (1, "reaction")
    late_removal = h.sender.envelope(reaction_event("reaction_removed", "U0ALICE", "thumbsup", DEFAULT_CHANNEL_ID,
                                                    ts, event_ts=t0 + 1))
    h.sender.event_envelope(late_removal, retry_num=1)  # a retry of the removal, after the new reaction
    eventually(lambda: len(vote_events(h, "U0ALICE")) == 4, what="the late retry recorded")
    h.sender.event(reaction_event("reaction_removed", "U0ALICE", "thumbsup", DEFAULT_CHANNEL_ID, ts, event_ts=t0 - 5))
    eventually(lambda: len(vote_events(h, "U0ALICE")) == 5, what="the stale removal recorded")
    assert [e[2] for e in vote_events(h, "U0ALICE")] == ["changed", "changed", "changed", "stale", "stale"]
    assert h.votes(PAPER)["U0ALICE"] == (1, "reaction")
    # The latest event again (a retry of the re-add) is a repeat: nothing new on record.
    h.sender.event(reaction_event("reaction_added", "U0ALICE", "thumbsup", DEFAULT_CHANNEL_ID, ts, event_ts=t0 + 2))
    h.handled("the repeated re-add")
    assert len(vote_events(h, "U0ALICE")) == 5


def test_a_click_delivered_after_a_newer_click_does_not_toggle_the_vote(h):
    t0 = time.time() - 30
    newer = block_actions_payload("U0ALICE", "vote_up", PAPER, message_ts=h.messages[PAPER], action_ts=t0 + 1)
    older = block_actions_payload("U0ALICE", "vote_up", PAPER, message_ts=h.messages[PAPER], action_ts=t0)
    assert h.sender.action(newer).status_code == 200
    eventually(lambda: h.votes(PAPER).get("U0ALICE") == (1, "button"), what="the vote")
    assert h.sender.action(older).status_code == 200  # arrives late: must not take the vote back
    eventually(lambda: vote_events(h, "U0ALICE")[-1:] == [(0, "button", "stale")], what="the late click recorded")
    assert h.votes(PAPER)["U0ALICE"] == (1, "button")


def test_a_late_reaction_older_than_a_button_click_does_not_override_it(h):
    """Reactions and buttons are one user's votes on one paper: they apply in the order of
    their Slack times across both, so a reaction_added delivered late (a retry) after a
    newer 👎 click is recorded as stale and the click's vote stays."""
    ts = h.messages[PAPER]
    t1 = time.time() - 60
    late = h.sender.envelope(reaction_event("reaction_added", "U0ALICE", "+1", DEFAULT_CHANNEL_ID, ts, event_ts=t1))
    click_at_t2 = block_actions_payload("U0ALICE", "vote_down", PAPER, message_ts=ts, action_ts=t1 + 30)
    assert h.sender.action(click_at_t2).status_code == 200
    eventually(lambda: h.votes(PAPER).get("U0ALICE") == (-1, "button"), what="the click's vote")
    assert h.sender.event_envelope(late, retry_num=1).status_code == 200
    eventually(lambda: len(vote_events(h, "U0ALICE")) == 2, what="the late reaction recorded")
    assert vote_events(h, "U0ALICE") == [(-1, "button", "changed"), (1, "reaction", "stale")]
    assert h.votes(PAPER)["U0ALICE"] == (-1, "button")


def test_reaction_vote_names():
    assert reaction_vote("+1") == reaction_vote("thumbsup") == reaction_vote("+1::skin-tone-6") == 1
    assert reaction_vote("-1") == reaction_vote("thumbsdown::skin-tone-2") == -1
    assert reaction_vote("heart") is None and reaction_vote("") is None and reaction_vote("+1000") is None


# ---- App Home ---------------------------------------------------------------------------

def test_app_home_shows_criteria_next_run_and_stats(h):
    click(h, "U0ALICE", "vote_up")
    eventually(lambda: h.votes(PAPER))
    resp = h.sender.event(app_home_opened_event("U0ALICE"))
    assert resp.status_code == 200
    view = eventually(lambda: h.slack.home_views.get("U0ALICE"), what="views.publish")
    texts = [b.get("text", {}).get("text", "") for b in view["blocks"]]
    joined = "\n".join(texts)
    assert view["type"] == "home"
    assert "Next post:" in joined and "<!date^" in joined
    assert "Relevant Topics" in joined  # the seeded criteria, shown as plain text
    assert any(b.get("text", {}).get("type") == "plain_text" and "Relevant" in b["text"]["text"] for b in view["blocks"])
    assert "1 liked" in joined and "👍 1" in joined
    editor = next(b for b in view["blocks"] if b.get("accessory", {}).get("action_id") == "open_criteria_editor")
    assert "version 1" in editor["text"]["text"]


def test_home_button_opens_the_criteria_editor(h):
    payload = block_actions_payload("U0ALICE", "open_criteria_editor", "", message_ts="")
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload.pop("channel"), payload.pop("message")
    resp = h.sender.action(payload)
    assert resp.status_code == 200
    opened = eventually(lambda: h.slack.calls_to("views.open", ok_only=True))[0]
    assert opened.params["view"]["callback_id"] == "criteria_edit"
    assert '"home": true' in opened.params["view"]["private_metadata"]


def test_next_scheduled_run_skips_weekends_past_times_and_other_days_of_a_weekly_feed():
    ny = ZoneInfo("America/New_York")
    friday_late = datetime(2026, 11, 27, 8, 0, tzinfo=ny)  # a Friday, after 07:00
    assert next_scheduled_run("07:00", "America/New_York", "weekdays", friday_late) == \
        datetime(2026, 11, 30, 7, 0, tzinfo=ny)
    monday_early = datetime(2026, 11, 30, 6, 59, tzinfo=ny)
    assert next_scheduled_run("07:00", "America/New_York", "weekdays", monday_early) == \
        datetime(2026, 11, 30, 7, 0, tzinfo=ny)
    assert next_scheduled_run("07:00", "America/New_York", "friday", monday_early) == \
        datetime(2026, 12, 4, 7, 0, tzinfo=ny)
    assert next_scheduled_run("07:00", "America/New_York", "friday", datetime(2026, 12, 4, 6, 0, tzinfo=ny)) == \
        datetime(2026, 12, 4, 7, 0, tzinfo=ny)


# ---- signatures -------------------------------------------------------------------------

def test_forged_and_stale_signatures_are_rejected_and_change_nothing(h):
    payload = block_actions_payload("U0MALLORY", "vote_up", PAPER, message_ts=h.messages[PAPER])
    forged = h.sender.action(payload, secret="not-the-signing-secret")
    stale = h.sender.action(payload, timestamp=int(time.time()) - 6 * 60)
    assert forged.status_code == 401 and stale.status_code == 401
    forged_cmd = h.command("authors add Eve Forger", secret="wrong")
    assert forged_cmd.status_code == 401
    fine = h.sender.action(block_actions_payload("U0ALICE", "vote_up", PAPER, message_ts=h.messages[PAPER]))
    assert fine.status_code == 200
    eventually(lambda: h.votes(PAPER))
    assert h.votes(PAPER) == {"U0ALICE": (1, "button")}
    assert "Eve Forger" not in str(list(h.db.query("select * from team_settings")))


def test_simultaneous_clicks_all_count_and_the_message_ends_with_the_full_tally(h):
    """Bolt answers each request on its own thread: eight people clicking at once must give
    eight votes (one shared SQLite connection lost some: "no such savepoint")."""
    import concurrent.futures

    users = [f"U0USER{i}" for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(len(users)) as pool:
        answers = list(pool.map(lambda u: click(h, u, "vote_up"), users))
    assert all(a.status_code == 200 for a in answers)
    eventually(lambda: len(h.votes(PAPER)) == 8, what="eight votes")
    assert set(h.votes(PAPER).values()) == {(1, "button")}
    eventually(lambda: len(h.updates_of(h.messages[PAPER])) == 8, what="eight updates")
    final = h.slack.messages[DEFAULT_CHANNEL_ID][h.messages[PAPER]]
    assert "👍 8 · 👎 0" in tally_shown(final)
