"""The App Home tab: every feed with its channel, criteria version, next run and recent
figures, each with a button that opens that feed's criteria editor. With one feed the tab
also shows its criteria in full, its categories and watched authors."""
from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime, timedelta

from .. import criteria as criteria_mod
from ..config import Settings
from ..scheduler import DAYS_OF_WEEK, scheduled_days
from ..team_settings import authors, categories
from .mrkdwn import escape, safe
from .permissions import mention
from .stats import stats_lines, team_stats
from .text_parts import split_parts

log = logging.getLogger(__name__)
OPEN_EDITOR = "open_criteria_editor"  # action_id of the home tab's button; its value is the feed's name
MAX_BLOCKS = 100  # Slack's limit for a home view


def next_scheduled_run(hhmm: str, tz: str, days: str = "weekdays", now: datetime | None = None) -> datetime:
    """The next `hhmm` in `tz` on one of `days` ("weekdays" or a day's name) strictly after
    `now`: when the feed's clock, configured with the same settings, runs next."""
    zone = zoneinfo.ZoneInfo(tz)
    now = (now or datetime.now(zone)).astimezone(zone)
    hour, minute = map(int, hhmm.split(":"))
    wanted = scheduled_days(days)
    day = now.date()
    for _ in range(8):
        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if at > now and DAYS_OF_WEEK[at.weekday()] in wanted:
            return at
        day += timedelta(days=1)
    raise AssertionError("a scheduled day always comes within 8 days")


def _when(at: datetime) -> str:
    """A Slack date token: every reader sees it in their own timezone."""
    fallback = at.strftime("%a %d %b %Y %H:%M %Z")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{escape(fallback)}>"


def channel_ref(ref: str) -> str:
    """A channel as mrkdwn: a mention for an ID, the escaped name otherwise."""
    if ref and ref[0] in "CG" and ref.isalnum():
        return f"<#{ref}>"
    return escape(ref)


def feed_next_run(ctx, feed: Settings, now: datetime | None = None) -> datetime:
    return ctx.next_run(feed.feed) or next_scheduled_run(feed["schedule.time"], feed["schedule.timezone"],
                                                          feed["schedule.days"], now)


def _schedule_words(feed: Settings) -> str:
    days = "weekdays" if feed["schedule.days"] == "weekdays" else f"{feed['schedule.days']}s"
    return f"{escape(days)} at {escape(feed['schedule.time'])} {escape(feed['schedule.timezone'])}"


def _feed_head(ctx, feed: Settings, now: datetime | None) -> dict:
    """The feed's name, where and when it posts, its criteria version, and its editor button."""
    crit = criteria_mod.current(ctx.db, criteria_mod.file_of(feed), feed=feed.feed)
    row = criteria_mod.version_row(ctx.db, crit.version, feed=feed.feed)
    where = f"in {channel_ref(feed['slack.channel'])}" if feed["slack.channel"] else "(digest files only)"
    saved = f", saved by {mention(row['created_by'])} on {escape(row['created_at'][:10])}" if row else ""
    text = (f"*Feed {escape(feed.feed)}* · criteria version {crit.version}{saved}\n"
            f"*Next post:* {_when(feed_next_run(ctx, feed, now))} {where} ({_schedule_words(feed)})")
    # Every part is escaped or bounded already (feed names are at most 32 characters).
    return {"type": "section", "text": {"type": "mrkdwn", "text": text},
            "accessory": {"type": "button", "action_id": OPEN_EDITOR, "value": feed.feed, "style": "primary",
                          "text": {"type": "plain_text", "text": "Edit criteria"}}}


def _feed_blocks(ctx, feed: Settings, now: datetime | None, *, in_full: bool) -> list[dict]:
    blocks = [_feed_head(ctx, feed, now),
              {"type": "section", "text": {"type": "mrkdwn", "text":
                  "\n".join(stats_lines(team_stats(ctx.db, feed=feed.feed)))}}]
    if in_full:
        crit = criteria_mod.current(ctx.db, criteria_mod.file_of(feed), feed=feed.feed)
        # plain_text: the criteria are shown exactly as written, with no mrkdwn parsed in them.
        blocks += [{"type": "section", "text": {"type": "plain_text", "text": part, "emoji": False}}
                   for part in split_parts(crit.text) if part.strip()]
    watched = authors(feed, ctx.db)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": safe(
        f"Categories: {', '.join(categories(feed, ctx.db))} · Watched authors: "
        f"{', '.join(watched) if watched else 'none'}", 2900)}]})
    return blocks


def home_view(ctx, now: datetime | None = None) -> dict:
    feeds = ctx.feeds()
    title = "arXiv papers for the team" if len(feeds) == 1 else f"arXiv papers for the team: {len(feeds)} feeds"
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": title}}]
    footer = {"type": "context", "elements": [{"type": "mrkdwn", "text":
        "Vote on papers with 👍 / 👎 in a feed's daily thread. `/arxiv help` lists the commands, "
        "`/arxiv feeds` the feeds."}]}
    room = MAX_BLOCKS - len(blocks) - 2  # the footer, and a line for feeds left out
    for i, feed in enumerate(feeds):
        part = [{"type": "divider"}] + _feed_blocks(ctx, feed, now, in_full=len(feeds) == 1)
        if len(part) > room:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                f"{len(feeds) - i} more feed(s) not shown here: `/arxiv feeds` lists every feed."}]})
            break
        blocks += part
        room -= len(part)
    blocks.append(footer)
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


def publish_home(ctx, client, user_id: str) -> None:
    client.views_publish(user_id=user_id, view=home_view(ctx))
