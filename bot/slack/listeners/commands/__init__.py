"""Slash command listeners: `/arxiv` and its subcommands, one module each."""
from __future__ import annotations


def register(app, ctx) -> None:
    from . import arxiv

    arxiv.register(app, ctx)
