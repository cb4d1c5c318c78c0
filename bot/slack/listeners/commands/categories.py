"""`/arxiv categories [list]` and `/arxiv categories set cs.LG cs.AI …`: what is read each day."""
from __future__ import annotations

from ....store import audit
from ....team_settings import TeamSettingError, categories, parse_categories, set_categories
from ...mrkdwn import escape
from ...permissions import may_change, refusal
from .invocation import Answer, Invocation
from .usage import unknown


def listing(ctx) -> Answer:
    cats = categories(ctx.settings, ctx.db)
    return Answer(f"*Categories read each day:* {escape(' '.join(cats))}\n"
                  "`/arxiv categories set cs.LG cs.AI …` replaces them.")


def replace(ctx, inv: Invocation, text: str) -> Answer:
    if not may_change(ctx.settings, inv.user_id):
        return Answer(refusal(ctx.settings, "change the categories"))
    try:
        cats = parse_categories(text)
    except TeamSettingError as exc:
        return Answer(f"Nothing changed: {escape(str(exc))}.")
    before = categories(ctx.settings, ctx.db)
    if cats == before:
        return Answer(f"The categories are already {escape(' '.join(cats))}.")
    set_categories(ctx.db, cats, inv.user_id)
    audit(ctx.db, inv.user_id, "categories.set", f"{' '.join(cats)} (was {' '.join(before)})")
    return Answer(f":white_check_mark: Categories set to {escape(' '.join(cats))} "
                  f"(were {escape(' '.join(before))}); the next run reads them.")


def answer(ctx, inv: Invocation) -> Answer:
    verb = inv.args[0].lower() if inv.args else "list"
    if verb == "list" and len(inv.args) <= 1:
        return listing(ctx)
    if verb == "set" and len(inv.args) > 1:
        return replace(ctx, inv, " ".join(inv.args[1:]))
    return unknown(f"categories {inv.rest}")
