"""Listeners for submitted views (modals)."""
from __future__ import annotations


def register(app, ctx) -> None:
    from . import criteria_modal

    criteria_modal.register(app, ctx)
