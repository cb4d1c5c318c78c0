"""The App Home tab's "Edit criteria" button (its value: the feed's name) opens that feed's
criteria editor (for admins)."""
from __future__ import annotations

from ...home import OPEN_EDITOR
from ...mrkdwn import escape
from ...permissions import may_change, refusal
from ..views.criteria_modal import criteria_modal


def refused_view(text: str) -> dict:
    return {"type": "modal", "title": {"type": "plain_text", "text": "Team criteria"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def register(app, ctx) -> None:
    def ack_open_editor(ack):
        ack()

    def open_editor_from_home(body, client):
        user = (body.get("user") or {}).get("id", "")
        name = ((body.get("actions") or [{}])[0].get("value") or "").strip()
        feed = ctx.feed_named(name) if name else None
        if feed is None and not name and len(ctx.feeds()) == 1:  # a tab published before feeds had names
            feed = ctx.feeds()[0]
        if feed is None:
            view = refused_view(f"There is no feed {escape(name[:40])!r} any more: open the Home tab again.")
        elif may_change(feed, user):
            view = criteria_modal(ctx, feed, {"home": True})
        else:
            view = refused_view(refusal(feed, "change the criteria"))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    app.action(OPEN_EDITOR)(ack=ack_open_editor, lazy=[open_editor_from_home])
