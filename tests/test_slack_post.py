"""The daily thread against a local Slack Web API over real HTTP: content, exactly-once
delivery, resume after a crash, 429s and errors that must be reported without loss."""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot import feedback  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.db import open_db  # noqa: E402
from bot.slack.client import make_web_client  # noqa: E402
from bot.pipeline import stored_report  # noqa: E402
from bot.delivery import find_paper_message  # noqa: E402
from bot.slack.post import post_day, run_and_post  # noqa: E402
from bot.slack.surface import SlackThread  # noqa: E402
from tests.servers.slack_server import DEFAULT_CHANNEL_ID, SlackServer  # noqa: E402
from tests.slack_helpers import BOT_TOKEN, sample_feed, stored_day  # noqa: E402

DATE = "2025-02-24"
EVIL = "<!channel> <https://evil.example|click>"


@pytest.fixture
def slack():
    with SlackServer() as server:
        yield server


@pytest.fixture
def settings(tmp_path):
    return load_settings().override(slack__seconds_between_posts=0, slack__channel="#arxiv-papers",
                                    storage__digest_dir=str(tmp_path / "digests"))


@pytest.fixture
def db(tmp_path):
    return open_db(tmp_path / "bot.sqlite")


@pytest.fixture
def client(slack):
    return make_web_client(BOT_TOKEN, slack.api_url)


def post(settings, db, client, **kw):
    return post_day(settings, db, client, stored_report(settings, db, DATE), **kw)


def paper_ids_posted(slack) -> list[str]:
    """The arXiv id of every paper message in the channel (duplicates show up twice)."""
    out = []
    for m in slack.posted(DEFAULT_CHANNEL_ID):
        for b in m.get("blocks") or []:
            if b.get("block_id", "").startswith("paper:"):
                out.append(b["block_id"][len("paper:"):])
    return out


def test_daily_thread_parent_then_one_reply_per_pick(slack, settings, db, client):
    ids = stored_day(db, DATE, 5)
    result = post(settings, db, client)

    assert result.status == "posted" and result.sent == 6 and result.ok
    messages = slack.posted(DEFAULT_CHANNEL_ID)
    parent = messages[0]
    assert "thread_ts" not in parent
    assert "5 of 25 papers" in parent["text"]  # top-level fallback
    summary = json.dumps(parent["blocks"])
    assert "*5* picked of *25* scanned" in summary and "criteria v1" in summary and "Scored by the local ranker" in summary
    assert "Paper 1 on learning" in summary  # top titles
    replies = slack.thread(DEFAULT_CHANNEL_ID, parent["ts"])
    assert [r["blocks"][-1]["block_id"] for r in replies] == [f"paper:{i}" for i in ids]
    first = replies[0]
    head = first["blocks"][0]["text"]["text"]
    assert head.startswith(f"*1.* <https://arxiv.org/abs/{ids[0]}|Paper 1 on learning>\n")
    assert "Relevance *9*/10 · Novelty *5*/10" in first["blocks"][1]["text"]["text"]
    assert first["blocks"][2]["text"]["text"].startswith("> Abstract of paper 1.")
    buttons = first["blocks"][-1]["elements"]
    assert [(b["action_id"], b.get("value")) for b in buttons[:2]] == [("vote_up", ids[0]), ("vote_down", ids[0])]
    assert buttons[2]["url"] == f"https://arxiv.org/pdf/{ids[0]}"
    for call in slack.calls_to("chat.postMessage"):
        assert call.params["unfurl_links"] is False and call.params["text"]
    rows = list(db.query("select * from deliveries where date = ? order by posted_at", [DATE]))
    assert len(rows) == 6 and all(r["ts"] and r["channel_id"] == DEFAULT_CHANNEL_ID for r in rows)
    assert {r["thread_ts"] for r in rows} == {parent["ts"]}


def test_second_run_for_same_day_and_channel_posts_nothing(slack, settings, db, client):
    stored_day(db, DATE, 4)
    post(settings, db, client)
    before = len(slack.calls_to("chat.postMessage"))

    again = post(settings, db, client)

    assert again.status == "already_posted" and again.sent == 0 and again.already == 5
    assert len(slack.calls_to("chat.postMessage")) == before
    assert "already posted" in again.message


