"""A long text in parts Slack can hold: a plain_text_input takes at most 3,000 characters
and criteria may hold 8,000. The App Home tab shows the parts as blocks, the criteria
editor puts each in a box of its own and joins the boxes back into the very text."""
from __future__ import annotations

SPLIT_CHARS = 2900  # where a long text is split, leaving room to edit each part


def split_boxes(text: str, limit: int = SPLIT_CHARS) -> tuple[list[str], list[str]]:
    """Consecutive parts of at most `limit` characters, and the joins between them, so that
    part 1 + join 1 + part 2 + ... is `text` again. A part ends at the last line end that
    fits (the line ends, blank lines included, are the join); a line longer than `limit`
    is cut, joined by ""."""
    parts: list[str] = []
    joins: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit + 1]
        end = len(window[:window.rfind("\n")].rstrip("\n")) if "\n" in window else 0
        if end == 0:  # no line end after some text within reach: cut the line
            part, join, rest = rest[:limit], "", rest[limit:]
        else:  # the part ends at a line end; the line ends that follow are the join
            part, rest = rest[:end], rest[end:]
            join = rest[:len(rest) - len(rest.lstrip("\n"))]
            rest = rest[len(join):]
        parts.append(part)
        joins.append(join)
    parts.append(rest)
    return parts, joins


def split_parts(text: str, limit: int = SPLIT_CHARS) -> list[str]:
    """The parts of `split_boxes` (for showing a long text in several blocks)."""
    return split_boxes(text, limit)[0]
