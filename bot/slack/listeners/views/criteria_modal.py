"""The criteria editor: a modal holding the current criteria in editable text boxes.

Slack caps one plain_text_input at 3,000 characters and criteria may hold 8,000, so a long
text is spread over as many boxes as it needs (split at line ends; a line too long for a
box is cut), plus an empty one to grow into. The box count and how many line ends join
each box to the next travel in private_metadata (counts, so a long run of blank lines
costs a few digits of its 3,000 characters), so submitting reads every box and joins them
back into the very text, and so does the name of the feed whose criteria it edits (a feed
gone since is refused on submit). Submitting validates the text (`criteria.validate_text`): an empty or too
long text, a box over Slack's limit or a box that did not arrive is refused inside the
modal, naming the reason, and nothing is saved; a valid text becomes a new version.
"""
from __future__ import annotations

import json
import logging
import re

from .... import criteria as criteria_mod
from ....config import Settings
from ....store import audit
from ...home import publish_home
from ...mrkdwn import escape
from ...permissions import may_change, mention
from ...text_parts import split_boxes

log = logging.getLogger(__name__)

CALLBACK_ID = "criteria_edit"
ACTION_ID = "text"
BOX_CHARS = 3000  # Block Kit's max_length for plain_text_input
BOX_ID = re.compile(r"criteria_(\d+)")


def block_id(i: int) -> str:
    return f"criteria_{i}"


def _box_values(values: dict) -> dict[int, str | None]:
    """Box number -> the text submitted in it (None for an emptied box)."""
    boxes = {}
    for key, state in values.items():
        if (m := BOX_ID.fullmatch(key)) and isinstance(state, dict):
            boxes[int(m.group(1))] = (state.get(ACTION_ID) or {}).get("value")
    return boxes


def line_ends(joins: list[str]) -> list[int]:
    """The joins of `split_boxes` as private_metadata carries them: how many line ends each is."""
    return [len(join) for join in joins]


def _join_before(joins: list, box: int) -> str:
    """What the split put between box `box - 1` and box `box`: its line ends, "" after a cut
    line, or one line end for a box the split did not make (or a count that makes no sense)."""
    count = joins[box - 2] if 2 <= box <= len(joins) + 1 else 1
    valid = isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= criteria_mod.MAX_CHARS
    return "\n" * count if valid else "\n"


def joined_text(values: dict, meta: dict) -> tuple[str, tuple[str, str] | None]:
    """The criteria text from a submitted view's state.values, every box in order, joined
    as it was split; or ("", (block_id, reason)) when a box is over Slack's limit or did
    not arrive, so nothing is saved from a text that lost a part."""
    boxes = _box_values(values)
    expected = meta.get("boxes") if isinstance(meta.get("boxes"), int) else 0
    joins = meta.get("joins") if isinstance(meta.get("joins"), list) else []
    missing = [i for i in range(1, expected + 1) if i not in boxes]
    if missing:
        return "", (block_id(1), f"Not saved: box {missing[0]} of {expected} did not arrive, so part of the "
                                 "text would be lost. Nothing was changed: close the editor and open it again.")
    out = ""
    for i in sorted(boxes):
        value = boxes[i] or ""
        if len(value) > BOX_CHARS:
            return "", (block_id(i), f"Not saved: box {i} holds {len(value)} characters and a box takes at most "
                                     f"{BOX_CHARS}. Move some of it into another box.")
        if value:
            out = f"{out}{_join_before(joins, i)}{value}" if out else value
    return out.strip(), None