def test_other_channel_gets_its_own_thread(slack, settings, db, client):
    slack.add_channel("C0OTHER", "ml-reading")
    stored_day(db, DATE, 2)
    post(settings, db, client)
    other = post(settings, db, client, channel="#ml-reading")
    assert other.status == "posted" and len(slack.posted("C0OTHER")) == 3


def test_hostile_title_is_rendered_harmless(slack, settings, db, client):
    stored_day(db, DATE, 2, titles=[EVIL, "A & B <script>"])
    assert post(settings, db, client).ok

    wire = json.dumps([c.params for c in slack.calls_to("chat.postMessage")])
    assert "<!channel>" not in wire and "<https://evil.example" not in wire and "<script>" not in wire
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt;" in wire
    assert "A &amp; B &lt;script&gt;" in wire
    # The only links are ours: every <...|...> points at arxiv.org.
    for call in slack.calls_to("chat.postMessage"):
        for link in re.findall(r"<([^|>]+)\|", json.dumps(call.params["blocks"])):
            assert link.startswith("https://arxiv.org/"), link


def test_long_title_authors_and_abstract_are_cut_within_block_kit_limits(slack, settings, db, client):
    ids = stored_day(db, DATE, 1, titles=["Very & long <title> " * 300])
    with db.conn:
        db.conn.execute("update papers set authors = ?, abstract = ? where arxiv_id = ?",
                        (json.dumps([f"Author Number{k}" for k in range(400)]), "word & " * 5000, ids[0]))
    settings = settings.override(slack__post_abstract_chars=2500)

    result = post(settings, db, client)

    assert result.status == "posted"  # the server rejects any block over Slack's limits
    reply = slack.posted(DEFAULT_CHANNEL_ID)[1]
    head = reply["blocks"][0]["text"]["text"]
    assert "…" in head and "et al. (400 authors)" in head
    assert reply["blocks"][2]["text"]["text"].endswith("…")
    assert "&amp" in reply["blocks"][2]["text"]["text"] and not re.search(r"&(?!amp;|lt;|gt;)", head)


def test_fatal_error_mid_thread_then_clean_resume_in_same_thread(slack, settings, db, client):
    ids = stored_day(db, DATE, 6)
    slack.fail("chat.postMessage", "invalid_auth", after=3, times=None)  # parent + 2 papers, then dead

    first = post(settings, db, client)

    assert first.status == "failed" and first.error == "invalid_auth"
    assert "SLACK_BOT_TOKEN" in first.message and "2 of 6 papers" in first.message
    assert f"post --date {DATE}" in first.message
    assert len(list(db.query("select * from picks where date = ?", [DATE]))) == 6  # nothing lost
    assert paper_ids_posted(slack) == ids[:2]

    slack.clear_scripts()
    second = post(settings, db, client)

    assert second.status == "posted" and second.sent == 4 and second.already == 3
    assert paper_ids_posted(slack) == ids  # each exactly once, in rank order
    parent_ts = slack.posted(DEFAULT_CHANNEL_ID)[0]["ts"]
    assert len(slack.thread(DEFAULT_CHANNEL_ID, parent_ts)) == 6
    assert len([m for m in slack.posted(DEFAULT_CHANNEL_ID) if "thread_ts" not in m]) == 1


def test_a_deleted_parent_starts_a_new_thread_for_the_papers_not_yet_delivered(slack, settings, db, client):
    ids = stored_day(db, DATE, 5)
    slack.fail("chat.postMessage", "invalid_auth", after=3, times=None)  # parent + 2 papers, then dead
    first = post(settings, db, client)
    slack.clear_scripts()
    slack.delete_message(DEFAULT_CHANNEL_ID, first.thread_ts)  # someone deleted the day's parent

    second = post(settings, db, client)

    assert second.status == "posted" and second.ok and second.thread_ts != first.thread_ts
    assert second.sent == 4  # a new parent and the 3 papers not yet delivered
    gone = [w for w in second.warnings if "new thread" in w]
    assert len(gone) == 1 and "thread_not_found" in gone[0], second.warnings
    assert [r["blocks"][-1]["block_id"] for r in slack.thread(DEFAULT_CHANNEL_ID, second.thread_ts)] == [
        f"paper:{i}" for i in ids[2:]]
    assert sorted(paper_ids_posted(slack)) == sorted(ids)  # each paper once, old thread or new
    assert pending_deliveries(db) == []
    again = post(settings, db, client)  # the new thread is on record: exactly once from now on
    assert again.status == "already_posted" and again.sent == 0 and again.warnings == []


