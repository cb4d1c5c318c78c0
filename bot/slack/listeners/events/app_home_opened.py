"""Opening the app's Home tab publishes a fresh view for that user."""
from __future__ import annotations

import logging

from ...home import publish_home

log = logging.getLogger(__name__)


def register(app, ctx) -> None:
    def ack_home_opened(ack):
        ack()

    def publish_home_tab(event, client):
        if event.get("tab", "home") != "home" or not event.get("user"):
            return  # the Messages tab
        publish_home(ctx, client, event["user"])

    app.event("app_home_opened")(ack=ack_home_opened, lazy=[publish_home_tab])
