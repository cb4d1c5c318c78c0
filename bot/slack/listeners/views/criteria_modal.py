"""The criteria editor: a modal holding the current criteria in editable text boxes.

Slack caps one plain_text_input at 3,000 characters and criteria may hold 8,000, so a long
text is spread over up to three boxes (split at line ends) and joined again on submit.
Submitting validates the text (`criteria.validate_text`): an empty or too long text is
refused inside the modal, naming the reason; a valid one becomes a new version.
"""
from __future__ import annotations

import json
import logging
import math

from .... import criteria as criteria_mod
from ....store import audit
from ...mrkdwn import escape
from ...permissions import may_change, mention

log = logging.getLogger(__name__)

CALLBACK_ID = "criteria_edit"
ACTION_ID = "text"
BOX_CHARS = 3000  # Block Kit's max_length for plain_text_input
SPLIT_CHARS = 2900  # where a long text is split, leaving room to edit each part
MAX_BOXES = math.ceil(criteria_mod.MAX_CHARS / SPLIT_CHARS)


def block_id(i: int) -> str:
    return f"criteria_{i}"


def split_parts(text: str, limit: int = SPLIT_CHARS) -> list[str]:
    """Consecutive parts of at most `limit` characters, cut at line ends where possible."""
    parts, current = [], ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single huge line: cut it
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts


def joined_text(values: dict) -> str:
    """The criteria text from a submitted view's state.values (the boxes in order)."""
    parts = []
    for i in range(1, MAX_BOXES + 1):
        box = (values.get(block_id(i)) or {}).get(ACTION_ID) or {}
        if box.get("value"):
            parts.append(box["value"])
    return "\n".join(parts).strip()


def _version_row(db, version: int | None) -> dict | None:
    if version is None:
        return None
    return next(db.query("select id, created_by, created_at from criteria_versions where id = ?", [version]), None)


def criteria_modal(ctx, origin: dict | None = None) -> dict:
    """The editor view, prefilled with the current criteria. `origin` travels in
    private_metadata (e.g. {"home": true}) so the submit handler knows where it came from."""
    crit = criteria_mod.current(ctx.db, ctx.settings.path("ranking.criteria_file"))
    row = _version_row(ctx.db, crit.version)
    parts = split_parts(crit.text)
    if len(parts) < MAX_BOXES and len(crit.text) < criteria_mod.MAX_CHARS:
        parts.append("")  # room to grow
    about = f"Version {crit.version}"
    if row:
        about += f", saved by {mention(row['created_by'])} on {escape(row['created_at'][:10])}"
    blocks: list[dict] = [{"type": "context", "elements": [{"type": "mrkdwn", "text":
        f"{about}. Saving stores a new version; the next run scores with it. "
        f"`/arxiv criteria history` lists versions and `/arxiv criteria restore N` brings one back. "
        f"{criteria_mod.MIN_CHARS}–{criteria_mod.MAX_CHARS} characters."}]}]
    for i, part in enumerate(parts, 1):
        element = {"type": "plain_text_input", "action_id": ACTION_ID, "multiline": True, "max_length": BOX_CHARS}
        if part:
            element["initial_value"] = part
        label = "Criteria" if i == 1 else f"Criteria, continued ({i}/{len(parts)})"
        blocks.append({"type": "input", "block_id": block_id(i), "optional": i > 1,
                       "label": {"type": "plain_text", "text": label}, "element": element})
    meta = {"base_version": crit.version, **(origin or {})}
    return {"type": "modal", "callback_id": CALLBACK_ID, "private_metadata": json.dumps(meta)[:3000],
            "title": {"type": "plain_text", "text": "Team criteria"},
            "submit": {"type": "plain_text", "text": "Save"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def saved_view(version: int, changed: bool, note: str = "") -> dict:
    if changed:
        text = f":white_check_mark: Saved as criteria *version {version}*. The next run scores with it."
    else:
        text = f"Nothing changed: this is the text of version {version} already."
    if note:
        text += f"\n{note}"
    return {"type": "modal", "title": {"type": "plain_text", "text": "Team criteria"},
            "close": {"type": "plain_text", "text": "Done"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def save_submission(ctx, user_id: str, values: dict, meta: dict) -> dict:
    """The ack() arguments for a submitted editor: errors shown in the modal, or the saved view."""
    first = block_id(1)
    if not may_change(ctx.settings, user_id):
        # Modal errors are plain text: no mentions.
        return {"response_action": "errors",
                "errors": {first: "Only the team's admins ([slack] admins) may change the criteria."}}
    text = joined_text(values)
    reason = criteria_mod.validate_text(text)
    if reason:
        return {"response_action": "errors", "errors": {first: f"Not saved: {reason}."}}
    before = criteria_mod.current(ctx.db, ctx.settings.path("ranking.criteria_file")).version
    version = criteria_mod.save_version(ctx.db, text, created_by=user_id, note="edited in Slack")
    changed = version != before
    note = ""
    base = meta.get("base_version")
    if changed:
        audit(ctx.db, user_id, "criteria.save", f"version {version} ({len(text)} characters), was {before}")
        if base is not None and base != before:
            note = (f"Note: version {before} was saved by someone else while you were editing; "
                    f"yours replaced it. `/arxiv criteria history` shows both.")
    return {"response_action": "update", "view": saved_view(version, changed, note)}


def register(app, ctx) -> None:
    def ack_criteria_submission(ack, body, view):
        user = (body.get("user") or {}).get("id", "")
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        ack(**save_submission(ctx, user, (view.get("state") or {}).get("values") or {}, meta))

    def refresh_home_after_save(body, view, client):
        # An editor opened from the App Home tab: show the new criteria there too.
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            return
        if meta.get("home"):
            from ...home import publish_home

            publish_home(ctx, client, body["user"]["id"])

    app.view(CALLBACK_ID)(ack=ack_criteria_submission, lazy=[refresh_home_after_save])
