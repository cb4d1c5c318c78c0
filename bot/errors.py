"""Errors shared across surfaces, so the core can name them without importing those surfaces."""
from __future__ import annotations


class ExplainedError(Exception):
    """An error whose message already says what is wrong and what to do: the command line
    prints it as it is, with no traceback (Slack unreachable, raised by bot.slack.client)."""
