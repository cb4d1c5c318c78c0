"""`/arxiv run [YYYY-MM-DD]`: fetch, score and post a day of the channel's feed now, in the background.

The ack goes back at once; the run (minutes with an LLM) happens in a thread and its
outcome is sent to the caller through the command's response_url. Two guards against
double posting: `ctx.run_lock` lets one run at a time in this process (the scheduler
holds it too), and delivery itself is exactly once per date and channel.
"""
from __future__ import annotations

import logging
from datetime import date as Date

from ...mrkdwn import escape, safe
from ...permissions import may_change, refusal
from ....scheduler import log_result
from ...post import DayPost
from .invocation import Answer, Invocation
from .usage import unknown

log = logging.getLogger(__name__)
ICONS = {"posted": ":white_check_mark:", "already_posted": ":information_source:", "empty": ":zzz:",
         "nothing_picked": ":zzz:", "partial": ":warning:", "failed": ":warning:"}


def outcome_text(result: DayPost) -> str:
    """One line about a day's run and post, escaped (and how many warnings it had)."""
    text = f"{ICONS.get(result.status, '')} {safe(result.message, 2500)}".strip()
    if result.warnings:
        text += f"\n_{len(result.warnings)} warning(s), e.g. {safe(result.warnings[0], 300)}_"
    return text


def answer(ctx, inv: Invocation) -> Answer:
    if len(inv.args) > 1:
        return unknown(f"run {inv.rest}")
    day = None
    if inv.args:
        try:
            day = Date.fromisoformat(inv.args[0]).isoformat()
        except ValueError:
            return Answer(f"`{escape(inv.args[0][:20])}` is not a date: use `/arxiv run` for the latest "
                          "announcements or `/arxiv run YYYY-MM-DD` for a stored day.")
    feed = inv.feed
    if not may_change(feed, inv.user_id):
        return Answer(refusal(feed, "start a run (it spends the scoring budget and posts to the channel)"))
    if not ctx.run_lock.acquire(blocking=False):
        return Answer(":hourglass: A run is already in progress; its thread will appear in the channel. "
                      "Nothing is posted twice.")

    where = f"/arxiv run{f' {day}' if day else ''} (feed {feed.feed}) by {inv.user_id}"

    def run_in_background():
        try:
            result = ctx.run_day(feed, date=day)
        except Exception as exc:  # e.g. a database error: the caller gets a sentence, the log the trace
            log.exception("%s: the run crashed", where)
            inv.respond(f":warning: The run failed on my side ({type(exc).__name__}); nothing more was posted. "
                        "The details are in the app's log.")
            return
        finally:
            ctx.run_lock.release()
        # The poster leaves its report to its caller: the server's log gets it once too.
        log_result(where, result)
        inv.respond(outcome_text(result))

    what = f"the stored day {day}" if day else "the latest announcements"
    return Answer(f":hourglass_flowing_sand: Running {what} now; I'll tell you here when it is posted. "
                  "A day already posted is not posted again.", later=run_in_background)
