"""Two feeds in two channels, end to end: the real Bolt app over real HTTP with Slack-signed
requests, the local Slack Web API server, the real SQLite file. Feed "default" reads the
shipped criteria and posts to #ml; feed "vision" reads the vision and embodied AI criteria
and posts to #vision. Each feed's thread, votes, tallies and criteria are its own."""
from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_sdk.models.blocks import Block

from bot import criteria, delivery, feedback, feeds, store
from bot.config import load_settings
from bot.db import open_db
from bot.pipeline import stored_report
from bot.slack.app import create_app
from bot.slack.client import make_web_client
from bot.slack.post import run_and_post
from bot.slack.surface import SlackThread
from tests.servers.slack_server import TEAM_ID, SlackServer
from tests.slack_helpers import (APP_ID, BOT_TOKEN, SIGNING_SECRET, SlackSender, app_home_opened_event,
                                 block_actions_payload, count_lazy_listeners, reaction_event, sample_feed, serve_app,
                                 view_submission_payload)
from tests.slack_listener_fixtures import DATE, PAPERS, ResponseUrlServer, eventually

ROOT = Path(__file__).resolve().parent.parent
VISION_CRITERIA = ROOT / "tests" / "fixtures" / "shared" / "vision-embodied.criteria.txt"
ML, VISION, ELSEWHERE = "C0ML", "C0VISION", "C0LOUNGE"
ADMIN = "U0ADMIN"
SHARED = PAPERS[0].arxiv_id  # picked by both feeds


def two_feeds(tmp_path: Path):
    path = tmp_path / "feeds.toml"
    path.write_text(f'[feeds.default.slack]\nchannel = "{ML}"\n'
                    f'[feeds.vision.slack]\nchannel = "{VISION}"\n'
                    f'[feeds.vision.ranking]\ncriteria_file = "{VISION_CRITERIA.as_posix()}"\n', encoding="utf-8")
    return load_settings(path).override(slack__seconds_between_posts=0, slack__admins=[ADMIN],
                                        storage__digest_dir=str(tmp_path / "digests"), arxiv__min_interval_seconds=0,
                                        ranking__min_relevance=1, ranking__max_papers=4)


def store_feed_day(db, feed: str, ids: list[str]) -> None:
    """A done day of `feed` picking `ids` (what the pipeline leaves behind)."""
    store.save_papers(db, DATE, PAPERS)
    with db.conn:
        db["runs"].insert({"feed": feed, "date": DATE, "status": "done", "scorer": "local", "criteria_version": 1,
                           "n_feed": 10, "n_kept": 3, "n_scanned": 3, "n_picked": len(ids)})
        for rank, aid in enumerate(ids, 1):
            db["picks"].insert({"feed": feed, "date": DATE, "rank": rank, "arxiv_id": aid, "relevance": 8,
                                "novelty": 7, "comment": f"{feed} on {aid}", "author_match": 0, "scorer": "local"})


def slash(sender: SlackSender, response_url: str, text: str, channel_id: str, user_id: str = "U0ALICE",
          channel_name: str = "somewhere"):
    """`/arxiv TEXT` typed in a channel, as Slack sends it."""
    fields = {"token": "legacy-verification-token", "team_id": TEAM_ID, "team_domain": "test",
              "channel_id": channel_id, "channel_name": channel_name, "user_id": user_id,
              "user_name": user_id.lower(), "command": "/arxiv", "text": text, "api_app_id": APP_ID,
              "is_enterprise_install": "false", "response_url": response_url,
              "trigger_id": f"{time.time_ns()}.trigger"}
    resp = sender.post(urlencode(fields), "application/x-www-form-urlencoded")
    assert resp.status_code == 200
    return resp


