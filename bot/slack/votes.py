"""Votes from Slack (buttons and reactions) on the bot's paper messages.

A paper message is found through the delivery record (`delivery.find_paper_message`), whose
row names the feed the message belongs to: the vote is that feed's, and so is the tally the
message shows after it. A reaction or a click on any other message is not a vote.
"""
from __future__ import annotations

import threading

from ..config import Settings
from ..delivery import find_paper_message
from .post import refresh_paper

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
    """The delivery row (with its `feed`) of our paper message at (channel, ts); with
    `arxiv_id`, only when the message is about that paper."""
    if not channel_id or not ts:
        return None
    row = find_paper_message(db, channel_id, ts)
    if row is None or (arxiv_id is not None and row["item"] != arxiv_id):
        return None
    return row


def message_feed(ctx, row: dict) -> Settings | None:
    """The feed a paper message belongs to (None: a feed removed from the settings since)."""
    return ctx.feed_named(row["feed"])


def refresh_tally(feed: Settings, db, client, row: dict) -> bool:
    """Show the feed's current tally on the message; False (logged) when it could not be updated."""
    with _refresh_lock:
        return refresh_paper(feed, db, client, row)
