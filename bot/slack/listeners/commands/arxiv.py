"""The `/arxiv` slash command: routes the first word to its subcommand module; a feed's
subcommand acts on the feed of the channel it is typed in.

Every answer goes back in the ack (only the caller sees it); slow work continues in a
background thread after the ack. No input, however odd, gets a stack trace: unknown
words answer the usage, and an unexpected failure answers one sentence (details logged).
"""
from __future__ import annotations

import logging

from ....config import ConfigError
from ...mrkdwn import escape
from . import authors, categories, criteria, feed_list, run, stats, usage
from .invocation import Answer, parse, start_later

log = logging.getLogger(__name__)
COMMAND = "/arxiv"
# Subcommands acting on the feed of the channel they are typed in.
FEED_SUBCOMMANDS = {
    "criteria": criteria.answer,
    "history": criteria.history_answer,
    "authors": authors.answer,
    "categories": categories.answer,
    "run": run.answer,
    "stats": stats.answer,
}
# Subcommands about the installation, answered in any channel.
SUBCOMMANDS = {
    "feeds": feed_list.listing,
    "feed": feed_list.start_here,
    "help": usage.answer,
    "": usage.answer,
}


def _handler(ctx, inv):
    """The subcommand's handler, with the channel's feed in `inv` for a feed's subcommand;
    in a channel with no feed, where the feeds are instead."""
    if inv.sub not in FEED_SUBCOMMANDS and inv.sub != "":
        return SUBCOMMANDS.get(inv.sub)
    inv.feed = ctx.feed_for_channel(inv.channel_id, inv.channel_name)
    if inv.feed is None:
        return feed_list.where_feeds_are
    return FEED_SUBCOMMANDS.get(inv.sub) or SUBCOMMANDS[inv.sub]


def dispatch(ctx, inv) -> Answer:
    try:
        handler = _handler(ctx, inv)
        if handler is None:
            return usage.unknown(" ".join([inv.sub, inv.rest]).strip())
        return handler(ctx, inv)
    except ConfigError as exc:  # e.g. two feeds on one channel: the operator's to fix, said as it is
        return Answer(f":warning: The app's settings need fixing before `/arxiv {escape(inv.sub)}` can work: "
                      f"{escape(str(exc))}")
    except Exception as exc:
        log.exception("/arxiv %s failed", inv.sub)
        return Answer(f":warning: `/arxiv {inv.sub}` failed on my side ({type(exc).__name__}); "
                      "the details are in the app's log.")


def register(app, ctx) -> None:
    @app.command(COMMAND)
    def arxiv_command(ack, command, respond):
        inv = parse(command, respond)
        answer = dispatch(ctx, inv)
        if answer.text:
            ack(text=answer.text)
        else:
            ack()
        if answer.later is not None:
            start_later(inv, answer.later)
