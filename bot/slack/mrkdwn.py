"""Making outside text safe and short for Slack.

Titles, abstracts, author names and comments come from arXiv or an LLM: in mrkdwn an
unescaped `<!channel>` pings everyone and `<https://x|y>` disguises a link, so `&`, `<`
and `>` are always escaped. Block Kit rejects a whole message when one field is too long,
so text is cut at a word boundary, measured after escaping.
"""
from __future__ import annotations

import re
from typing import Callable

ELLIPSIS = "…"


def escape(text: str | None) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def squash(text: str | None) -> str:
    """One line: newlines and runs of spaces in feed text become single spaces."""
    return re.sub(r"\s+", " ", text or "").strip()


def _cut(text: str, limit: int, width: Callable[[str], int]) -> str:
    """`text` in at most `limit` units as `width` measures each character: unchanged when
    it fits, else its longest prefix that fits beside the ellipsis, backed up to a word
    boundary when one is not too far back. Never empty for non-empty text and limit >= 1."""
    if sum(map(width, text)) <= limit:
        return text
    if limit < len(ELLIPSIS):
        return ""
    room, used, n = limit - len(ELLIPSIS), 0, 0
    for ch in text:
        used += width(ch)
        if used > room:
            break
        n += 1
    cut = text[:n]
    if text[n:n + 1] != " ":  # the cut fell inside a word
        space = cut.rfind(" ")
        if space >= n // 2:  # a word boundary not too far back; else cut mid-word
            cut = cut[:space]
    return (cut.rstrip(" ,;:.-") or cut) + ELLIPSIS


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when cut."""
    return _cut(text, limit, lambda ch: 1)


def safe(text: str | None, limit: int) -> str:
    """Squashed, cut and escaped so the *escaped* text fits in `limit` characters.

    The cut counts each character at its escaped width (`&` takes 5), so entities cost
    only their own share of the budget and are never split in half.
    """
    return escape(_cut(squash(text), limit, lambda ch: len(escape(ch))))


def plain(text: str | None, limit: int) -> str:
    """For plain_text fields (headers, button labels): no escaping needed, only length."""
    return clip(squash(text), limit)


def short_authors(authors: list[str], keep: int, limit: int = 300) -> str:
    """"A, B, C et al. (12 authors)" — escaped and cut."""
    names = [squash(a) for a in authors if squash(a)]
    if not names:
        return "unknown authors"
    shown = ", ".join(names[:keep])
    if len(names) > keep:
        shown += f" et al. ({len(names)} authors)"
    return safe(shown, limit)
