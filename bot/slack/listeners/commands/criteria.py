"""`/arxiv criteria` (open the editor), `criteria history`, `criteria restore N`."""
from __future__ import annotations

from .... import criteria as criteria_mod
from ....store import audit
from ...mrkdwn import escape, safe
from ...permissions import may_change, mention, refusal
from ..views.criteria_modal import criteria_modal
from .invocation import Answer, Invocation
from .usage import unknown

HISTORY_ROWS = 15


def _current_version(ctx) -> int:
    return criteria_mod.current(ctx.db, ctx.settings.path("ranking.criteria_file")).version


def open_editor(ctx, inv: Invocation) -> Answer:
    if not may_change(ctx.settings, inv.user_id):
        return Answer(refusal(ctx.settings, "change the criteria"))

    def open_modal():
        ctx.client.views_open(trigger_id=inv.trigger_id, view=criteria_modal(ctx, {"channel": inv.channel_id}))

    return Answer("", later=open_modal)


def history(ctx) -> Answer:
    current = _current_version(ctx)
    rows = list(ctx.db.query("select id, text, created_by, created_at, note from criteria_versions "
                             "order by id desc limit ?", [HISTORY_ROWS]))
    total = next(ctx.db.query("select count(*) as n from criteria_versions"))["n"]
    lines = [f"*Criteria versions* (newest first, {total} in all)"]
    for r in rows:
        tag = " (current)" if r["id"] == current else ""
        note = f" — {escape(r['note'])}" if r["note"] else ""
        lines.append(f"• *v{r['id']}*{tag} {escape((r['created_at'] or '')[:16].replace('T', ' '))} "
                     f"by {mention(r['created_by'])}{note}\n    _{safe(r['text'], 140)}_")
    lines.append("`/arxiv criteria restore N` makes version N current again.")
    return Answer("\n".join(lines))


def restore(ctx, inv: Invocation, which: str) -> Answer:
    if not may_change(ctx.settings, inv.user_id):
        return Answer(refusal(ctx.settings, "change the criteria"))
    number = which.lstrip("vV")
    if not number.isdigit():
        return Answer(f"`{escape(which[:20])}` is not a version number; `/arxiv criteria history` lists them.")
    row = next(ctx.db.query("select id, text from criteria_versions where id = ?", [int(number)]), None)
    if row is None:
        return Answer(f"There is no criteria version {int(number)}; `/arxiv criteria history` lists them.")
    current = _current_version(ctx)
    if row["id"] == current:
        return Answer(f"Version {row['id']} is already the current criteria.")
    version = criteria_mod.save_version(ctx.db, row["text"], created_by=inv.user_id,
                                        note=f"restored from version {row['id']}")
    audit(ctx.db, inv.user_id, "criteria.restore", f"version {row['id']} restored as {version}, was {current}")
    return Answer(f":white_check_mark: Version {row['id']} restored as version {version}; the next run scores with it.")


def answer(ctx, inv: Invocation) -> Answer:
    if not inv.args:
        return open_editor(ctx, inv)
    verb = inv.args[0].lower()
    if verb == "history" and len(inv.args) == 1:
        return history(ctx)
    if verb == "restore" and len(inv.args) == 2:
        return restore(ctx, inv, inv.args[1])
    return unknown(f"criteria {inv.rest}")