def test_a_parent_gone_again_in_the_new_thread_stops_instead_of_looping(slack, settings, db, client):
    stored_day(db, DATE, 3)
    slack.fail("chat.postMessage", "thread_not_found", after=1, times=None)  # every reply refused

    result = post(settings, db, client)

    assert result.status == "failed" and result.error == "thread_not_found"
    # The parent, its first reply, one new parent (refused too): then the day stops.
    assert len(slack.calls_to("chat.postMessage")) == 3
    assert pending_deliveries(db) == []


def test_crash_between_slack_answer_and_record_does_not_duplicate(slack, settings, db, client):
    settings = settings.override(slack__channel=DEFAULT_CHANNEL_ID)  # by ID: searchable before any answer
    ids = stored_day(db, DATE, 3)
    post(settings, db, client)
    # What a kill right after chat.postMessage returned leaves: an intent without ts (the
    # parent's intent does not know Slack's channel id yet; a reply's does, from the parent).
    with db.conn:
        db.conn.execute("update deliveries set ts = null, posted_at = null where item = ?", (ids[2],))
        db.conn.execute("update deliveries set ts = null, posted_at = null, channel_id = null where item = 'parent'")
    posts_before = len(slack.calls_to("chat.postMessage"))

    again = post(settings, db, client)

    assert again.ok and again.sent == 0
    assert len(slack.calls_to("chat.postMessage")) == posts_before
    assert paper_ids_posted(slack) == ids
    assert sum("not posted again" in w for w in again.warnings) == 2
    assert all(r["ts"] for r in db.query("select ts from deliveries where date = ?", [DATE]))


def test_429_is_retried_after_retry_after(slack, settings, db, client):
    ids = stored_day(db, DATE, 3)
    slack.rate_limit("chat.postMessage", retry_after=1, after=2)

    result = post(settings, db, client)

    assert result.status == "posted"
    statuses = [c.status for c in slack.calls_to("chat.postMessage")]
    assert statuses == [200, 200, 429, 200, 200]
    assert paper_ids_posted(slack) == ids


def test_not_in_channel_is_reported_and_loses_nothing(slack, settings, db, client):
    slack.add_channel(DEFAULT_CHANNEL_ID, "arxiv-papers", is_member=False)
    ids = stored_day(db, DATE, 3)

    result = post(settings, db, client)

    assert result.status == "failed" and result.error == "not_in_channel"
    assert "invite" in result.message and "#arxiv-papers" in result.message
    assert list(db.query("select * from deliveries")) == []
    slack.add_channel(DEFAULT_CHANNEL_ID, "arxiv-papers", is_member=True)
    assert post(settings, db, client).sent == 4 and paper_ids_posted(slack) == ids


@pytest.mark.parametrize("error,words", [("channel_not_found", "does not exist"), ("token_revoked", "revoked")])
def test_other_slack_errors_name_the_fix(slack, settings, db, client, error, words):
    stored_day(db, DATE, 1)
    if error == "token_revoked":
        slack.tokens_revoked.add(BOT_TOKEN)
    else:
        settings = settings.override(slack__channel="#no-such-channel")
    result = post(settings, db, client)
    assert result.status == "failed" and result.error == error and words in result.message


def pending_deliveries(db) -> list[dict]:
    return list(db.query("select * from deliveries where ts is null"))


