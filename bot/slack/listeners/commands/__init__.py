"""Slack commands listeners (filled in by the listeners work)."""
from __future__ import annotations


def register(app, ctx) -> None:
    """Attach this kind's listeners to the app."""
