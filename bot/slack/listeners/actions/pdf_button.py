"""The PDF button is a link: Slack opens it and still tells the app, which only acks."""
from __future__ import annotations

from ...blocks import OPEN_PDF


def register(app, ctx) -> None:
    @app.action(OPEN_PDF)
    def ack_pdf_click(ack):
        ack()
