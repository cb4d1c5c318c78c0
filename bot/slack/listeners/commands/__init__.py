"""Slash command listeners: `/arxiv` and its subcommands, one module each."""
from __future__ import annotations


def register(app, ctx) -> None:
    from ...thread_db import listener_ctx
    from . import arxiv

    ctx = listener_ctx(ctx)  # each listener thread works on its own SQLite connection
    arxiv.register(app, ctx)