def test_refused_blocks_are_posted_as_a_plain_version(slack, settings, db, client):
    ids = stored_day(db, DATE, 3)
    slack.fail("chat.postMessage", "invalid_blocks", after=2)  # the second paper's blocks, once

    result = post(settings, db, client)

    assert result.status == "posted" and result.refused == [] and paper_ids_posted(slack) == [ids[0], ids[2]]
    plain = slack.thread(DEFAULT_CHANNEL_ID, result.thread_ts)[1]
    assert ids[1] in plain["text"] and plain["blocks"][0]["text"]["text"] == plain["text"]


def test_a_paper_refused_twice_is_a_recorded_failure_and_the_day_goes_on(slack, settings, db, client, caplog):
    ids = stored_day(db, DATE, 4)
    slack.fail("chat.postMessage", "invalid_blocks", after=2, times=2)  # paper 2: blocks, then its plain version

    with caplog.at_level("WARNING", logger="bot.slack.post"):
        first = post(settings, db, client)

    assert first.status == "partial" and not first.ok and first.sent == 4  # a re-run is wanted
    assert first.refused == [(ids[1], "invalid_blocks")]
    assert paper_ids_posted(slack) == [ids[0], ids[2], ids[3]]  # the papers after it went out
    assert first.message.count(ids[1]) == 1 and "invalid_blocks" in first.message
    assert f"post --date {DATE}" in first.message and "3 of 4 papers" in first.message
    # Said once, by whoever reads the report (the command, the scheduler): not logged here too.
    assert not [r for r in caplog.records if ids[1] in r.getMessage() and r.levelname != "DEBUG"]
    assert pending_deliveries(db) == []  # no intent left behind to block the next run
    assert [r["detail"] for r in db.query("select detail from audit_log where action = 'post_refused'")] == [
        f"{DATE} #arxiv-papers {ids[1]}: invalid_blocks"]

    # Slack refuses it again on the next run: recorded again, and the run still finishes.
    slack.fail("chat.postMessage", "invalid_blocks", times=2)
    again = post(settings, db, client)
    assert again.status == "partial" and again.refused == [(ids[1], "invalid_blocks")]
    assert pending_deliveries(db) == []

    # Once Slack takes it, a re-run posts it into the same thread, once.
    third = post(settings, db, client)
    assert third.status == "posted" and third.sent == 1 and third.refused == []
    assert sorted(paper_ids_posted(slack)) == sorted(ids)
    assert len(slack.thread(DEFAULT_CHANNEL_ID, first.thread_ts)) == 4
    assert post(settings, db, client).status == "already_posted"


def test_the_day_stops_cleanly_when_slack_refuses_the_parent_twice(slack, settings, db, client):
    ids = stored_day(db, DATE, 2)
    slack.fail("chat.postMessage", "invalid_blocks", times=2)

    result = post(settings, db, client)

    assert result.status == "failed" and result.error == "invalid_blocks" and "refused" in result.message
    assert pending_deliveries(db) == [] and slack.posted(DEFAULT_CHANNEL_ID) == []
    assert post(settings, db, client).sent == 3 and paper_ids_posted(slack) == ids


def test_posts_are_paced_per_channel(slack, settings, db, client):
    stored_day(db, DATE, 3)
    waits = []
    post_day(settings.override(slack__seconds_between_posts=1.0), db, client, stored_report(settings, db, DATE),
             sleep=waits.append)
    assert len(waits) == 3 and all(0 < w <= 1.0 for w in waits)  # between 4 posts, none before the first


def test_vote_updates_the_message_in_place(slack, settings, db, client):
    ids = stored_day(db, DATE, 2)
    post(settings, db, client)
    reply = slack.posted(DEFAULT_CHANNEL_ID)[1]
    assert find_paper_message(db, DEFAULT_CHANNEL_ID, slack.posted(DEFAULT_CHANNEL_ID)[0]["ts"]) is None  # parent
    assert find_paper_message(db, DEFAULT_CHANNEL_ID, reply["ts"])["item"] == ids[0]

    feedback.set_vote(db, ids[0], "U1", 1, "button", feed="default")
    feedback.set_vote(db, ids[0], "U2", -1, "reaction", feed="default")
    surface = SlackThread(client)
    assert surface.refresh(settings, db, DATE, ids[0])

    updated = slack.posted(DEFAULT_CHANNEL_ID)[1]
    texts = [e["text"]["text"] for e in updated["blocks"][-1]["elements"]]
    assert texts[:2] == ["👍 1", "👎 1"] and "edited" in updated
    assert not surface.refresh(settings, db, DATE, "2502.99999")  # not delivered here
    assert not surface.refresh(settings, db, "2025-02-25", ids[0])


