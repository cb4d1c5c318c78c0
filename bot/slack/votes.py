"""Votes from Slack (buttons and reactions) on the bot's paper messages.

A paper message is found through the delivery record (`delivery.find_paper_message`): a reaction or
a click on any other message is not a vote. After a vote the message is rendered again
with the team's tally and updated in place (`post.update_paper_message`).
"""
from __future__ import annotations

import threading

from ..delivery import find_paper_message
from .post import update_paper_message

# Reaction names as Slack sends them (it resolves aliases), skin tone stripped.
REACTION_VOTES = {"+1": 1, "thumbsup": 1, "-1": -1, "thumbsdown": -1}
# Reading the tally and sending chat.update happen together, so two votes landing at once
# can never leave the older tally on screen.
_refresh_lock = threading.Lock()


def reaction_vote(name: str | None) -> int | None:
    """+1 / -1 for a thumbs reaction ("+1::skin-tone-3" included), None for any other."""
    base = (name or "").split("::", 1)[0]
    return REACTION_VOTES.get(base)


def paper_message(db, channel_id: str, ts: str, arxiv_id: str | None = None) -> dict | None:
    """The delivery row of our paper message at (channel, ts); with `arxiv_id`, only when
    the message is about that paper."""
    if not channel_id or not ts:
        return None
    row = find_paper_message(db, channel_id, ts)
    if row is None or (arxiv_id is not None and row["item"] != arxiv_id):
        return None
    return row


def refresh_tally(settings, db, client, channel_id: str, ts: str) -> bool:
    """Show the current tally on the message; False (logged) when it could not be updated."""
    with _refresh_lock:
        return update_paper_message(settings, db, client, channel_id, ts)
