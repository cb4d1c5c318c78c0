"""Making outside text safe and short for Slack.

Titles, abstracts, author names and comments come from arXiv or an LLM: in mrkdwn an
unescaped `<!channel>` pings everyone and `<https://x|y>` disguises a link, so `&`, `<`
and `>` are always escaped. Block Kit rejects a whole message when one field is too long,
so text is cut at a word boundary, measured after escaping.
"""
from __future__ import annotations

# The cutter is shared with the Markdown digest (one definition, in bot.text).
from ..text import author_line, clip, one_line
from ..text import cut as _cut


def escape(text: str | None) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def squash(text: str | None) -> str:
    """One line: newlines and runs of spaces in feed text become single spaces, and bidi,
    zero-width and control characters are dropped (they would reorder or hide text)."""
    return one_line(text)


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
    return safe(author_line(names, keep), limit)
