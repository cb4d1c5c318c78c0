"""Listeners for interactive components: vote buttons, the PDF link, the Home tab button."""
from __future__ import annotations


def register(app, ctx) -> None:
    from ...thread_db import listener_ctx
    from . import open_criteria_editor, pdf_button, vote_buttons

    ctx = listener_ctx(ctx)  # each listener thread works on its own SQLite connection
    vote_buttons.register(app, ctx)
    pdf_button.register(app, ctx)
    open_criteria_editor.register(app, ctx)
