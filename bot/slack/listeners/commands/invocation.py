"""One `/arxiv` call as the subcommands see it, and what they answer.

A subcommand answers at once (the text goes back in the ack, visible only to the caller)
and may hand back `later`: slow work (a run, opening a modal) that starts in a background
thread only after the ack has been sent, so Slack always gets its answer within 3 s.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

from ....config import Settings
from ...thread_db import close_thread_dbs

log = logging.getLogger(__name__)


@dataclass
class Invocation:
    user_id: str
    channel_id: str
    sub: str  # the first word, lowercased ("" when none)
    args: list[str]  # the words after it
    rest: str  # the raw text after the subcommand word (names may contain spaces)
    trigger_id: str = ""
    respond: Callable[..., object] = field(default=lambda *a, **k: None)  # posts to response_url
    channel_name: str = ""  # as Slack sends it (untrusted: shown escaped only)
    # The feed of the channel the command was typed in (its Settings), None in a channel with no feed.
    feed: Settings | None = None


@dataclass
class Answer:
    text: str = ""
    later: Callable[[], None] | None = None


def parse(command: dict, respond=None) -> Invocation:
    text = (command.get("text") or "").strip()
    sub, _, rest = text.partition(" ")
    return Invocation(
        user_id=command.get("user_id", ""), channel_id=command.get("channel_id", ""),
        sub=sub.lower(), args=rest.split(), rest=rest.strip(), trigger_id=command.get("trigger_id", ""),
        respond=respond or (lambda *a, **k: None), channel_name=command.get("channel_name", ""))


def start_later(inv: Invocation, work: Callable[[], None]) -> threading.Thread:
    """Run `work` in a daemon thread; a failure is logged and told to the caller, never raised."""
    def guarded():
        try:
            work()
        except Exception as exc:  # the caller gets a sentence, the log gets the trace
            log.exception("/arxiv %s failed in the background", inv.sub)
            try:
                inv.respond(f":warning: `/arxiv {inv.sub}` failed on my side ({type(exc).__name__}); "
                            "the details are in the app's log.")
            except Exception:
                log.exception("could not tell the caller about the failure")
        finally:
            close_thread_dbs()  # this thread ends here; its SQLite connection with it

    thread = threading.Thread(target=guarded, name=f"arxiv-{inv.sub or 'cmd'}", daemon=True)
    thread.start()
    return thread
