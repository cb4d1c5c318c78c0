"""👍 / 👎 buttons on a paper message: toggle the clicker's vote, confirm it to them alone,
and update the message in place with the team's new tally."""
from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from .... import feedback, store
from ....text import shown_title
from ...blocks import VOTE_DOWN, VOTE_UP
from ...mrkdwn import safe
from ...votes import message_feed, paper_message, refresh_tally

log = logging.getLogger(__name__)
VOTES = {VOTE_UP: 1, VOTE_DOWN: -1}
EMOJI = {1: "👍", -1: "👎"}


def confirmation(title: str, arxiv_id: str, change: feedback.VoteChange) -> str:
    """What the clicker sees (only them): the vote now held, and how to undo it."""
    name = f"*{safe(shown_title(title, arxiv_id), 200)}*"  # LaTeX as Unicode, as in the thread
    if change.after == 0:
        return f"Your {EMOJI[change.before]} on {name} is removed."
    if change.before:
        return f"Changed your vote on {name} from {EMOJI[change.before]} to {EMOJI[change.after]}."
    return f"{EMOJI[change.after]} noted on {name}. Click {EMOJI[change.after]} again to take it back."


def register(app, ctx) -> None:
    def ack_vote(ack):
        ack()

    def record_vote(body, action):
        user = (body.get("user") or {}).get("id", "")
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
        ts = container.get("message_ts") or (body.get("message") or {}).get("ts", "")
        arxiv_id = (action.get("value") or "").strip()
        paper = store.get_paper(ctx.db, arxiv_id) if arxiv_id else None
        msg = paper_message(ctx.db, channel, ts, arxiv_id)
        # The message's delivery row names its feed; a message not on record counts for the channel's feed.
        feed = message_feed(ctx, msg) if msg is not None else ctx.feed_for_channel(channel)
        if paper is None or not user or feed is None:
            log.warning("vote button for unknown paper %r (or a message of no feed) ignored", arxiv_id[:40])
            if channel and user:
                ctx.client.chat_postEphemeral(channel=channel, user=user,
                                              text="I do not know that paper any more; the vote was not recorded.")
            return
        # Clicks apply in the order of their own time: one delivered late changes nothing.
        at = feedback.event_time(action.get("action_ts"))
        change = feedback.toggle_vote(ctx.db, arxiv_id, user, VOTES[action["action_id"]], "button", channel, at,
                                      feed=feed.feed)
        if not change.applied:
            log.info("a click older than %s's latest on %s arrived late; recorded, vote kept", user, arxiv_id)
            return
        # The vote is stored; a failed update or confirmation is logged and loses nothing.
        if msg is not None:
            refresh_tally(feed, ctx.db, ctx.client, msg)
        try:
            ctx.client.chat_postEphemeral(channel=channel, user=user, text=confirmation(paper.title, arxiv_id, change),
                                          thread_ts=msg["thread_ts"] if msg else None)
        except SlackApiError as exc:
            log.warning("could not confirm a vote to %s: %s", user, exc.response.get("error"))

    for action_id in VOTES:
        app.action(action_id)(ack=ack_vote, lazy=[record_vote])