def _feed_with(tmp_path: Path, n_items: int) -> Path:
    path = tmp_path / f"feed-{n_items}.xml"
    path.write_text(sample_feed(n_items), encoding="utf-8")
    return path


def test_run_and_post_scores_a_feed_then_posts_its_picks(slack, settings, db, client, tmp_path):
    settings = settings.override(ranking__min_relevance=1, ranking__max_papers=4)
    result = run_and_post(settings, db, client, feed_file=_feed_with(tmp_path, 8))

    assert result.status == "posted" and result.date == DATE and result.total >= 4
    picks = [r["arxiv_id"] for r in db.query("select arxiv_id from picks where date = ? order by rank", [DATE])]
    assert paper_ids_posted(slack) == picks
    # The stored day is posted as picked: asking again posts nothing and scores nothing.
    assert run_and_post(settings, db, client, date=DATE).status == "already_posted"


def test_empty_day_posts_nothing(slack, settings, db, client, tmp_path):
    result = run_and_post(settings, db, client, feed_file=_feed_with(tmp_path, 0))
    assert result.status == "empty" and slack.calls_to("chat.postMessage") == []


def test_killed_mid_thread_then_resumed_without_duplicates(slack, db, tmp_path):
    """A real `python -m bot post` process is SIGKILLed while posting; the next run
    continues the same thread and every paper appears exactly once."""
    import os
    import signal
    import subprocess
    import time

    ids = stored_day(db, DATE, 8)
    team = tmp_path / "team.toml"
    team.write_text('[slack]\nchannel = "#arxiv-papers"\nseconds_between_posts = 0.3\n', encoding="utf-8")
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--settings", str(team), "post", "--date", DATE,
                             "--db", str(tmp_path / "bot.sqlite")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(slack.calls_to("chat.postMessage", ok_only=True)) < 4 and proc.poll() is None:
        assert time.monotonic() < deadline, "the post command never got going"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # it really died mid-thread
    killed_at = paper_ids_posted(slack)
    assert 3 <= len(killed_at) < 8 and killed_at == ids[:len(killed_at)]

    settings = load_settings(team).override(slack__seconds_between_posts=0)
    resumed = post(settings, db, make_web_client(BOT_TOKEN, slack.api_url))

    # A kill between Slack's answer and the record is found in the thread, not re-posted.
    recorded_or_found = resumed.already + sum("not posted again" in w for w in resumed.warnings)
    assert resumed.status == "posted" and recorded_or_found >= len(killed_at) + 1
    assert paper_ids_posted(slack) == ids
    assert len([m for m in slack.posted(DEFAULT_CHANNEL_ID) if "thread_ts" not in m]) == 1


