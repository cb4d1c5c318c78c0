"""The scoring prompt, built from the files in prompts/.

Layout (the order the issue asks for, and the one prompt caching rewards):
  system message: instructions, reply format, <criteria>, rubric, <examples>  -- the prefix
  user message:   <papers> ... </papers>                                       -- per call
The prefix depends only on the run's criteria and few-shot examples, so it is byte-identical
for every call of a run and the provider's prompt cache (from 1,024 tokens) applies.

Outside text (titles, abstracts, the criteria) is data. Papers and examples are written as
one JSON object per line with `<` and `>` escaped, so no text can close a fence or open a
new one; the criteria have their angle brackets replaced for the same reason.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..models import Paper

PROMPTS_DIR = Path(__file__).resolve().parent.parent.parent / "prompts"
PREFIX_FILES = ("instructions.md", "output.md", "rubric.md")
NO_EXAMPLES = "The team has not judged any papers yet."


@dataclass(frozen=True)
class Example:
    """A paper the team judged, shown to the model as calibration."""
    arxiv_id: str
    title: str
    abstract: str  # already shortened
    verdict: int  # +1 liked, -1 disliked


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary, with an ellipsis, so a long abstract costs bounded tokens."""
    text = _clean(text)
    if limit <= 0 or len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + " …"


def data_line(obj: dict) -> str:
    """One JSON object on one line; `<` and `>` escaped so data cannot contain a fence tag."""
    return json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def _fence_text(text: str) -> str:
    return text.replace("<", "‹").replace(">", "›")


def load_templates(folder: Path = PROMPTS_DIR) -> dict[str, str]:
    out = {}
    for name in PREFIX_FILES:
        path = folder / name
        try:
            out[name] = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ValueError(f"prompt file {path} is missing (the LLM scorer needs {', '.join(PREFIX_FILES)})") from None
    return out


def build_prefix(criteria_text: str, examples: list[Example], folder: Path = PROMPTS_DIR,
                 min_relevance: int = 7) -> str:
    """The run's prefix; `min_relevance` (the pick cutoff) is where the reply format asks for
    comments: papers below it get scores only, which is most of the reply's tokens saved."""
    t = load_templates(folder)
    if examples:
        lines = [data_line({"title": _clean(e.title), "abstract": e.abstract,
                            "verdict": "liked" if e.verdict > 0 else "disliked"}) for e in examples]
        examples_block = "\n".join(lines)
    else:
        examples_block = NO_EXAMPLES
    return "\n\n".join([
        t["instructions.md"],
        t["output.md"].replace("{min_relevance}", str(min_relevance)),
        "<criteria>\n" + _fence_text(criteria_text.strip()) + "\n</criteria>",
        t["rubric.md"],
        "<examples>\n" + examples_block + "\n</examples>",
    ]) + "\n"


def papers_block(papers: list[Paper], abstract_chars: int) -> str:
    """The call's papers, numbered from 1: the reply names them by that number ("i"), a
    token or two where an arXiv id takes seven."""
    lines = [data_line({"i": n, "id": p.arxiv_id, "title": _clean(p.title),
                        "abstract": shorten(p.abstract, abstract_chars)})
             for n, p in enumerate(papers, 1)]
    return "<papers>\n" + "\n".join(lines) + "\n</papers>"


def messages(prefix: str, papers: list[Paper], abstract_chars: int) -> list[dict]:
    return [{"role": "system", "content": prefix},
            {"role": "user", "content": papers_block(papers, abstract_chars)}]
