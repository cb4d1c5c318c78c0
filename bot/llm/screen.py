"""The title screen: the LLM reads the titles of the papers the local ranker is unsure of
and names those worth reading; only they (and the local ranker's own picks) go on to the
abstract calls. A title costs about 20 prompt tokens where a paper with its abstract costs
150 or more, and the screen's reply is the numbers of the papers kept.

The screen's reply fills the "read" list of the scoring calls' reply shape (prompts/output.md),
so the same schema (structured output) and the same strict reading apply: a number that names no
title of the call is dropped. When a screen call fails, its papers all go on to the
abstracts: the screen may save money, never lose a pick to an outage.
"""
from __future__ import annotations

import json

from dataclasses import dataclass, field
from pathlib import Path

from ..models import Paper
from .prompt import PROMPTS_DIR, _clean, _fence_text, data_line
from .replies import parse_reply

SCREEN_FILE = "screen.md"
OUTPUT_TOKENS_PER_TITLE = 4  # the cap of a screen call's reply: a number per title kept, at most
OUTPUT_TOKENS_BASE = 100


def screen_prefix(criteria_text: str, min_relevance: int, folder: Path = PROMPTS_DIR) -> str:
    path = folder / SCREEN_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ValueError(f"prompt file {path} is missing (llm.title_screen needs it; or set it to false)") from None
    return (text.replace("{min_relevance}", str(min_relevance)) + "\n\n<criteria>\n"
            + _fence_text(criteria_text.strip()) + "\n</criteria>\n")


def titles_block(papers: list[Paper]) -> str:
    lines = [data_line({"i": n, "title": _clean(p.title)}) for n, p in enumerate(papers, 1)]
    return "<papers>\n" + "\n".join(lines) + "\n</papers>"


def screen_messages(prefix: str, papers: list[Paper]) -> list[dict]:
    return [{"role": "system", "content": prefix}, {"role": "user", "content": titles_block(papers)}]


def screen_max_tokens(n: int) -> int:
    return OUTPUT_TOKENS_PER_TITLE * n + OUTPUT_TOKENS_BASE


@dataclass
class ScreenResult:
    read: list[Paper] = field(default_factory=list)  # go on to the abstract calls
    skipped: list[Paper] = field(default_factory=list)  # keep their local score
    screened: int = 0  # titles the LLM read
    failed_calls: int = 0  # calls whose papers all went on for want of an answer
    calls: int = 0

    def add(self, batch: list[Paper], keep: set[str] | None) -> None:
        """One screen call's outcome: `keep` None (no readable answer) sends the whole batch on."""
        self.calls += 1
        self.screened += len(batch)
        if keep is None:
            self.failed_calls += 1
            self.read += batch
            return
        self.read += [p for p in batch if p.arxiv_id in keep]
        self.skipped += [p for p in batch if p.arxiv_id not in keep]

    def note(self) -> str:
        failed = (f"; {self.failed_calls} of its {self.calls} calls got no usable answer, so their papers "
                  "went on unscreened") if self.failed_calls else ""
        return (f"Title screen: the LLM read {self.screened} titles below the local pick cutoff and left out "
                f"{len(self.skipped)} (they keep their local score){failed}.")


def titles_kept(content: str | None, batch: list[Paper]) -> set[str] | None:
    """The ids a screen reply keeps; None when the reply cannot be read or is no screen's answer
    (no "read" list, e.g. scores instead): then they all go on, since a title dropped here never
    reaches the LLM again."""
    if content is None or not _names_a_read_list(content):
        return None
    parsed = parse_reply(content, [p.arxiv_id for p in batch])
    if parsed.not_json or parsed.refusal:
        return None
    return set(parsed.read)


def _names_a_read_list(content: str) -> bool:
    try:
        doc = json.loads(content.strip().removeprefix("```json").removesuffix("```"), strict=False)
    except json.JSONDecodeError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("read"), list)
