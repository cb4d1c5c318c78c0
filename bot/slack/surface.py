"""Slack as a delivery surface: a feed's day is a thread in the feed's channel.

`SlackThread` implements `bot.surfaces.Surface` over `post.post_day` (exactly once per feed,
date and channel, resumable) and `post.refresh_paper` (a paper's tally after a vote).
A feed with no channel (`slack.channel = ""`) writes digests only: Slack skips it, ok.
"""
from __future__ import annotations

import time
from typing import Callable

from slack_sdk import WebClient

from .. import delivery
from ..config import Settings
from ..digest import DayReport
from ..progress import Progress
from ..surfaces import Delivered
from .post import DayPost, post_day, refresh_paper


class SlackThread:
    """The day's thread in the feed's channel (or `channel`, for one feed's `post --channel`)."""

    name = "Slack"

    def __init__(self, client: WebClient, *, channel: str | None = None, progress: Progress | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.channel = channel
        self.progress = progress
        self.sleep = sleep

    def target(self, feed: Settings) -> str:
        return self.channel or feed["slack.channel"]

    def deliver(self, feed: Settings, db, report: DayReport) -> Delivered:
        channel = self.target(feed)
        if not channel:
            return Delivered(self.name, feed.feed, True, f"feed {feed.feed!r} has no Slack channel "
                             f"([feeds.{feed.feed}.slack] channel): digest files only", status="skipped")
        posted = post_day(feed, db, self.client, report, channel, sleep=self.sleep, progress=self.progress)
        return delivered_of(feed, posted)

    def refresh(self, feed: Settings, db, date: str, arxiv_id: str) -> bool:
        row = delivery.delivered(db, date, self.target(feed), feed=feed.feed).get(arxiv_id)
        if not row or not row["ts"]:
            return False
        return refresh_paper(feed, db, self.client, row)


def delivered_of(feed: Settings, posted: DayPost) -> Delivered:
    """A Slack post's report as a surface's."""
    return Delivered(SlackThread.name, feed.feed, posted.ok, posted.message, list(posted.warnings),
                     status=posted.status)
