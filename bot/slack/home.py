"""The App Home tab: the team's current criteria, when the next post goes out, and
recent feedback figures, with a button that opens the criteria editor."""
from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime, timedelta

from .. import criteria as criteria_mod
from .mrkdwn import escape, safe
from .permissions import mention
from .stats import stats_lines, team_stats
from ..team_settings import authors, categories
from .text_parts import split_parts

log = logging.getLogger(__name__)
OPEN_EDITOR = "open_criteria_editor"  # action_id of the home tab's button
MAX_BLOCKS = 100  # Slack's limit for a home view


def next_weekday_run(hhmm: str, tz: str, now: datetime | None = None) -> datetime:
    """The next Monday-to-Friday `hhmm` in `tz` strictly after `now`: when the scheduler,
    configured with the same settings, posts next."""
    zone = zoneinfo.ZoneInfo(tz)
    now = (now or datetime.now(zone)).astimezone(zone)
    hour, minute = map(int, hhmm.split(":"))
    day = now.date()
    for _ in range(8):
        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if at > now and at.weekday() < 5:
            return at
        day += timedelta(days=1)
    raise AssertionError("a weekday always comes within 8 days")


def _when(at: datetime) -> str:
    """A Slack date token: every reader sees it in their own timezone."""
    fallback = at.strftime("%a %d %b %Y %H:%M %Z")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{escape(fallback)}>"


def _channel(ref: str) -> str:
    if ref and ref[0] in "CG" and ref.isalnum():
        return f"<#{ref}>"
    return escape(ref)


def home_view(ctx, now: datetime | None = None) -> dict:
    settings, db = ctx.settings, ctx.db
    crit = criteria_mod.current(db, settings.path("ranking.criteria_file"))
    row = criteria_mod.version_row(db, crit.version)
    at = ctx.next_run() or next_weekday_run(settings["schedule.time"], settings["schedule.timezone"], now)
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": "arXiv papers for the team"}},
        {"type": "section", "text": {"type": "mrkdwn", "text":
            f"*Next post:* {_when(at)} in {_channel(settings['slack.channel'])} "
            f"(weekdays at {escape(settings['schedule.time'])} {escape(settings['schedule.timezone'])})"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(stats_lines(team_stats(db)))}},
        {"type": "divider"},
        {"type": "section", "text": {"type": "mrkdwn", "text":
            f"*Current criteria* · version {crit.version}"
            + (f", saved by {mention(row['created_by'])} on {escape(row['created_at'][:10])}" if row else "")},
         "accessory": {"type": "button", "action_id": OPEN_EDITOR, "style": "primary",
                       "text": {"type": "plain_text", "text": "Edit criteria"}}},
    ]
    # plain_text: the criteria are shown exactly as written, with no mrkdwn parsed in them.
    for part in split_parts(crit.text):
        if part.strip():
            blocks.append({"type": "section", "text": {"type": "plain_text", "text": part, "emoji": False}})
    watched = authors(settings, db)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": safe(
        f"Categories: {', '.join(categories(settings, db))} · Watched authors: "
        f"{', '.join(watched) if watched else 'none'}", 2900)}]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
        "Vote on papers with 👍 / 👎 in the daily thread. `/arxiv help` lists the commands."}]})
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


def publish_home(ctx, client, user_id: str) -> None:
    client.views_publish(user_id=user_id, view=home_view(ctx))
