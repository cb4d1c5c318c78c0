"""Listeners grouped by kind, one small module per listener in each subpackage."""
from __future__ import annotations

from slack_bolt import App

from ..context import AppContext


def register_listeners(app: App, ctx: AppContext) -> None:
    from . import actions, commands, events, views

    actions.register(app, ctx)
    events.register(app, ctx)
    commands.register(app, ctx)
    views.register(app, ctx)
