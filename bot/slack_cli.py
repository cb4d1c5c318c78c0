"""Slack commands: `python -m bot run [--http]` (the app plus every feed's clock in one
process) and `python -m bot post` (run the day now and post each feed's thread, exactly once).

Secrets come from the environment or `.env`: SLACK_BOT_TOKEN always, SLACK_APP_TOKEN for
Socket Mode, SLACK_SIGNING_SECRET for HTTP mode. SLACK_API_URL points every Web API call
at another base URL (a proxy or a local test server).
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from .cli import (rss_given_as_feed, add_day_source_options, arguments, command, open_store, reads_stored_day,
                  selected_feeds, whole_number)
from .config import ConfigError, Settings, secret
from .scheduler import WEEKDAYS

log = logging.getLogger(__name__)
# On stop, how long a post in progress may take to finish: a Heroku-like platform kills the
# process 30 s after SIGTERM. A post cut short resumes without duplicates on the next start.
SHUTDOWN_WAIT_SECONDS = 25


# A secret a mode needs: its variable, what it is, and how its value starts ("" for any).
BOT_TOKEN = ("SLACK_BOT_TOKEN", "the app's Bot User OAuth Token (xoxb-...)", "xoxb-")
APP_TOKEN = ("SLACK_APP_TOKEN", "Socket Mode needs an app-level token (xapp-..., connections:write)", "xapp-")
SIGNING_SECRET = ("SLACK_SIGNING_SECRET", "HTTP mode verifies every request with the app's Signing Secret", "")
# Slack's token kinds, by the prefix every token of the kind starts with.
TOKEN_KINDS = {"xoxb-": "a bot token", "xoxp-": "a user token", "xapp-": "an app-level token"}


def _problem(name: str, why: str, prefix: str) -> str | None:
    """What is wrong with one secret, never quoting it (a known kind's prefix at most)."""
    value = secret(name)
    if not value:
        return f"{name} is not set: {why}"
    if value.startswith(prefix):
        return None
    kind = next((f" (this one is {k}, {p}...)" for p, k in TOKEN_KINDS.items() if value.startswith(p)), "")
    return f"{name} should start with {prefix}{kind}: {why}"


def _need(*needed: tuple[str, str, str]) -> list[str]:
    """The values of the secrets a mode needs, all checked before anything connects: one
    message names every missing or wrong one, instead of one per attempt."""
    problems = [said for said in (_problem(*s) for s in needed) if said]
    if problems:
        raise ConfigError(f"{'; '.join(problems)}. Put {'it' if len(problems) == 1 else 'them'} in the "
                          "environment or in .env (see docs/slack.md)")
    return [secret(name) for name, _, _ in needed]


def _client():
    from .slack.client import make_web_client

    return make_web_client(_need(BOT_TOKEN)[0])


def build(settings: Settings, db_path: str | None, *, signing_secret: str | None = None):
    """The app, its context and every feed's clock sharing the run lock, ready to start."""
    from .feeds import all_feeds
    from .scheduler import FeedClocks
    from .slack.app import create_app

    db = open_store(settings, db_path)
    holder: dict = {}
    app = create_app(settings, db, _client(), signing_secret, next_run=lambda feed: holder["c"].next_run(feed),
                     feed_started=lambda feed: holder["c"].add(feed, job_for(feed)))
    run_day = app.ctx.run_day

    def job_for(feed: Settings):
        return lambda: run_day(feed)

    clocks = FeedClocks.for_feeds(all_feeds(settings, db), db, job_for, app.ctx.run_lock).install()
    holder["c"] = clocks
    return app, clocks


def clock_lines(clocks) -> list[str]:
    """One line per feed: when and where its clock posts next."""
    lines = []
    for clock in clocks.clocks:
        days = "weekdays" if clock.days == WEEKDAYS else ", ".join(f"{d}s" for d in clock.days)
        where = f"to {clock.channel}" if clock.channel else "(digest files only)"
        at = clock.next_run()
        lines.append(f"scheduler: feed {clock.feed}: {days} at {clock.time} {clock.timezone}, next post "
                     f"{at:%a %d %b %H:%M %Z} {where}" if at else f"scheduler: feed {clock.feed}: no run scheduled")
    return lines


def _run_args(p):
    p.add_argument("--http", action="store_true",
                   help="serve /slack/events over HTTP on $PORT (default: Socket Mode, no public URL)")
    p.add_argument("--port", type=whole_number("a port", 1, 65535), help="HTTP port (default $PORT or 3000)")
    p.add_argument("--db", metavar="FILE", help="SQLite file (default: storage.database)")
    p.add_argument("--no-scheduler", action="store_true", help="only answer Slack; post nothing on a clock")


@command("run", "start the Slack app and every feed's clock (Socket Mode, or --http)")
@arguments(_run_args)
def cmd_run(args, settings: Settings) -> int:
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    if args.http:
        return _serve_http(args, settings)
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app_token, _ = _need(APP_TOKEN, BOT_TOKEN)
    app, clocks = build(settings, args.db)
    stop = threading.Event()
    # Ctrl-C and SIGTERM (how a platform stops a worker) end the loop below instead of
    # killing the process mid-vote or mid-post: the shutdown lets the work in hand finish.
    if threading.current_thread() is threading.main_thread():  # Python allows handlers only there
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: stop.set())
    handler = SocketModeHandler(app, app_token, web_client=app.client)
    _connect(handler)
    print("Slack app connected in Socket Mode; Ctrl-C stops it", flush=True)
    scheduler_thread = None
    if not args.no_scheduler:
        scheduler_thread = clocks.start_thread(stop)
        print("\n".join(clock_lines(clocks)), flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stop.set()
        print("stopping: finishing the votes and posts in hand", flush=True)
        handler.close()  # closes the connection, then waits for the listeners at work
        if scheduler_thread is not None:
            scheduler_thread.join(timeout=SHUTDOWN_WAIT_SECONDS)
    print("stopped", flush=True)
    return 0


# Slack's answers that refuse a token itself: a re-run with the same token gets the same.
TOKEN_REFUSED = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                 "not_allowed_token_type"}