class Feeds:
    """The app with two feeds, each with its thread of DATE posted in its channel."""

    def __init__(self, tmp_path: Path):
        self.settings = two_feeds(tmp_path)
        self.db = open_db(tmp_path / "bot.sqlite")
        self.slack = SlackServer().start()
        for cid, name in ((ML, "ml"), (VISION, "vision"), (ELSEWHERE, "lounge")):
            self.slack.add_channel(cid, name)
        self.client = make_web_client(BOT_TOKEN, self.slack.api_url)
        self.app = create_app(self.settings, self.db, self.client, SIGNING_SECRET, process_before_response=True)
        self.listeners = count_lazy_listeners(self.app)
        self._serving = serve_app(self.app)
        self.sender = SlackSender(self._serving.__enter__())
        self.hooks = ResponseUrlServer()

    def feed(self, name: str):
        return feeds.feed_named(self.settings, self.db, name)

    def post_stored(self, name: str, ids: list[str]):
        store_feed_day(self.db, name, ids)
        feed = self.feed(name)
        done = SlackThread(self.client, sleep=lambda s: None).deliver(feed, self.db, stored_report(feed, self.db, DATE))
        assert done.ok and done.status == "posted", done.message
        return {i: r["ts"] for i, r in delivery.delivered(self.db, DATE, feed["slack.channel"], feed=name).items()}

    def handled(self):
        eventually(lambda: self.listeners.busy == 0, what="the app's background work")

    def command(self, text: str, channel_id: str, user_id: str = "U0ALICE", channel_name: str = "somewhere"):
        return slash(self.sender, self.hooks.url, text, channel_id, user_id, channel_name)

    def close(self):
        self._serving.__exit__(None, None, None)
        self.hooks.close()
        self.slack.stop()


@pytest.fixture
def two(tmp_path):
    f = Feeds(tmp_path)
    yield f
    f.close()


def tally_of(message: dict) -> str:
    return next(b["elements"][0]["text"] for b in message["blocks"] if b["type"] == "context")


def test_each_feed_posts_its_own_picks_from_its_own_criteria_in_its_own_channel(two, tmp_path):
    rss = tmp_path / "day.xml"
    rss.write_text(sample_feed(40), encoding="utf-8")
    results = {name: run_and_post(two.feed(name), two.db, two.client, feed_file=rss) for name in ("default", "vision")}
    assert all(r.status == "posted" for r in results.values()), {n: r.message for n, r in results.items()}

    picked = {}
    for name, channel in (("default", ML), ("vision", VISION)):
        rows = delivery.delivered(two.db, results[name].date, channel, feed=name)
        picked[name] = {i for i in rows if i != delivery.PARENT}
        posted = two.slack.posted(channel)
        assert len(posted) == 1 + len(picked[name]) and posted[0]["ts"] == results[name].thread_ts
    assert picked["default"] != picked["vision"], picked  # different criteria, different picks
    assert not two.slack.posted(ELSEWHERE)


def test_a_vote_in_one_feeds_thread_is_that_feeds_vote_and_tally_only(two):
    ml = two.post_stored("default", [SHARED, PAPERS[2].arxiv_id])
    vision = two.post_stored("vision", [SHARED, PAPERS[1].arxiv_id])
    # The same paper in both feeds: one message in each thread.
    assert ml[SHARED] != vision[SHARED]
    for channel, thread in ((ML, ml), (VISION, vision)):
        replies = two.slack.thread(channel, thread["parent"])
        assert [m["ts"] for m in replies if SHARED in json.dumps(m["blocks"])] == [thread[SHARED]]

    two.sender.action(block_actions_payload("U0ALICE", "vote_up", SHARED, channel=ML, message_ts=ml[SHARED]))
    two.handled()
    assert feedback.tally(two.db, SHARED, feed="default") == {"up": 1, "down": 0}
    assert feedback.tally(two.db, SHARED, feed="vision") == {"up": 0, "down": 0}
    assert feedback.stored_vote(two.db, SHARED, "U0ALICE", feed="vision") is None
    assert "👍 1 · 👎 0" in tally_of(two.slack.messages[ML][ml[SHARED]])
    assert "👍 0 · 👎 0" in tally_of(two.slack.messages[VISION][vision[SHARED]])
    assert not [c for c in two.slack.calls_to("chat.update") if c.params["channel"] == VISION]

    # A 👎 reaction in vision's thread is vision's: its own tally, the default feed's stays.
    two.sender.event(reaction_event("reaction_added", "U0BOB", "-1", VISION, vision[SHARED]))
    two.handled()
    assert feedback.tally(two.db, SHARED, feed="vision") == {"up": 0, "down": 1}
    assert feedback.tally(two.db, SHARED, feed="default") == {"up": 1, "down": 0}
    assert "👍 0 · 👎 1" in tally_of(two.slack.messages[VISION][vision[SHARED]])
    assert "👍 1 · 👎 0" in tally_of(two.slack.messages[ML][ml[SHARED]])


def _open_editor(two, channel: str, user: str = ADMIN) -> dict:
    two.command("criteria", channel, user_id=user)
    return eventually(lambda: two.slack.calls_to("views.open", ok_only=True), what="views.open")[-1].params


