"""The App Home tab's "Edit criteria" button opens the criteria editor (for admins)."""
from __future__ import annotations

from ...home import OPEN_EDITOR
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
        if may_change(ctx.settings, user):
            view = criteria_modal(ctx, {"home": True})
        else:
            view = refused_view(refusal(ctx.settings, "change the criteria"))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    app.action(OPEN_EDITOR)(ack=ack_open_editor, lazy=[open_editor_from_home])
