"""👍 / 👎 reactions on the bot's paper messages are votes (source "reaction").

`reaction_added` sets the reacting user's vote; `reaction_removed` takes it back when it
is still the vote they hold (a later button click in the other direction is kept).
Reactions on any other message, and any other emoji, are ignored. A vote belongs to the
feed of the message (its delivery row names it).

Slack retries an event it thinks went unanswered, and a retry can come after the events
that followed it: each event applies in the order of its own time (event_ts, else the
envelope's event_time), so a late retry is recorded but changes no vote.
"""
from __future__ import annotations

import logging
from typing import Callable

from .... import feedback
from ...votes import message_feed, paper_message, reaction_vote, refresh_tally

log = logging.getLogger(__name__)


def _target(ctx, event: dict):
    """(delivery row, its feed, channel, vote) when this reaction is a vote on our paper message, else None."""
    vote = reaction_vote(event.get("reaction"))
    item = event.get("item") or {}
    if vote is None or item.get("type") != "message" or not event.get("user"):
        return None
    channel, ts = item.get("channel", ""), item.get("ts", "")
    msg = paper_message(ctx.db, channel, ts)
    feed = message_feed(ctx, msg) if msg is not None else None
    return (msg, feed, channel, vote) if feed is not None else None


def register(app, ctx) -> None:
    def ack_reaction(ack):
        ack()

    def apply(body: dict, event: dict, client, decide: Callable[[int], feedback.Decide]) -> None:
        found = _target(ctx, event)
        if found is None:
            return
        msg, feed, channel, vote = found
        at = feedback.event_time(event.get("event_ts"), body.get("event_time"))
        change = feedback.apply_event(ctx.db, msg["item"], event["user"], "reaction", at, decide(vote), channel,
                                      feed=feed.feed)
        if change.before != change.after:
            refresh_tally(feed, ctx.db, client, msg)

    def vote_by_reaction(body, event, client):
        apply(body, event, client, feedback.becomes)

    def unvote_by_reaction(body, event, client):
        # Only the vote this reaction gave: they may have voted the other way since.
        apply(body, event, client, feedback.takes_back)

    app.event("reaction_added")(ack=ack_reaction, lazy=[vote_by_reaction])
    app.event("reaction_removed")(ack=ack_reaction, lazy=[unvote_by_reaction])
