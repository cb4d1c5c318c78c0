"""`/arxiv criteria` (open the editor), `criteria history` (also `/arxiv history`),
`criteria restore N`: the criteria of the feed of the channel."""
from __future__ import annotations

from .... import criteria as criteria_mod
from ...mrkdwn import escape, safe
from ...permissions import may_change, mention, refusal
from ..views.criteria_modal import criteria_modal
from .invocation import Answer, Invocation
from .usage import unknown

HISTORY_ROWS = 15


def open_editor(ctx, inv: Invocation) -> Answer:
    if not may_change(inv.feed, inv.user_id):
        return Answer(refusal(inv.feed, "change the criteria"))

    def open_modal():
        ctx.client.views_open(trigger_id=inv.trigger_id, view=criteria_modal(ctx, inv.feed, {"channel": inv.channel_id}))

    return Answer("", later=open_modal)


def history(ctx, inv: Invocation) -> Answer:
    feed = inv.feed
    listed, total = criteria_mod.history(ctx.db, criteria_mod.file_of(feed), limit=HISTORY_ROWS, feed=feed.feed)
    lines = [f"*Criteria versions* (newest first, {total} in all)"]
    for v in listed:
        tag = " (current)" if v.current else ""
        note = f" — {escape(v.note)}" if v.note else ""
        lines.append(f"• *v{v.id}*{tag} {escape(v.created_at[:16].replace('T', ' '))} "
                     f"by {mention(v.created_by)}{note}\n    _{safe(v.text, 140)}_")
    lines.append("`/arxiv criteria restore N` makes version N current again.")
    return Answer("\n".join(lines))


def restore(ctx, inv: Invocation, which: str) -> Answer:
    if not may_change(inv.feed, inv.user_id):
        return Answer(refusal(inv.feed, "change the criteria"))
    try:
        done = criteria_mod.restore_version(ctx.db, which, who=inv.user_id, feed=inv.feed.feed)
    except criteria_mod.UnknownVersion as exc:
        return Answer(f"{escape(_sentence(str(exc)))}; `/arxiv criteria history` lists them.")
    if not done.changed:
        return Answer(f"{escape(_sentence(done.unchanged_reason()))}.")
    return Answer(f":white_check_mark: Version {done.version} restored as version {done.saved_as}; "
                  "the next run scores with it.")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def answer(ctx, inv: Invocation) -> Answer:
    if not inv.args:
        return open_editor(ctx, inv)
    verb = inv.args[0].lower()
    if verb == "history" and len(inv.args) == 1:
        return history(ctx, inv)
    if verb == "restore" and len(inv.args) == 2:
        return restore(ctx, inv, inv.args[1])
    return unknown(f"criteria {inv.rest}")


def history_answer(ctx, inv: Invocation) -> Answer:
    """`/arxiv history`: the feed's criteria versions."""
    if inv.args:
        return unknown(f"history {inv.rest}")
    return history(ctx, inv)