def _submit(two, opened: dict, text: str, user: str = ADMIN, metadata: str | None = None) -> dict:
    # Every box of the form comes back (the one to grow into, empty).
    values = {b["block_id"]: {"text": {"type": "plain_text_input", "value": None}}
              for b in opened["view"]["blocks"] if b["type"] == "input"}
    values["criteria_1"] = {"text": {"type": "plain_text_input", "value": text}}
    meta = opened["view"]["private_metadata"] if metadata is None else metadata
    resp = two.sender.interactive(view_submission_payload(user, "criteria_edit", values, private_metadata=meta))
    assert resp.status_code == 200
    return resp.json()


def test_criteria_in_a_feeds_channel_edit_that_feeds_criteria_only(two):
    default_before = criteria.current(two.db, two.feed("default").path("ranking.criteria_file"), feed="default")
    opened = _open_editor(two, VISION)
    box = next(b for b in opened["view"]["blocks"] if b.get("block_id") == "criteria_1")
    assert box["element"]["initial_value"] == VISION_CRITERIA.read_text(encoding="utf-8").strip()
    assert json.loads(opened["view"]["private_metadata"])["feed"] == "vision"

    new_text = "1. Embodied agents that plan in 3D scenes\n   - Relevant: spatial reasoning, simulators"
    assert _submit(two, opened, new_text)["response_action"] == "update"
    assert criteria.current(two.db, VISION_CRITERIA, feed="vision").text == new_text
    default_after = criteria.current(two.db, two.feed("default").path("ranking.criteria_file"), feed="default")
    assert (default_after.version, default_after.text) == (default_before.version, default_before.text)

    # An editor whose feed is gone since it opened saves nothing, and says why.
    meta = json.loads(opened["view"]["private_metadata"]) | {"feed": "gone"}
    refused = _submit(two, opened, "1. Something else entirely for a feed", metadata=json.dumps(meta))
    assert refused["response_action"] == "errors" and "no longer exists" in refused["errors"]["criteria_1"]
    assert criteria.current(two.db, VISION_CRITERIA, feed="vision").text == new_text


def test_arxiv_in_a_channel_with_no_feed_says_where_the_feeds_are(two):
    for text in ("criteria", "stats", ""):
        answer = two.command(text, ELSEWHERE, channel_name="<!channel> & co").text
        assert f"<#{ML}> (default)" in answer and f"<#{VISION}> (vision)" in answer, answer
        assert "/arxiv feed new NAME" in answer and "#&lt;!channel&gt; &amp; co" in answer, answer
    assert not two.slack.calls_to("views.open")
    listed = two.command("feeds", ELSEWHERE).text
    assert "*default*" in listed and "*vision*" in listed and f"<#{VISION}>" in listed and "next run" in listed


def test_commands_in_a_feeds_channel_act_on_that_feed(two):
    from bot.team_settings import authors

    added = two.command("authors add Fei-Fei Li", VISION, user_id=ADMIN).text
    assert "Added: Fei-Fei Li" in added
    assert "Fei-Fei Li" in authors(two.feed("vision"), two.db)
    assert "Fei-Fei Li" not in authors(two.feed("default"), two.db)
    assert "Fei-Fei Li" not in two.command("authors list", ML).text

    # `/arxiv run DATE` in #vision posts vision's stored day there, and nothing in #ml.
    store_feed_day(two.db, "vision", [SHARED, PAPERS[2].arxiv_id])
    store_feed_day(two.db, "default", [PAPERS[2].arxiv_id])
    assert "Running the stored day" in two.command(f"run {DATE}", VISION, user_id=ADMIN).text
    said = eventually(lambda: two.hooks.texts(), what="the run's follow-up")
    assert "posted 2025-02-24 to C0VISION" in said[0], said
    assert len(two.slack.posted(VISION)) == 3 and not two.slack.posted(ML)
    assert "2 picks" in two.command("stats", VISION).text and "1 picks" in two.command("stats", ML).text


