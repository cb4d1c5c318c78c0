"""`/arxiv feeds` (every feed: name, channel, criteria version, next run), `/arxiv feed new
NAME` (an admin starts a feed in this channel from the default feed's current criteria),
and the answer to a feed's command typed in a channel with no feed."""
from __future__ import annotations

from .... import criteria as criteria_mod
from ....config import Settings
from ....feeds import FeedError, start_feed
from ....store import audit
from ...home import channel_ref, feed_next_run
from ...mrkdwn import escape
from ...permissions import may_change, refusal
from .invocation import Answer, Invocation
from .usage import USAGE, unknown


def _criteria_version(ctx, feed: Settings) -> int:
    return criteria_mod.current(ctx.db, criteria_mod.file_of(feed), feed=feed.feed).version


def _line(ctx, feed: Settings) -> str:
    where = channel_ref(feed["slack.channel"]) if feed["slack.channel"] else "no channel (digest files only)"
    at = feed_next_run(ctx, feed)
    return (f"• *{escape(feed.feed)}* — {where} · criteria version {_criteria_version(ctx, feed)} · "
            f"next run {escape(at.strftime('%a %d %b %H:%M %Z'))}")


def listing(ctx, inv: Invocation) -> Answer:
    if inv.args:
        return unknown(f"feeds {inv.rest}")
    feeds = ctx.feeds()
    lines = [f"*Feeds* ({len(feeds)}):"] + [_line(ctx, f) for f in feeds]
    lines.append("`/arxiv` in a feed's channel acts on that feed; an admin starts one in a channel with "
                 "`/arxiv feed new NAME`.")
    return Answer("\n".join(lines))


def where_feeds_are(ctx, inv: Invocation) -> Answer:
    """The answer in a channel with no feed: the channels that have one, and how to start one here."""
    posting = [f for f in ctx.feeds() if f["slack.channel"]]
    here = f"#{escape(inv.channel_name)}" if inv.channel_name else "this channel"
    lines = [f"There is no feed in {here}."]
    if posting:
        lines.append("Feeds post in " + ", ".join(f"{channel_ref(f['slack.channel'])} ({escape(f.feed)})"
                                                 for f in posting) + ": type `/arxiv` there.")
    else:
        lines.append("No feed posts to a Slack channel yet.")
    lines.append("An admin can start a feed here with `/arxiv feed new NAME` (from the default feed's criteria).")
    if not inv.sub:  # a bare `/arxiv`: the commands too
        lines += ["", USAGE]
    return Answer("\n".join(lines))


def start_here(ctx, inv: Invocation) -> Answer:
    """`/arxiv feed new NAME`: a new feed in this channel, from the default feed's criteria."""
    if len(inv.args) != 2 or inv.args[0].lower() != "new":
        return unknown(f"feed {inv.rest}")
    if not may_change(ctx.settings, inv.user_id):
        return Answer(refusal(ctx.settings, "start a feed"))
    try:
        feed = start_feed(ctx.settings, ctx.db, inv.args[1], inv.channel_id, inv.user_id, inv.channel_name)
    except FeedError as exc:
        return Answer(f"No feed started: {escape(str(exc))}.")
    version = criteria_mod.current(ctx.db, None, feed=feed.feed).version
    audit(ctx.db, inv.user_id, "feed.start", f"{feed.feed} in {inv.channel_id}", feed=feed.feed)
    ctx.feed_started(feed)
    return Answer(f":white_check_mark: Feed *{escape(feed.feed)}* started in this channel with the default "
                  f"feed's criteria (its version {version}). `/arxiv criteria` here edits them; the feed posts "
                  f"here from its next run ({escape(feed['schedule.days'])} at {escape(feed['schedule.time'])} "
                  f"{escape(feed['schedule.timezone'])}), or `/arxiv run` now.")