def test_post_command_shows_its_steps_and_says_when_it_waits_for_a_run_of_the_day(slack, db, tmp_path):
    """`python -m bot post` as `digest` does: the run lease notice when another process is
    running the day (and when it has ended), and a bar for embedding and for posting."""
    import os
    import subprocess
    import threading

    from bot import run_lock
    from tests.slack_listener_fixtures import eventually

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        assert run_lock.take(db, DATE, f"{run_lock.this_host()}:{sleeper.pid}:1", feed="default") is None
        env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url}
        proc = subprocess.Popen([sys.executable, "-m", "bot", "post", "--feed", str(_feed_with(tmp_path, 8)),
                                 "--channel", "#arxiv-papers", "--db", str(tmp_path / "bot.sqlite")],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
        reader.start()
        eventually(lambda: f"a run for {DATE} is in progress (process {sleeper.pid}" in "".join(said),
                   what="the run lease notice", timeout=120)
        assert slack.calls_to("chat.postMessage") == []  # it waits before doing the day's work
    finally:
        sleeper.kill()
        sleeper.wait()
    out = proc.stdout.read()
    assert proc.wait(timeout=300) == 0, "".join(said) + out
    reader.join(timeout=10)
    err = "".join(said)
    assert re.search(rf"^a run for {DATE} is in progress", err, re.M), err  # said as a line, as digest says it
    assert f"the other run for {DATE} has ended" in err
    assert "posting papers to #arxiv-papers" in err, err
    assert re.search(r"paper/s|s/paper", err), err  # tqdm's rate: a bar was drawn
    assert f"posted {DATE} to #arxiv-papers" in out


def test_two_processes_posting_the_same_day_post_each_paper_once(slack, db, tmp_path):
    """A `worker` and a `web` (or a manual `post` during the scheduled one) start posting
    the same day at once: the posting lease lets one post, the other posts nothing."""
    import os
    import subprocess

    ids = stored_day(db, DATE, 8)
    team = tmp_path / "team.toml"
    team.write_text('[slack]\nchannel = "#arxiv-papers"\nseconds_between_posts = 0.4\n', encoding="utf-8")
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url}
    cmd = [sys.executable, "-m", "bot", "--settings", str(team), "post", "--date", DATE,
           "--db", str(tmp_path / "bot.sqlite")]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    said = " ".join(out + err for out, err in outputs)
    assert paper_ids_posted(slack) == ids  # every paper once, in order
    assert len([m for m in slack.posted(DEFAULT_CHANNEL_ID) if "thread_ts" not in m]) == 1
    assert "by another process" in said or "already posted" in said
    assert [repeated_lines(out + err) for out, err in outputs] == [[], []], outputs  # each says it once
    assert sorted(p.returncode for p in procs) in ([0, 0], [0, 1])
    assert db.execute("select count(*) from post_leases").fetchone()[0] == 0  # released


def test_posting_lease_live_expired_and_dead_holders(db):
    """The posting lease is run_lock's lease keyed by (date, channel): the same take rules."""
    from bot.run_lock import LEASE_SECONDS, POST_LEASES, this_host

    me, other = "hostA:1:1", "elsewhere:42:7"
    assert POST_LEASES.take(db, ("default", DATE, "#c"), other, now_s=1000.0) is None
    busy = POST_LEASES.take(db, ("default", DATE, "#c"), me, now_s=1050.0)
    assert busy and busy.holder == other  # alive on another machine: wait for it
    assert POST_LEASES.take(db, ("default", "2025-02-25", "#c"), me, now_s=1100.0) is None  # other days are free
    assert POST_LEASES.take(db, ("default", DATE, "#d"), me, now_s=1100.0) is None  # and other channels
    assert POST_LEASES.take(db, ("vision", DATE, "#c"), me, now_s=1100.0) is None  # and other feeds
    # No refresh for LEASE_SECONDS: the holder is taken for dead.
    assert POST_LEASES.take(db, ("default", DATE, "#c"), me, now_s=1000.0 + LEASE_SECONDS + 1) is None
    assert POST_LEASES.take(db, ("default", DATE, "#c"), other, now_s=1000.0 + LEASE_SECONDS + 2).holder == me
    POST_LEASES.release(db, ("default", DATE, "#c"), me)
    # A holder on this machine whose process is gone (killed) frees the lease at once.
    import socket
    import subprocess

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = f"{this_host()}:{gone.pid}:1"
    assert POST_LEASES.take(db, ("default", DATE, "#c"), dead, now_s=2000.0) is None
    assert POST_LEASES.take(db, ("default", DATE, "#c"), me, now_s=2001.0) is None
    # The same hostname in another container (PID namespace): its PIDs mean nothing here.
    POST_LEASES.release(db, ("default", DATE, "#c"), me)
    twin = f"{socket.gethostname()}#1:{gone.pid}:1"
    assert POST_LEASES.take(db, ("default", DATE, "#c"), twin, now_s=3000.0) is None
    assert POST_LEASES.take(db, ("default", DATE, "#c"), me, now_s=3001.0).holder == twin


