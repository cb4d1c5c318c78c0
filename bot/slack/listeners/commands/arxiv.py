"""The `/arxiv` slash command: routes the first word to its subcommand module.

Every answer goes back in the ack (only the caller sees it); slow work continues in a
background thread after the ack. No input, however odd, gets a stack trace: unknown
words answer the usage, and an unexpected failure answers one sentence (details logged).
"""
from __future__ import annotations

import logging

from . import authors, categories, criteria, run, stats, usage
from .invocation import Answer, parse, start_later

log = logging.getLogger(__name__)
COMMAND = "/arxiv"
SUBCOMMANDS = {
    "criteria": criteria.answer,
    "authors": authors.answer,
    "categories": categories.answer,
    "run": run.answer,
    "stats": stats.answer,
    "help": usage.answer,
    "": usage.answer,
}


def dispatch(ctx, inv) -> Answer:
    handler = SUBCOMMANDS.get(inv.sub)
    if handler is None:
        return usage.unknown(" ".join([inv.sub, inv.rest]).strip())
    try:
        return handler(ctx, inv)
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
