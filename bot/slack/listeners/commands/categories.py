"""`/arxiv categories [list]` and `/arxiv categories set cs.LG cs.AI …`: what the channel's feed reads each day."""
from __future__ import annotations

from ....store import audit
from ....team_settings import TeamSettingError, categories, parse_categories, set_categories
from ...mrkdwn import escape
from ...permissions import may_change, refusal
from .invocation import Answer, Invocation
from .usage import unknown


def listing(ctx, inv: Invocation) -> Answer:
    cats = categories(inv.feed, ctx.db)
    return Answer(f"*Categories read each day:* {escape(' '.join(cats))}\n"
                  "`/arxiv categories set cs.LG cs.AI …` replaces them.")


def replace(ctx, inv: Invocation, text: str) -> Answer:
    feed = inv.feed
    if not may_change(feed, inv.user_id):
        return Answer(refusal(feed, "change the categories"))
    try:
        cats = parse_categories(text)
    except TeamSettingError as exc:
        return Answer(f"Nothing changed: {escape(str(exc))}.")
    before = categories(feed, ctx.db)
    if cats == before:
        return Answer(f"The categories are already {escape(' '.join(cats))}.")
    set_categories(ctx.db, cats, inv.user_id, feed=feed.feed)
    audit(ctx.db, inv.user_id, "categories.set", f"{' '.join(cats)} (was {' '.join(before)})", feed=feed.feed)
    return Answer(f":white_check_mark: Categories set to {escape(' '.join(cats))} "
                  f"(were {escape(' '.join(before))}); the next run reads them.")


def answer(ctx, inv: Invocation) -> Answer:
    verb = inv.args[0].lower() if inv.args else "list"
    if verb == "list" and len(inv.args) <= 1:
        return listing(ctx, inv)
    if verb == "set" and len(inv.args) > 1:
        return replace(ctx, inv, " ".join(inv.args[1:]))
    return unknown(f"categories {inv.rest}")