def test_a_day_being_posted_elsewhere_is_refused_naming_the_process_as_the_run_lease_does(slack, settings, db,
                                                                                          client):
    import os
    import subprocess

    from bot.run_lock import this_host

    stored_day(db, DATE, 2)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with db.conn:
            db.conn.execute("insert into post_leases (date, channel, holder, acquired_at, expires) values (?,?,?,?,?)",
                            [DATE, "#arxiv-papers", f"{this_host()}:{sleeper.pid}:1", "2025-02-24T06:00:00+00:00",
                             time.time() + 600])
        result = post(settings, db, client)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.status == "failed" and result.error == "busy" and slack.calls_to("chat.postMessage") == []
    assert f"(process {sleeper.pid} on {os.uname().nodename}, since 2025-02-24 06:00:00 UTC)" in result.message
    assert post(settings, db, client).status == "posted"  # its process is gone: the lease is free


def test_a_poster_stalled_in_one_wait_keeps_its_lease_alive(slack, settings, db, client, monkeypatch):
    """As the run lease: a heartbeat refreshes the posting lease while this process lives, so
    a long 429 wait is not taken for a dead poster; only a process that stopped is."""
    from bot import run_lock

    monkeypatch.setattr(run_lock, "HEARTBEAT_SECONDS", 0.02)
    stored_day(db, DATE, 3)
    refreshed = []

    def long_wait(seconds):
        first = db.execute("select expires from post_leases").fetchone()[0]
        deadline = time.monotonic() + 10
        while db.execute("select expires from post_leases").fetchone()[0] == first:
            assert time.monotonic() < deadline, "nothing refreshed the lease during the wait"
            time.sleep(0.01)
        refreshed.append(seconds)

    result = post(settings.override(slack__seconds_between_posts=10), db, client, sleep=long_wait)
    assert result.status == "posted" and refreshed
    assert db.execute("select count(*) from post_leases").fetchone()[0] == 0  # released


def test_a_stalled_poster_whose_lease_was_taken_over_posts_nothing_more(slack, settings, db, client):
    """Stalled past the lease (long 429 waits), then taken over: it stops, no duplicates."""
    from bot.slack import post as post_mod

    ids = stored_day(db, DATE, 6)
    calls = []

    def stall_then_lose_the_lease(seconds):
        calls.append(seconds)
        if len(calls) == 3:  # before the third paper (the first post, the parent, has no wait)
            db.execute("update post_leases set holder = 'elsewhere:42:7', expires = ?", [1e12])
            db.conn.commit()

    # A long pacing makes every post after the first wait, i.e. call the (non-sleeping) hook.
    result = post(settings.override(slack__seconds_between_posts=10), db, client, sleep=stall_then_lose_the_lease)
    assert result.status == "failed" and result.error == "lease_lost"
    assert "took over posting" in result.message and "(process 42 on elsewhere, since" in result.message
    assert paper_ids_posted(slack) == ids[:2]
    # The new holder's lease is untouched; once it is gone the day continues without duplicates.
    assert db.execute("select holder from post_leases").fetchone()[0] == "elsewhere:42:7"
    db.execute("delete from post_leases")
    db.conn.commit()
    assert post(settings, db, client).status == "posted" and paper_ids_posted(slack) == ids


