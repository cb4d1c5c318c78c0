"""The feeds' clocks: each feed's calendar (weekdays, or one weekly day), the once-only
catch-up at start-up, empty days and failures (a feed's own), driven end to end against a
local arXiv feed and a local Slack."""
from __future__ import annotations

import sys
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import load_settings  # noqa: E402
from bot.db import open_db  # noqa: E402
from bot.scheduler import WEEKDAYS, DailyScheduler  # noqa: E402
from bot.slack.client import make_web_client  # noqa: E402
from bot.slack.post import run_and_post  # noqa: E402
from tests.servers.slack_server import DEFAULT_CHANNEL_ID, SlackServer  # noqa: E402
from tests.slack_helpers import BOT_TOKEN, sample_feed  # noqa: E402

TZ = "America/New_York"
MONDAY_8 = datetime(2025, 2, 24, 8, 0, tzinfo=ZoneInfo(TZ))


class _Feed(BaseHTTPRequestHandler):
    body = b""
    hits: list[str] = []

    def do_GET(self):
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def arxiv():
    """A local stand-in for rss.arxiv.org; set `.body` to the feed to serve."""
    handler = type("Feed", (_Feed,), {"body": sample_feed(6).encode(), "hits": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_port}/rss/"
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def slack():
    with SlackServer() as server:
        yield server


@pytest.fixture
def db(tmp_path):
    return open_db(tmp_path / "bot.sqlite")


def team_settings(arxiv, tmp_path, **over):
    return load_settings().override(
        arxiv__feed_url=arxiv.url, arxiv__min_interval_seconds=0, ranking__min_relevance=1, ranking__max_papers=3,
        slack__seconds_between_posts=0, storage__digest_dir=str(tmp_path / "digests"), **over)


def make(db, arxiv, slack, tmp_path):
    settings = team_settings(arxiv, tmp_path)
    client = make_web_client(BOT_TOKEN, slack.api_url)
    sched = DailyScheduler.from_settings(settings, db, lambda: run_and_post(settings, db, client))
    return sched.install()


def test_one_job_per_weekday_at_the_configured_time_and_zone(db):
    sched = DailyScheduler(db, lambda: None, time="07:30", timezone=TZ, channel="C1").install()
    jobs = sched.scheduler.get_jobs("daily")
    assert sorted(j.start_day for j in jobs) == sorted(WEEKDAYS)
    assert {(str(j.at_time), j.at_time_zone.zone) for j in jobs} == {("07:30:00", TZ)}
    nxt = sched.next_run()
    assert nxt.tzinfo is not None and (nxt.hour, nxt.minute) == (7, 30) and nxt.weekday() < 5


@pytest.mark.parametrize("when,due", [
    (datetime(2025, 2, 24, 6, 59), False),  # Monday, before the time
    (datetime(2025, 2, 24, 7, 0), True),  # Monday, on time
    (datetime(2025, 2, 28, 23, 0), True),  # Friday night
    (datetime(2025, 3, 1, 9, 0), False),  # Saturday
    (datetime(2025, 3, 2, 9, 0), False),  # Sunday
])
def test_due_only_on_weekdays_after_the_time(db, when, due):
    sched = DailyScheduler(db, lambda: None, time="07:00", timezone=TZ, channel="C1")
    assert sched.due_and_missing(when.replace(tzinfo=ZoneInfo(TZ))) is due


def test_due_uses_the_schedule_timezone_not_the_machine(db):
    sched = DailyScheduler(db, lambda: None, time="07:00", timezone=TZ, channel="C1")
    # 11:30 UTC on Monday is 06:30 in New York: not yet due there.
    assert not sched.due_and_missing(datetime(2025, 2, 24, 11, 30, tzinfo=ZoneInfo("UTC")))
    assert sched.due_and_missing(datetime(2025, 2, 24, 12, 5, tzinfo=ZoneInfo("UTC")))


def test_catch_up_at_start_up_posts_once(db, arxiv, slack, tmp_path):
    sched = make(db, arxiv, slack, tmp_path)

    result = sched.catch_up(MONDAY_8)

    assert result.status == "posted" and result.date == "2025-02-24"
    assert len(slack.posted(DEFAULT_CHANNEL_ID)) == 1 + result.total
    row = next(db.query("select * from scheduled_runs"))
    assert (row["day"], row["status"]) == ("2025-02-24", "posted")
    calls = len(slack.calls)

    assert sched.catch_up(MONDAY_8.replace(hour=9)) is None  # a second start-up the same day
    assert len(slack.calls) == calls and len(arxiv.hits) == 1
    assert not sched.due_and_missing(MONDAY_8)


def test_scheduled_run_after_a_manual_post_posts_nothing_new(db, arxiv, slack, tmp_path):
    sched = make(db, arxiv, slack, tmp_path)
    client = make_web_client(BOT_TOKEN, slack.api_url)
    manual = run_and_post(team_settings(arxiv, tmp_path), db, client)
    assert manual.status == "posted"
    posted = len(slack.calls_to("chat.postMessage"))

    result = sched.run_job(MONDAY_8)

    assert result.status == "already_posted"
    assert len(slack.calls_to("chat.postMessage")) == posted
    assert sched.today_status(MONDAY_8) == "posted"


def test_day_without_announcements_is_skipped(db, arxiv, slack, tmp_path):
    arxiv.body = sample_feed(0).encode()
    sched = make(db, arxiv, slack, tmp_path)

    result = sched.catch_up(MONDAY_8)

    assert result.status == "empty"
    assert slack.calls_to("chat.postMessage") == []
    assert sched.today_status(MONDAY_8) == "empty" and sched.catch_up(MONDAY_8) is None


def test_failed_day_is_recorded_retried_and_caught_up_later(db, arxiv, slack, tmp_path):
    slack.add_channel(DEFAULT_CHANNEL_ID, "arxiv-papers", is_member=False)
    sched = make(db, arxiv, slack, tmp_path)

    result = sched.catch_up(MONDAY_8)

    assert result.status == "failed" and result.error == "not_in_channel"
    row = next(db.query("select * from scheduled_runs"))
    assert row["status"] == "failed" and "invite" in row["detail"]
    assert len(sched.scheduler.get_jobs("retry")) == 1
    assert sched.due_and_missing(MONDAY_8)  # the next start-up tries again

    slack.add_channel(DEFAULT_CHANNEL_ID, "arxiv-papers", is_member=True)
    assert sched.catch_up(MONDAY_8).status == "posted"
    assert sched.today_status(MONDAY_8) == "posted"


def test_a_day_with_a_refused_paper_is_partial_and_retried_until_it_is_in(db, arxiv, slack, tmp_path):
    """Slack refuses one paper and its plain version too: the day went on, but that paper
    is not in the thread, so the day is not done: it is retried like a failed one."""
    slack.fail("chat.postMessage", "invalid_blocks", after=2, times=2)  # the second paper, both versions
    sched = make(db, arxiv, slack, tmp_path)

    result = sched.catch_up(MONDAY_8)

    assert result.status == "partial" and len(result.refused) == 1 and not result.ok
    row = next(db.query("select * from scheduled_runs"))
    assert row["status"] == "partial" and result.refused[0][0] in row["detail"]
    assert len(sched.scheduler.get_jobs("retry")) == 1
    assert sched.due_and_missing(MONDAY_8)  # the next start-up tries again too

    retried = sched.run_job(MONDAY_8)
    assert retried.status == "posted" and retried.sent == 1 and retried.refused == []
    assert sched.today_status(MONDAY_8) == "posted" and not sched.due_and_missing(MONDAY_8)


def test_the_apps_scheduled_job_logs_each_long_step(db, arxiv, slack, tmp_path, caplog):
    """`python -m bot run` has no terminal to draw bars on: its scheduled day says in the log
    when each long step starts and how big it is (embedding, posting)."""
    import logging
    import re

    from bot.slack.app import create_app

    settings = team_settings(arxiv, tmp_path)
    app = create_app(settings, db, make_web_client(BOT_TOKEN, slack.api_url))
    sched = DailyScheduler.from_settings(settings, db, lambda: app.ctx.run_day(settings), lock=app.ctx.run_lock)

    with caplog.at_level(logging.INFO):
        result = sched.catch_up(MONDAY_8)

    assert result.status == "posted"
    said = [r.getMessage() for r in caplog.records]
    assert f"posting papers to #arxiv-papers ({result.total})" in said, said
    assert any(re.fullmatch(r"embedding .+ \(\d+\)", m) for m in said), said


def test_a_crashing_job_is_recorded_and_the_scheduler_survives(db):
    def boom():
        raise RuntimeError("disk full")

    sched = DailyScheduler(db, boom, time="07:00", timezone=TZ, channel="C1").install()
    assert sched.run_job(MONDAY_8) is None
    row = next(db.query("select * from scheduled_runs"))
    assert row["status"] == "failed" and "disk full" in row["detail"]


def test_run_job_skips_a_day_done_meanwhile_and_releases_the_lock(db):
    ran = []
    lock = threading.Lock()
    sched = DailyScheduler(db, lambda: ran.append(1), time="07:00", timezone=TZ, channel="C1", lock=lock)
    with db.conn:
        db.conn.execute("insert into scheduled_runs (day, channel, status, detail, at) values (?,?,?,?,?)",
                        ("2025-02-24", "C1", "posted", "by /arxiv run", "x"))
    assert sched.run_job(MONDAY_8) is None and ran == []
    assert not lock.locked()


def _records_saying(caplog, words: str) -> list[str]:
    """The log records (message and traceback) that contain `words`, as `run` logs them."""
    import logging

    formatter = logging.Formatter()
    return [formatter.format(r) for r in caplog.records if words in formatter.format(r)]


def test_a_stopped_scheduled_day_is_logged_once(db, arxiv, slack, tmp_path, caplog):
    """`python -m bot run` logs at INFO: the day's outcome is one line (the scheduler's),
    not the poster's line and then the scheduler's with the same sentence."""
    import logging

    from bot.slack.app import create_app

    settings = team_settings(arxiv, tmp_path, slack__channel="#no-such-channel")
    app = create_app(settings, db, make_web_client(BOT_TOKEN, slack.api_url))
    sched = DailyScheduler.from_settings(settings, db, lambda: app.ctx.run_day(settings), lock=app.ctx.run_lock)

    with caplog.at_level(logging.INFO):
        result = sched.catch_up(MONDAY_8)

    assert result.status == "failed" and result.error == "channel_not_found"
    assert len(_records_saying(caplog, "does not exist or the app cannot see it")) == 1, caplog.text


def test_a_crashing_job_is_logged_once_with_its_traceback(db, caplog):
    import logging

    def boom():
        raise RuntimeError("disk full")

    sched = DailyScheduler(db, boom, time="07:00", timezone=TZ, channel="C1").install()
    with caplog.at_level(logging.INFO):
        sched.run_job(MONDAY_8)

    [said] = _records_saying(caplog, "disk full")
    assert "scheduled run for 2025-02-24" in said and "Traceback" in said


def test_a_scheduled_days_warnings_are_logged_once_each(db, caplog):
    """A worker's log is its only output: what `post` prints as `warning:` lines (a paper sent
    as plain text, the LLM falling back) is logged by the scheduler, once."""
    import logging

    from bot.slack.post import DayPost

    def job():
        return DayPost("2025-02-24", "C1", "posted", "posted 2025-02-24 to C1",
                       warnings=["2502.00001: Slack refused its blocks; posted a plain version"])

    sched = DailyScheduler(db, job, time="07:00", timezone=TZ, channel="C1").install()
    with caplog.at_level(logging.INFO):
        sched.run_job(MONDAY_8)

    assert len(_records_saying(caplog, "posted a plain version")) == 1, caplog.text
    assert len(_records_saying(caplog, "posted 2025-02-24 to C1")) == 1, caplog.text


# ---- every feed on its own clock ----------------------------------------------------------

def two_feed_settings(arxiv, tmp_path, body: str):
    """The team settings plus [feeds.*] tables in a settings file (how a team declares feeds)."""
    from bot.config import load_settings as load

    path = tmp_path / "feeds.toml"
    path.write_text(body, encoding="utf-8")
    return load(path).override(
        arxiv__feed_url=arxiv.url, arxiv__min_interval_seconds=0, ranking__min_relevance=1, ranking__max_papers=3,
        slack__seconds_between_posts=0, storage__digest_dir=str(tmp_path / "digests"), schedule__timezone=TZ)


def test_each_feed_has_its_clock_and_a_weekly_feed_runs_on_its_day_only(db, arxiv, tmp_path):
    from bot.feeds import all_feeds
    from bot.scheduler import FeedClocks

    settings = two_feed_settings(arxiv, tmp_path, '[feeds.default.schedule]\ntime = "07:00"\n'
                                 '[feeds.weekly.schedule]\ntime = "09:30"\ndays = "friday"\n')
    lock = threading.Lock()
    clocks = FeedClocks.for_feeds(all_feeds(settings, db), db, lambda feed: lambda: None, lock).install()

    daily, weekly = clocks.clocks
    assert (daily.feed, weekly.feed) == ("default", "weekly") and daily.lock is weekly.lock is lock
    assert sorted(j.start_day for j in clocks.scheduler.get_jobs("daily:default")) == sorted(WEEKDAYS)
    assert [(j.start_day, str(j.at_time)) for j in clocks.scheduler.get_jobs("daily:weekly")] == [("friday", "09:30:00")]
    nxt = clocks.next_run("weekly")
    assert nxt.weekday() == 4 and (nxt.hour, nxt.minute) == (9, 30)
    assert clocks.next_run() == min(clocks.next_run("default"), nxt)
    assert not weekly.due_and_missing(MONDAY_8.replace(hour=10))  # Monday: not the weekly feed's day
    assert weekly.due_and_missing(datetime(2025, 2, 28, 10, 0, tzinfo=ZoneInfo(TZ)))  # Friday, after 09:30
    assert not weekly.due_and_missing(datetime(2025, 2, 28, 9, 0, tzinfo=ZoneInfo(TZ)))


def test_run_says_when_each_feed_posts_next(db, arxiv, tmp_path):
    from bot.feeds import all_feeds
    from bot.scheduler import FeedClocks
    from bot.slack_cli import clock_lines

    settings = two_feed_settings(arxiv, tmp_path, '[feeds.default.schedule]\ntime = "07:00"\n'
                                 '[feeds.weekly.schedule]\ntime = "09:30"\ndays = "friday"\n'
                                 '[feeds.weekly.slack]\nchannel = "C0WEEKLY"\n')
    clocks = FeedClocks.for_feeds(all_feeds(settings, db), db, lambda feed: lambda: None, threading.Lock()).install()
    lines = clock_lines(clocks)
    assert lines[0].startswith(f"scheduler: feed default: weekdays at 07:00 {TZ}, next post ")
    assert lines[0].endswith("to #arxiv-papers")
    assert lines[1].startswith(f"scheduler: feed weekly: fridays at 09:30 {TZ}, next post Fri ")
    assert lines[1].endswith("to C0WEEKLY")


def test_a_feed_whose_channel_refuses_the_app_fails_alone(db, arxiv, slack, tmp_path):
    """Catch-up with two feeds: the app is not in #vision (the stand-in Slack answers
    not_in_channel there); #ml gets its thread, each outcome is on record for its feed."""
    from bot.feeds import all_feeds
    from bot.scheduler import FeedClocks

    slack.add_channel("C0ML", "ml")
    slack.add_channel("C0VISION", "vision", is_member=False)
    settings = two_feed_settings(arxiv, tmp_path, '[feeds.default.slack]\nchannel = "C0ML"\n'
                                 '[feeds.vision.slack]\nchannel = "C0VISION"\n')
    client = make_web_client(BOT_TOKEN, slack.api_url)
    ran = []

    def job_for(feed):
        def job():
            ran.append(feed.feed)
            return run_and_post(feed, db, client)
        return job

    clocks = FeedClocks.for_feeds(all_feeds(settings, db), db, job_for, threading.Lock()).install()
    clocks.catch_up(MONDAY_8)

    assert ran == ["default", "vision"]
    outcome = {r["feed"]: (r["status"], r["detail"]) for r in db.query("select * from scheduled_runs")}
    assert outcome["default"][0] == "posted" and outcome["vision"][0] == "failed"
    assert "not a member of C0VISION" in outcome["vision"][1]
    assert len(slack.posted("C0ML")) > 1 and not slack.posted("C0VISION")
    assert clocks.scheduler.get_jobs("retry:vision") and not clocks.scheduler.get_jobs("retry:default")
