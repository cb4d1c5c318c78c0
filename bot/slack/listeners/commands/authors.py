"""`/arxiv authors list | add NAME[, NAME…] | remove NAME[, NAME…]`: the watched authors,
whose papers the channel's feed always posts."""
from __future__ import annotations

from ....store import audit
from ....team_settings import TeamSettingError, add_authors, authors, parse_names, remove_authors
from ...mrkdwn import escape
from ...permissions import may_change, refusal
from .invocation import Answer, Invocation
from .usage import unknown


def _names(names: list[str]) -> str:
    return ", ".join(escape(n) for n in names)


def listing(ctx, inv: Invocation) -> Answer:
    names = authors(inv.feed, ctx.db)
    if not names:
        return Answer("No watched authors. `/arxiv authors add NAME` adds one.")
    return Answer(f"*Watched authors* ({len(names)}): {_names(names)}")


def change(ctx, inv: Invocation, verb: str, text: str) -> Answer:
    feed = inv.feed
    if not may_change(feed, inv.user_id):
        return Answer(refusal(feed, "change the watched authors"))
    try:
        names = parse_names(text)
        if verb == "add":
            done, skipped = add_authors(feed, ctx.db, names, inv.user_id)
        else:
            done, skipped = remove_authors(feed, ctx.db, names, inv.user_id)
    except TeamSettingError as exc:
        return Answer(f"Nothing changed: {escape(str(exc))}.")
    lines = []
    if done:
        audit(ctx.db, inv.user_id, f"authors.{verb}", "; ".join(done), feed=feed.feed)
        lines.append(f":white_check_mark: {'Added' if verb == 'add' else 'Removed'}: {_names(done)}.")
    if skipped:
        lines.append(f"{'Already watched' if verb == 'add' else 'Not in the list'}: {_names(skipped)}.")
    lines.append(listing(ctx, inv).text)
    return Answer("\n".join(lines))


def answer(ctx, inv: Invocation) -> Answer:
    verb = inv.args[0].lower() if inv.args else "list"
    if verb == "list" and len(inv.args) <= 1:
        return listing(ctx, inv)
    if verb in ("add", "remove") and len(inv.args) > 1:
        return change(ctx, inv, verb, inv.rest.split(None, 1)[1])
    return unknown(f"authors {inv.rest}")
