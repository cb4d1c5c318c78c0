"""Listeners for Events API events: reactions (votes) and the App Home tab."""
from __future__ import annotations


def register(app, ctx) -> None:
    from . import app_home_opened, reactions

    reactions.register(app, ctx)
    app_home_opened.register(app, ctx)