def test_an_admin_starts_a_feed_in_a_channel_from_the_default_criteria_and_others_may_not(two):
    refused = two.command("feed new vision2", ELSEWHERE, user_id="U0MALLORY").text
    assert "Only the team's admins may start a feed" in refused
    assert two.db["feeds"].count == 0

    for bad, why in (("Vision 2", "I don't know"), ("vision", "already"), ("-x", "cannot be a feed name")):
        assert why in two.command(f"feed new {bad}", ELSEWHERE, user_id=ADMIN).text
    assert "has a feed already" in two.command("feed new other", VISION, user_id=ADMIN).text

    started = two.command("feed new vision2", ELSEWHERE, user_id=ADMIN).text
    assert "Feed *vision2* started" in started, started
    made = two.feed("vision2")
    assert made["slack.channel"] == ELSEWHERE
    default_text = criteria.current(two.db, two.feed("default").path("ranking.criteria_file"), feed="default").text
    assert criteria.current(two.db, made.path("ranking.criteria_file"), feed="vision2").text == default_text
    # The seed stays the new feed's criteria on its runs: the file it shares with the default feed is seen.
    assert criteria.for_run(two.db, made.path("ranking.criteria_file"), feed="vision2")[0].text == default_text
    # From now on `/arxiv` there acts on the new feed.
    assert "Criteria versions" in two.command("criteria history", ELSEWHERE).text


def test_app_home_shows_every_feed_within_block_kit_limits(two):
    two.post_stored("default", [SHARED])
    two.sender.event(app_home_opened_event("U0ALICE"))
    view = eventually(lambda: two.slack.home_views.get("U0ALICE"), what="views.publish")
    text = json.dumps(view)
    assert "Feed default" in text and "Feed vision" in text and f"<#{ML}>" in text and f"<#{VISION}>" in text
    assert text.count("criteria version ") == 2 and text.count("<!date^") == 2
    buttons = [b["accessory"]["value"] for b in view["blocks"] if b.get("accessory", {}).get("action_id")]
    assert buttons == ["default", "vision"]
    assert 0 < len(view["blocks"]) <= 100
    for block in view["blocks"]:
        Block.parse(block).validate_json()


def cli_settings(tmp_path: Path) -> Path:
    """The two feeds' settings file for `python -m bot`, with the test's cutoffs and folders."""
    path = tmp_path / "cli.toml"
    path.write_text((tmp_path / "feeds.toml").read_text(encoding="utf-8")
                    + "[slack]\nseconds_between_posts = 0\n"
                    + "[ranking]\nmin_relevance = 1\nmax_papers = 4\n"
                    + f'[storage]\ndigest_dir = "{(tmp_path / "digests").as_posix()}"\n', encoding="utf-8")
    return path


