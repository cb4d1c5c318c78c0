"""What every listener needs, handed over once by the app factory."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from slack_sdk import WebClient

from ..config import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Any  # sqlite_utils.Database
    client: WebClient
    # Runs (or resumes) the day's job and posts it: run_day(date=None, channel=None) ->
    # bot.slack.post.DayPost. Safe to call twice: delivery is exactly once per date+channel.
    run_day: Callable[..., Any]
    # When the scheduler will next post (None when no scheduler runs in this process).
    next_run: Callable[[], datetime | None] = lambda: None
    # Held while a day is being run and posted, so `/arxiv run` and the scheduler never
    # post the same day at once from one process.
    run_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def channel(self) -> str:
        return self.settings["slack.channel"]
