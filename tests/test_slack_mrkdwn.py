"""Outside text made safe and short for Slack (bot.slack.mrkdwn): escaped, cut by what a
reader sees, within the budget after escaping, never cut to nothing or inside an entity."""
from __future__ import annotations

import random
import re

import pytest

from bot.slack.mrkdwn import escape, plain, safe
from bot.text import ELLIPSIS, clip

ENTITY = re.compile(r"&(amp|lt|gt);")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def broken_entity(text: str) -> bool:
    """An `&` that does not start one of the three entities Slack knows."""
    return any(not ENTITY.match(text, m.start()) for m in re.finditer("&", text))


def assert_safe_cut(source: str, limit: int, out: str) -> None:
    """The properties every `safe` result has, whatever the input."""
    squashed = " ".join(source.split())
    assert len(out) <= limit, (source, limit, out)
    assert not broken_entity(out), out
    assert "<" not in out and ">" not in out
    if limit < 1:
        assert out == ""
        return
    if squashed:
        assert out, (source, limit)
    shown = unescape(out)
    if shown == squashed:
        return
    assert shown.endswith(ELLIPSIS), out
    assert squashed.startswith(shown[:-len(ELLIPSIS)]), (squashed, out)


@pytest.mark.parametrize("source,limit,expected", [
    ("short & sweet", 250, "short &amp; sweet"),
    ("<!channel> hi", 250, "&lt;!channel&gt; hi"),
    ("&" * 400, 250, "&amp;" * 49 + ELLIPSIS),
    ("&" * 10, 13, "&amp;&amp;" + ELLIPSIS),  # two entities fit with the ellipsis, never a third half
    ("a&b", 5, "a" + ELLIPSIS),  # "&amp;" does not fit beside "a" and the ellipsis: not split
    ("&x", 3, ELLIPSIS),  # not even one entity fits: the ellipsis alone, never ""
    ("word " * 10, 20, "word word word word" + ELLIPSIS),  # the cut fell between words: kept
    ("wording " * 10, 20, "wording wording" + ELLIPSIS),  # inside a word: back to its start
    ("<<<<", 0, ""),
])
def test_safe_cuts_by_visible_characters_within_the_escaped_budget(source, limit, expected):
    out = safe(source, limit)
    assert out == expected
    assert_safe_cut(source, limit, out)


def test_entities_take_no_more_than_their_share_of_the_budget():
    # Each "a & " is 4 visible characters, 8 escaped: a 250 budget shows about 31 of them.
    out = safe("a & " * 100, 250)
    assert len(out) <= 250 and len(out) >= 240
    assert out.count("&amp;") >= 30 and not broken_entity(out)


def test_property_random_strings_of_entities_and_letters():
    rng = random.Random(20261201)
    alphabet = "&<>ab c"
    for _ in range(3000):
        source = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120)))
        limit = rng.randint(1, 130)
        assert_safe_cut(source, limit, safe(source, limit))


def test_plain_and_clip_cut_without_escaping():
    assert plain("<b>  bold\n text</b>", 100) == "<b> bold text</b>"
    assert clip("x" * 10, 5) == "xxxx" + ELLIPSIS and clip("abc", 3) == "abc"
    assert clip("abc", 1) == ELLIPSIS and clip("abc", 0) == ""
    assert escape("<&>") == "&lt;&amp;&gt;" and escape(None) == ""
