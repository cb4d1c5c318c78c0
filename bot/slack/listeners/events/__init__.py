"""Listeners for Events API events: reactions (votes) and the App Home tab."""
from __future__ import annotations


def register(app, ctx) -> None:
    from ...thread_db import listener_ctx
    from . import app_home_opened, reactions

    ctx = listener_ctx(ctx)  # each listener thread works on its own SQLite connection
    reactions.register(app, ctx)
    app_home_opened.register(app, ctx)
