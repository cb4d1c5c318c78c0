"""What every listener needs, handed over once by the app factory."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from slack_sdk import WebClient

from .. import feeds
from ..config import Settings


@dataclass
class AppContext:
    # The installation's settings (the top-level sections); each feed's are `feeds()`.
    settings: Settings
    db: Any  # sqlite_utils.Database
    client: WebClient
    # Runs (or resumes) one feed's day and posts it: run_day(feed: Settings, date=None) ->
    # bot.slack.post.DayPost. Safe to call twice: delivery is exactly once per feed, date, channel.
    run_day: Callable[..., Any]
    # When the scheduler will next run a feed, by its name (None when no scheduler runs here).
    next_run: Callable[[str], datetime | None] = lambda feed: None
    # Held while a day is being run and posted, so `/arxiv run` and the clocks never
    # run two days at once from one process.
    run_lock: threading.Lock = field(default_factory=threading.Lock)
    # Told of a feed started from Slack, so the clocks of this process run it from now on.
    feed_started: Callable[[Settings], None] = lambda feed: None

    def feeds(self) -> list[Settings]:
        """Every feed's settings (the settings file's, then those started from Slack)."""
        return feeds.all_feeds(self.settings, self.db)

    def feed_named(self, name: str) -> Settings | None:
        return next((f for f in self.feeds() if f.feed == name), None)

    def feed_for_channel(self, channel_id: str, channel_name: str = "") -> Settings | None:
        return feeds.feed_for_channel(self.settings, self.db, channel_id, channel_name)
