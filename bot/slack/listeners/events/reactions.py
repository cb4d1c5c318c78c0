"""👍 / 👎 reactions on the bot's paper messages are votes (source "reaction").

`reaction_added` sets the reacting user's vote; `reaction_removed` takes it back when it
is still the vote they hold (a later button click in the other direction is kept).
Reactions on any other message, and any other emoji, are ignored.
"""
from __future__ import annotations

import logging

from .... import feedback
from ...votes import paper_message, reaction_vote, refresh_tally

log = logging.getLogger(__name__)


def _target(ctx, event: dict):
    """(delivery row, channel, ts, vote) when this reaction is a vote on our paper message, else None."""
    vote = reaction_vote(event.get("reaction"))
    item = event.get("item") or {}
    if vote is None or item.get("type") != "message" or not event.get("user"):
        return None
    channel, ts = item.get("channel", ""), item.get("ts", "")
    msg = paper_message(ctx.db, channel, ts)
    return (msg, channel, ts, vote) if msg is not None else None


def register(app, ctx) -> None:
    def ack_reaction(ack):
        ack()

    def vote_by_reaction(event, client):
        found = _target(ctx, event)
        if found is None:
            return
        msg, channel, ts, vote = found
        change = feedback.set_vote(ctx.db, msg["item"], event["user"], vote, "reaction", channel)
        if change.before != change.after:
            refresh_tally(ctx.settings, ctx.db, client, channel, ts)

    def unvote_by_reaction(event, client):
        found = _target(ctx, event)
        if found is None:
            return
        msg, channel, ts, vote = found
        if feedback.current_vote(ctx.db, msg["item"], event["user"]) != vote:
            return  # they have since voted the other way (or not at all): keep that
        feedback.set_vote(ctx.db, msg["item"], event["user"], 0, "reaction", channel)
        refresh_tally(ctx.settings, ctx.db, client, channel, ts)

    app.event("reaction_added")(ack=ack_reaction, lazy=[vote_by_reaction])
    app.event("reaction_removed")(ack=ack_reaction, lazy=[unvote_by_reaction])