def _connect(handler) -> None:
    """Open the Socket Mode connection; Slack refusing the app token is a setting to fix
    (exit 2 naming it), not an outage that running again gets past."""
    from slack_sdk.errors import SlackApiError

    try:
        handler.connect()
    except SlackApiError as exc:
        code = exc.response.get("error") or ""
        if code not in TOKEN_REFUSED:
            raise
        raise ConfigError(f"Slack refused SLACK_APP_TOKEN ({code}) when opening the Socket Mode connection: "
                          "copy the app-level token again (the app's Basic Information > App-Level Tokens, "
                          "with the connections:write scope) into the environment or .env (see docs/slack.md)"
                          ) from None


def _serve_http(args, settings: Settings) -> int:
    from gunicorn.app.base import BaseApplication

    from .slack.wsgi import wsgi_app

    signing_secret, _ = _need(SIGNING_SECRET, BOT_TOKEN)
    port = args.port or int(os.environ.get("PORT") or 3000)

    class Server(BaseApplication):
        # One worker process: it owns the SQLite connection and the one scheduler thread
        # (more workers would each run a scheduler). Threads answer Slack concurrently.
        def load_config(self):
            for key, value in {"bind": f"0.0.0.0:{port}", "workers": 1, "worker_class": "gthread",
                               "threads": 8, "timeout": 120, "accesslog": "-"}.items():
                self.cfg.set(key, value)

        def load(self):
            # Built inside the worker (after gunicorn forks): no SQLite handle crosses a fork.
            app, clocks = build(settings, args.db, signing_secret=signing_secret)
            if not args.no_scheduler:
                clocks.start_thread(threading.Event())
            return wsgi_app(app)

    print(f"serving /slack/events on port {port} (gunicorn)")
    Server().run()
    return 0


def _post_args(p):
    add_day_source_options(p)
    p.add_argument("--channel", help="channel ID or #name (default: the feed's slack.channel; with one feed only)")
    p.add_argument("--db", metavar="FILE", help="SQLite file (default: storage.database)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _posted_feeds(args, settings: Settings, db) -> list[Settings]:
    """The feeds to post; ConfigError for an unknown feed or --channel with several feeds."""
    from .feeds import FeedError

    try:
        feeds = selected_feeds(args, settings, db)
    except FeedError as exc:
        raise ConfigError(f"--feed: {exc}") from None
    if args.channel and len(feeds) > 1:
        raise ConfigError(f"--channel applies to one feed: add --feed NAME (the feeds are "
                          f"{', '.join(f.feed for f in feeds)})")
    return feeds


def _post_feeds(args, settings: Settings, db, client, feeds: list[Settings], progress, notify) -> list:
    """Each feed's DayPost. Several feeds to run share one fetch (pipeline.run_feeds); one
    feed's failure (its channel, its budget, its criteria) is its own, the others still post."""
    from .pipeline import SAMPLE_FEED, run_feeds
    from .slack.post import post_outcome, run_and_post

    rss = SAMPLE_FEED if args.sample else args.rss
    if len(feeds) == 1 or reads_stored_day(args):
        return [run_and_post(feed, db, client, date=args.date, channel=args.channel, feed_file=rss,
                             progress=progress, notify=notify) for feed in feeds]
    outcomes = run_feeds(settings, db, feeds, feed_file=rss, date=args.date, progress=progress, notify=notify)
    return [post_outcome(feed, db, client, outcome, progress=progress) for feed, outcome in zip(feeds, outcomes)]


def _said(feed: Settings, several: bool, line: str) -> str:
    return f"feed {feed.feed}: {line}" if several else line


@command("post", "run the day now and post each feed's thread to its channel (exactly once per feed, date and channel)")
@arguments(_post_args)
def cmd_post(args, settings: Settings) -> int:
    from .progress import StepBars

    client = _client()
    rss_given_as_feed(args, settings)
    db = open_store(settings, args.db, must_exist=reads_stored_day(args))
    feeds = _posted_feeds(args, settings, db)
    notify = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    with StepBars(quiet=args.quiet) as progress:
        results = _post_feeds(args, settings, db, client, feeds, progress, notify)
    several = len(feeds) > 1
    for feed, result in zip(feeds, results):
        for w in result.warnings:
            print(f"warning: {_said(feed, several, w)}", file=sys.stderr)
        print(_said(feed, several, result.message), file=sys.stderr if not result.ok else sys.stdout)
    return 0 if all(r.ok for r in results) else 1