@pytest.fixture
def slack_env(two, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", two.slack.api_url)


def test_post_runs_every_feed_on_one_day_and_posts_each_thread(two, tmp_path, slack_env, capsys):
    from bot.cli import main

    rss = tmp_path / "day.xml"
    rss.write_text(sample_feed(20), encoding="utf-8")
    code = main(["post", "--settings", str(cli_settings(tmp_path)), "--rss", str(rss),
                 "--db", str(tmp_path / "bot.sqlite"), "--quiet"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "feed default: posted 2025-02-24 to C0ML" in out and "feed vision: posted 2025-02-24 to C0VISION" in out
    assert len(two.slack.posted(ML)) > 1 and len(two.slack.posted(VISION)) > 1
    assert (tmp_path / "digests" / "2025-02-24.md").is_file()  # the feed default's digest, where it always was
    assert (tmp_path / "digests" / "vision" / "2025-02-24.md").is_file()


def test_one_feeds_slack_error_does_not_stop_the_others_post(two, tmp_path, slack_env, capsys):
    """`python -m bot post --date`: the app is not in #vision; #ml gets its thread, exit 1."""
    from bot.cli import main

    store_feed_day(two.db, "default", [SHARED, PAPERS[2].arxiv_id])
    store_feed_day(two.db, "vision", [SHARED])
    two.slack.add_channel(VISION, "vision", is_member=False)

    code = main(["post", "--settings", str(cli_settings(tmp_path)), "--date", DATE,
                 "--db", str(tmp_path / "bot.sqlite"), "--quiet"])

    out, err = capsys.readouterr()
    assert code == 1
    assert len(two.slack.posted(ML)) == 3 and not two.slack.posted(VISION)
    assert "feed default: posted 2025-02-24" in out
    assert "feed vision: Slack posting for 2025-02-24 stopped: the app is not a member of C0VISION" in err
    assert "--feed vision" in err  # how to continue that feed alone
    # --channel names one feed's target: with several feeds it asks which.
    assert main(["post", "--settings", str(cli_settings(tmp_path)), "--date", DATE, "--channel", ML,
                 "--db", str(tmp_path / "bot.sqlite"), "--quiet"]) == 2
    assert "--channel applies to one feed: add --feed NAME" in capsys.readouterr().err


def test_a_home_tab_with_more_feeds_than_slack_shows_says_how_many_are_left_out(two):
    from bot.slack.home import MAX_BLOCKS, home_view

    for i in range(30):
        feeds.start_feed(two.settings, two.db, f"topic-{i:02d}", f"C0T{i:02d}", ADMIN)
    view = home_view(two.app.ctx)
    assert len(view["blocks"]) <= MAX_BLOCKS
    for block in view["blocks"]:
        Block.parse(block).validate_json()
    shown = sum(1 for b in view["blocks"] if b.get("accessory", {}).get("action_id") == "open_criteria_editor")
    assert 2 < shown < 32
    assert f"{32 - shown} more feed(s) not shown here" in json.dumps(view)


def test_a_feed_without_a_channel_is_skipped_by_slack_and_says_so(two):
    from bot.surfaces import DigestFiles, Surface

    store_feed_day(two.db, "notes", [SHARED])
    notes = two.settings.for_feed("notes")  # no [feeds.notes.slack] channel: digests only
    surfaces: list[Surface] = [DigestFiles(), SlackThread(two.client)]
    done = [s.deliver(notes, two.db, stored_report(notes, two.db, DATE)) for s in surfaces]
    assert [(d.surface, d.ok, d.status) for d in done] == [("digest files", True, "written"), ("Slack", True, "skipped")]
    assert "feed 'notes' has no Slack channel" in done[1].message
    assert not two.slack.calls_to("chat.postMessage")
    assert not surfaces[1].refresh(notes, two.db, DATE, SHARED)


def test_two_feeds_on_one_channel_are_answered_as_a_setting_to_fix(two, tmp_path):
    """A feed started from Slack in #lounge, then the settings file gives #lounge to another."""
    import dataclasses

    from bot.slack.listeners.commands.arxiv import dispatch
    from bot.slack.listeners.commands.invocation import parse

    feeds.start_feed(two.settings, two.db, "lounge", ELSEWHERE, ADMIN)
    clash = tmp_path / "clash.toml"
    clash.write_text((tmp_path / "feeds.toml").read_text(encoding="utf-8")
                     + f'[feeds.other.slack]\nchannel = "{ELSEWHERE}"\n', encoding="utf-8")
    ctx = dataclasses.replace(two.app.ctx, settings=load_settings(clash))
    answer = dispatch(ctx, parse({"text": "stats", "channel_id": ELSEWHERE, "user_id": "U0ALICE"}))
    assert answer.text.startswith(":warning: The app's settings need fixing before `/arxiv stats` can work")
    assert "feeds 'other' and 'lounge' both post to Slack channel C0LOUNGE" in answer.text


def test_a_feed_started_from_slack_gets_its_clock_in_the_running_app(two, tmp_path, slack_env):
    """The app and clocks as `python -m bot run` builds them: the new feed runs on its own
    clock without a restart, and `/arxiv feeds` says when."""
    from bot.slack_cli import build

    app, clocks = build(two.settings, str(tmp_path / "bot.sqlite"), signing_secret=SIGNING_SECRET)
    assert [c.feed for c in clocks.clocks] == ["default", "vision"]
    with serve_app(app) as url:
        sender = SlackSender(url)
        said = slash(sender, two.hooks.url, "feed new vision2", ELSEWHERE, user_id=ADMIN).text
        assert "Feed *vision2* started" in said, said
        assert [c.feed for c in clocks.clocks] == ["default", "vision", "vision2"]
        clock = clocks.clocks[-1]
        assert clock.channel == ELSEWHERE and clock.lock is clocks.clocks[0].lock
        at = clocks.next_run("vision2")
        assert at is not None
        listed = slash(sender, two.hooks.url, "feeds", ELSEWHERE).text
        assert f"*vision2* — <#{ELSEWHERE}>" in listed and f"next run {at:%a %d %b %H:%M}" in listed


def test_the_home_tabs_edit_button_opens_the_criteria_of_its_feed(two):
    for user, name in ((ADMIN, "vision"), (ADMIN, "gone")):
        payload = block_actions_payload(user, "open_criteria_editor", name, message_ts="")
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        payload.pop("channel"), payload.pop("message")
        assert two.sender.action(payload).status_code == 200
        two.handled()
    vision, gone = [c.params["view"] for c in two.slack.calls_to("views.open", ok_only=True)]
    meta = json.loads(vision["private_metadata"])
    assert meta["feed"] == "vision" and meta["home"] is True and vision["title"]["text"] == "Criteria: vision"
    assert "There is no feed" in json.dumps(gone) and "callback_id" not in gone
