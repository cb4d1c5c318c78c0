"""The Block Kit of the daily thread, read as Slack reads it: outside text never nests in
our formatting, fallbacks keep the paper's id, and readers see words, not scorer ids."""
from __future__ import annotations

import json
import re

import pytest
from slack_sdk.models.blocks import Block

from bot.digest import DayReport, Pick
from bot.models import Paper, Score
from bot.slack.blocks import TEXT_FALLBACK_CHARS, paper_text, parent_blocks, render_paper_blocks

MARKUP_TITLE = "A *bold* claim with _under_ and ~strike~ and `code` inside"


def _pick(title: str, comment: str = "Close to *topic* _one_.") -> Pick:
    p = Paper(arxiv_id="2502.15000", title=title, authors=["Ada Lovelace"], abstract="We study it.",
              categories=["cs.LG"])
    return Pick(p, Score(p.arxiv_id, 8, 6, comment, raw=0.3, source="local"))


def _report(scorer: str, title: str = "Paper one") -> DayReport:
    return DayReport(date="2025-02-24", n_feed=10, n_scanned=8, picks=[_pick(title)], scorer=scorer,
                     criteria_text="x", criteria_version=1)


def _valid(blocks: list[dict]) -> None:
    for b in blocks:
        Block.parse(b).validate_json()


def _spans(text: str) -> list[str]:
    """The text inside each of our bold / italic / strike / code spans on a line."""
    return [m.group(2) for line in text.splitlines() for m in re.finditer(r"(?<![\w])([*_~`])(.+?)\1(?![\w])", line)]


def test_a_title_with_mrkdwn_markup_is_never_inside_a_formatting_span():
    blocks = render_paper_blocks(_pick(MARKUP_TITLE), rank=1)
    _valid(blocks)
    head, score = blocks[0]["text"]["text"], blocks[1]["text"]["text"]
    assert head.startswith("*1.* <https://arxiv.org/abs/2502.15000|A *bold* claim")
    assert MARKUP_TITLE in head  # the title as written, as the link's label
    for span in _spans(head.split("|", 1)[0]) + _spans(score.split("\n", 1)[0]):
        assert "bold" not in span and "under" not in span, span
    assert "_Close to" not in score  # the comment is outside any italic span
    parent = parent_blocks(_report("local:minilm", MARKUP_TITLE))
    _valid(parent)
    top = parent[2]["text"]["text"]
    assert "1. <https://arxiv.org/abs/2502.15000|A *bold* claim" in top and not top.startswith("*Top picks*\n*")


def test_the_text_fallback_of_a_long_title_keeps_its_arxiv_id():
    text = paper_text(_pick("&& " * 100))  # 300 characters, over the fallback's budget once escaped
    assert len(text) <= TEXT_FALLBACK_CHARS and text.endswith("(2502.15000)"), text[-40:]
    assert paper_text(_pick("Short & sweet")) == "Short &amp; sweet (2502.15000)"


@pytest.mark.parametrize("scorer, words", [
    ("local:minilm", "the local ranker"),
    ("local:minilm+taste", "the local ranker + the team's taste model"),
    ("openai:gpt-5.4-nano", "gpt-5.4-nano"),
    ("local:minilm (the LLM calls failed)", "the local ranker (the LLM calls failed)"),
])
def test_the_parent_names_the_scorer_in_words(scorer, words):
    blocks = parent_blocks(_report(scorer))
    _valid(blocks)
    summary = json.dumps(blocks[1], ensure_ascii=False)
    assert f"Scored by {words}" in summary and "local:" not in summary and "openai:" not in summary