def criteria_modal(ctx, feed: Settings, origin: dict | None = None) -> dict:
    """The editor of one feed's criteria, prefilled with its current text. The feed's name
    and `origin` travel in private_metadata (e.g. {"home": true}) so the submit handler
    knows which feed it edits and where it came from."""
    crit = criteria_mod.current(ctx.db, criteria_mod.file_of(feed), feed=feed.feed)
    row = criteria_mod.version_row(ctx.db, crit.version, feed=feed.feed)
    parts, joins = split_boxes(crit.text)
    if len(crit.text) < criteria_mod.MAX_CHARS:
        parts.append("")  # room to grow
        joins.append("\n")
    about = f"Version {crit.version}"
    if row:
        about += f", saved by {mention(row['created_by'])} on {escape(row['created_at'][:10])}"
    blocks: list[dict] = [{"type": "context", "elements": [{"type": "mrkdwn", "text":
        f"{about}. Saving stores a new version; the next run scores with it. "
        f"`/arxiv criteria history` lists versions and `/arxiv criteria restore N` brings one back. "
        f"{criteria_mod.MIN_CHARS}–{criteria_mod.MAX_CHARS} characters"
        + (f", in boxes of up to {BOX_CHARS}: when one is full, go on in the next." if len(parts) > 1 else ".")}]}]
    for i, part in enumerate(parts, 1):
        element = {"type": "plain_text_input", "action_id": ACTION_ID, "multiline": True, "max_length": BOX_CHARS}
        if part:
            element["initial_value"] = part
        label = "Criteria" if len(parts) == 1 else f"Criteria ({i}/{len(parts)})" if i == 1 \
            else f"Criteria, continued ({i}/{len(parts)})"
        blocks.append({"type": "input", "block_id": block_id(i), "optional": i > 1,
                       "label": {"type": "plain_text", "text": label}, "element": element})
    # Small and bounded (a few numbers): never cut, a cut JSON would read as nothing.
    meta = {**(origin or {}), "feed": feed.feed, "base_version": crit.version, "boxes": len(parts),
            "joins": line_ends(joins)}
    return {"type": "modal", "callback_id": CALLBACK_ID, "private_metadata": json.dumps(meta),
            "title": {"type": "plain_text", "text": modal_title(ctx, feed)},
            "submit": {"type": "plain_text", "text": "Save"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def modal_title(ctx, feed: Settings) -> str:
    """"Team criteria" with one feed; the feed's name (cut to a modal title's 24) with several."""
    return "Team criteria" if len(ctx.feeds()) == 1 else f"Criteria: {feed.feed}"[:24]


def edited_feed(ctx, meta: dict) -> Settings | None:
    """The feed a submitted editor edits, by the name it carries; None when that feed is gone."""
    name = meta.get("feed")
    return ctx.feed_named(name) if isinstance(name, str) and name else None


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
    feed = edited_feed(ctx, meta)
    if feed is None:
        # Modal errors are plain text: no mentions, no mrkdwn.
        name = str(meta.get("feed") or "")[:40]
        return {"response_action": "errors", "errors": {first: (
            f"Not saved: the feed {name!r} no longer exists. Nothing was changed: close the editor and "
            "type /arxiv criteria in a feed's channel.")}}
    if not may_change(feed, user_id):
        return {"response_action": "errors",
                "errors": {first: "Only the team's admins ([slack] admins) may change the criteria."}}
    text, box_problem = joined_text(values, meta)
    if box_problem:
        return {"response_action": "errors", "errors": dict([box_problem])}
    reason = criteria_mod.validate_text(text)
    if reason:
        return {"response_action": "errors", "errors": {first: f"Not saved: {reason}."}}
    return {"response_action": "update", "view": _saved(ctx, feed, user_id, text, meta.get("base_version"))}


def _saved(ctx, feed: Settings, user_id: str, text: str, base) -> dict:
    """Save the text as the feed's new version (unless it is the current one): the view saying so."""
    before = criteria_mod.current(ctx.db, criteria_mod.file_of(feed), feed=feed.feed).version
    version = criteria_mod.save_version(ctx.db, text, created_by=user_id, note="edited in Slack", feed=feed.feed)
    changed = version != before
    note = ""
    if changed:
        audit(ctx.db, user_id, "criteria.save", f"version {version} ({len(text)} characters), was {before}",
              feed=feed.feed)
        if base is not None and base != before:
            note = (f"Note: version {before} was saved by someone else while you were editing; "
                    f"yours replaced it. `/arxiv criteria history` shows both.")
    return saved_view(version, changed, note)


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
            publish_home(ctx, client, body["user"]["id"])

    app.view(CALLBACK_ID)(ack=ack_criteria_submission, lazy=[refresh_home_after_save])
