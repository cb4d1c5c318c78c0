"""Listeners for submitted views (modals)."""
from __future__ import annotations


def register(app, ctx) -> None:
    from ...thread_db import listener_ctx
    from . import criteria_modal

    ctx = listener_ctx(ctx)  # each listener thread works on its own SQLite connection
    criteria_modal.register(app, ctx)