def test_run_http_serves_signed_requests_through_gunicorn(slack, tmp_path):
    """`python -m bot run --http` as the Procfile's web: line starts it: signed requests
    are answered, forged and stale ones refused, and SLACK_API_URL reaches the client."""
    import json as _json
    import os
    import socket
    import subprocess
    import time

    import requests

    from tests.slack_helpers import SIGNING_SECRET, SlackSender

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url,
           "SLACK_SIGNING_SECRET": SIGNING_SECRET, "PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--http", "--no-scheduler",
                             "--db", str(tmp_path / "bot.sqlite")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).text == "ok\n":
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        sender = SlackSender(f"http://127.0.0.1:{port}/slack/events")
        challenge = _json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"})
        ok = sender.post(challenge, "application/json")
        assert ok.status_code == 200 and ok.json() == {"challenge": "c-123"}
        assert sender.post(challenge, "application/json", secret="forged").status_code == 401
        assert sender.post(challenge, "application/json", timestamp=int(time.time()) - 600).status_code == 401
        event = sender.event({"type": "reaction_added", "user": "U1", "reaction": "smile",
                              "item": {"type": "message", "channel": DEFAULT_CHANNEL_ID, "ts": "1.0"}})
        assert event.status_code == 200
        assert slack.calls_to("auth.test")  # the app's Web API calls went to SLACK_API_URL
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_run_in_socket_mode_without_app_token_says_what_is_missing(tmp_path):
    import os
    import subprocess

    dotenv = ROOT / ".env"
    if dotenv.exists() and "SLACK_APP_TOKEN" in dotenv.read_text(encoding="utf-8"):
        pytest.skip("a local .env provides SLACK_APP_TOKEN")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env["SLACK_BOT_TOKEN"] = BOT_TOKEN
    done = subprocess.run([sys.executable, "-m", "bot", "run", "--db", str(tmp_path / "x.sqlite")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "SLACK_APP_TOKEN is not set" in done.stderr


def test_manifest_declares_what_the_app_listens_to():
    import yaml
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "reactions:read", "channels:history"} <= scopes
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"reaction_added", "reaction_removed", "app_home_opened"}
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/arxiv"]
    assert manifest["settings"]["interactivity"]["is_enabled"] and manifest["features"]["app_home"]["home_tab_enabled"]
    procfile = (ROOT / "Procfile").read_text(encoding="utf-8")
    assert "worker: python -m bot run\n" in procfile and "web: python -m bot run --http\n" in procfile


# ---- the `post` command says each thing once ---------------------------------------------

LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ [A-Z]+ [\w.]+: |^warning: |^error: ")


def repeated_lines(output: str) -> list[str]:
    """Lines said more than once in a command's stdout and stderr together, once a logging
    prefix or a `warning:` label is set aside (the same sentence logged and printed)."""
    said = [LOG_PREFIX.sub("", line).strip() for line in output.splitlines()]
    return sorted({s for s in said if s and said.count(s) > 1})


def post_command(slack, tmp_path, *args: str) -> tuple[int, str]:
    """`python -m bot post` as a user runs it, against the local Slack: (exit status, stdout + stderr)."""
    import os
    import subprocess

    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url}
    proc = subprocess.run([sys.executable, "-m", "bot", "post", "--quiet", "--db", str(tmp_path / "bot.sqlite"),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("stop", ["parent refused twice", "channel_not_found"])
def test_a_stopped_post_says_why_once(slack, db, tmp_path, stop):
    stored_day(db, DATE, 3)
    channel = "#arxiv-papers"
    if stop == "parent refused twice":
        slack.fail("chat.postMessage", "invalid_blocks", times=2)
    else:
        channel = "#no-such-channel"

    status, said = post_command(slack, tmp_path, "--date", DATE, "--channel", channel)

    assert status == 1 and said.count(f"Slack posting for {DATE} stopped") == 1, said
    assert repeated_lines(said) == [], said


def test_a_post_with_refused_papers_says_its_summary_and_each_plain_version_once(slack, db, tmp_path):
    ids = stored_day(db, DATE, 5)
    slack.fail("chat.postMessage", "invalid_blocks", after=2, times=2)  # paper 2: blocks, then plain
    slack.fail("chat.postMessage", "invalid_blocks", after=5, times=1)  # the 6th call: paper 4's blocks only

    status, said = post_command(slack, tmp_path, "--date", DATE, "--channel", "#arxiv-papers")

    assert status == 1 and said.count("Slack refused 1 paper(s) even as plain text") == 1, said
    assert said.count(ids[1]) == 1, said  # named in the summary, nowhere else
    assert sum(ids[3] in line and "plain version" in line for line in said.splitlines()) == 1, said
    assert repeated_lines(said) == [], said
    assert paper_ids_posted(slack) == [ids[0], ids[2], ids[4]]  # and paper 4 as plain text:
    assert ids[3] in slack.posted(DEFAULT_CHANNEL_ID)[3]["text"]
