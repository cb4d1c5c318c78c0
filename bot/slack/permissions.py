"""Who may change the team's criteria, authors and categories (and start a run).

`[slack] admins` in settings lists Slack user ids; an empty list lets anyone in the
workspace make changes. Every change is recorded with `bot.store.audit` either way.
"""
from __future__ import annotations

import re

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def admins(settings) -> list[str]:
    return list(settings.get("slack.admins") or [])


def may_change(settings, user_id: str | None) -> bool:
    allowed = admins(settings)
    return not allowed or (user_id or "") in allowed


def mention(user_id: str | None) -> str:
    """`<@U123>` for a real Slack user id; anything else (e.g. "settings") as plain escaped text."""
    if user_id and _USER_ID.match(user_id):
        return f"<@{user_id}>"
    text = user_id or "unknown"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def refusal(settings, what: str) -> str:
    """The answer to a user who may not do `what`, naming who may."""
    who = ", ".join(mention(u) for u in admins(settings))
    return f":no_entry: Only the team's admins may {what}: {who}. Ask one of them, or ask them to add you to `[slack] admins`."
