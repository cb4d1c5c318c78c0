"""`/arxiv run [YYYY-MM-DD]`: fetch, score and post a day now, in the background.

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
from .invocation import Answer, Invocation
from .usage import unknown

log = logging.getLogger(__name__)
ICONS = {"posted": ":white_check_mark:", "already_posted": ":information_source:", "empty": ":zzz:",
         "nothing_picked": ":zzz:", "partial": ":warning:", "failed": ":warning:"}


def outcome_text(result) -> str:
    """One line about a DayPost (or anything with status/message), escaped."""
    status = getattr(result, "status", "")
    message = getattr(result, "message", None) or str(result)
    text = f"{ICONS.get(status, '')} {safe(message, 2500)}".strip()
    warnings = getattr(result, "warnings", None) or []
    if warnings:
        text += f"\n_{len(warnings)} warning(s), e.g. {safe(warnings[0], 300)}_"
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
    if not may_change(ctx.settings, inv.user_id):
        return Answer(refusal(ctx.settings, "start a run (it spends the scoring budget and posts to the channel)"))
    if not ctx.run_lock.acquire(blocking=False):
        return Answer(":hourglass: A run is already in progress; its thread will appear in the channel. "
                      "Nothing is posted twice.")

    def run_in_background():
        try:
            result = ctx.run_day(date=day)
            # The poster leaves its report to its caller: the server's log gets it once too.
            log.log(logging.INFO if result.ok else logging.ERROR, "/arxiv run by %s: %s", inv.user_id, result.message)
            inv.respond(outcome_text(result))
        finally:
            ctx.run_lock.release()

    what = f"the stored day {day}" if day else "the latest announcements"
    return Answer(f":hourglass_flowing_sand: Running {what} now; I'll tell you here when it is posted. "
                  "A day already posted is not posted again.", later=run_in_background)
