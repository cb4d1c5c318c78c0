"""The Bolt app factory: settings, database and Web API client in; app out.

The same app serves Socket Mode (`python -m bot run`) and HTTP (`python -m bot run --http`,
and the tests, which point the client at a local Slack server).
"""
from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

from ..config import Settings
from .client import is_slack
from .context import AppContext
from .listeners import register_listeners

log = logging.getLogger(__name__)


class _QuietTokenNotice(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN from the environment on its own and then warns that the
    # client's token wins; that is exactly what we want, so the warning only confuses.
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_bolt_log = logging.getLogger("slack_bolt")
_bolt_log.addFilter(_QuietTokenNotice())


def default_run_day(db, client: WebClient):
    """One feed's run-and-post: run_day(feed, date=None, channel=None, **kwargs) -> DayPost."""
    def run(feed: Settings, date: str | None = None, channel: str | None = None, **kwargs):
        from ..progress import StepLog
        from .post import run_and_post

        # The scheduler and `/arxiv run` have no terminal: the long steps go to the log.
        kwargs.setdefault("progress", StepLog(log))
        return run_and_post(feed, db, client, date=date, channel=channel, **kwargs)
    return run


def create_app(settings: Settings, db, client: WebClient, signing_secret: str | None = None, *,
               process_before_response: bool = False, run_day=None, next_run=None, feed_started=None,
               token_verification_enabled: bool | None = None) -> App:
    """Build the app for the installation `settings` (its feeds come from bot.feeds).
    `next_run(feed_name)` says when the clocks run a feed next, `feed_started(feed)` gives a
    feed started from Slack its clock. Only `client=` goes to App:
    given a token too, Bolt ignores the client's."""
    if token_verification_enabled is None:
        # auth.test at start-up catches a bad token early on real Slack; against a local
        # server or proxy the first request checks it instead.
        token_verification_enabled = is_slack(client.base_url)
    app = App(
        client=client,
        signing_secret=signing_secret or "",
        process_before_response=process_before_response,
        token_verification_enabled=token_verification_enabled,
        logger=_bolt_log,
    )
    ctx = AppContext(settings=settings, db=db, client=client,
                     run_day=run_day or default_run_day(db, client))
    if next_run is not None:
        ctx.next_run = next_run
    if feed_started is not None:
        ctx.feed_started = feed_started
    app.ctx = ctx  # reachable from tests and the CLI
    register_listeners(app, ctx)
    return app
