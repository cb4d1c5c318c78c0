"""Render a day's picks as the digest users of gpt_paper_assistant know (Markdown), plus a
JSON twin for machines. Pure functions of a DayReport: no I/O here but `write`.

Outside text (titles, names, abstracts, comments) is shown through `bot.text.readable`
(the same as in Slack), then escaped so that no link, image or HTML in it is live."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import date as Date
from pathlib import Path

from .config import DEFAULT_FEED
from .models import Paper, Score
from .text import (ABSTRACT_CHARS, COMMENT_CHARS, author_line, one_line, readable,
                   readable_names, shown_title, strip_invisible)


@dataclass
class Pick:
    paper: Paper
    score: Score
    author_match: list[str] = field(default_factory=list)
    why: str = ""  # extra explanation (e.g. feedback-driven), may be empty
    # Set by shown(): the text is what readers see. Shown text is not LaTeX-safe to read again
    # (`\$x$` shows as `$x$`), so a shown pick is never read a second time.
    is_shown: bool = False

    def shown(self) -> "Pick":
        """This pick as readers see it (Markdown, JSON, Slack): readable text, capped. The
        text is read once, from the raw fields: a pick already shown comes back as it is."""
        if self.is_shown:
            return self
        p, s = self.paper, self.score
        paper = replace(p, title=shown_title(p.title, p.arxiv_id), authors=readable_names(p.authors),
                        abstract=readable(p.abstract, ABSTRACT_CHARS), comment=readable(p.comment, COMMENT_CHARS),
                        pdf_url=p.pdf_link)
        return Pick(paper, replace(s, comment=readable(s.comment, COMMENT_CHARS)),
                    readable_names(self.author_match), readable(self.why, COMMENT_CHARS), is_shown=True)


@dataclass
class DayReport:
    date: str  # YYYY-MM-DD announcement date
    n_feed: int  # all items in the feed ("Total ArXiv papers")
    n_scanned: int  # items kept and scored ("Total scanned papers")
    picks: list[Pick]
    scorer: str
    criteria_text: str
    criteria_version: int | None
    usage: dict = field(default_factory=dict)  # {"model", "prompt_tokens", "cached_tokens", "completion_tokens", "prompt_cost", "completion_cost", "cost"}
    notes: list[str] = field(default_factory=list)
    prompt_text: str = ""  # the LLM prompt template when an LLM scored
    feed: str = DEFAULT_FEED  # whose day this is; the digest names any feed but the installation's first

    @property
    def names_feed(self) -> bool:
        return bool(self.feed) and self.feed != DEFAULT_FEED

    @property
    def llm_model(self) -> str:
        """The LLM that scored this day ("" for a local-only run)."""
        return (self.usage or {}).get("model") or self.scorer.partition("openai:")[2]


# --- Markdown escaping -------------------------------------------------------------------

_MD_PUNCTUATION = str.maketrans({ch: "\\" + ch for ch in "\\`*_[]|~#$"})
# GFM turns bare http(s)/ftp URLs and www. names into links; a backslash before the `:`
# or the `.` stops that (checked with cmark-gfm), and disarms other schemes for renderers
# that link more of them.
_LINKABLE = re.compile(r"(?i)\b(https?|ftp|javascript|vbscript|data|file|mailto|xmpp):|\b(www)\.")


def _md_text(s: str) -> str:
    """Outside text, one line, inert in Markdown: no emphasis, code, link, image or HTML."""
    s = one_line(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = s.translate(_MD_PUNCTUATION)
    return _LINKABLE.sub(lambda m: f"{m.group(1)}\\:" if m.group(1) else f"{m.group(2)}\\.", s)


def _verbatim(text: str) -> list[str]:
    """A block of outside text (criteria, the prompt) shown as written, in a code fence
    longer than any run of backticks inside it, so nothing in it renders."""
    lines = [strip_invisible(ln).rstrip() for ln in (text or "").splitlines()]
    longest = max((len(run) for run in re.findall(r"`+", "\n".join(lines))), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", *lines, fence]


# --- what the reader is told about each pick -----------------------------------------

LOCAL_RANKER = "the local ranker"
TASTE_RANKER = LOCAL_RANKER + " + the team's taste model"
# The ids a scorer label is made of ("openai:gpt-5.4-nano and local:minilm (...)"): the
# local ranker's (with the taste model or not), and an LLM's, which is named by its model.
_SCORER_ID = re.compile(r"\b(?:local:[\w.-]+(\+taste)?|openai:(\S+))")
_SCORED_BY = {  # Score.source -> words; {model} is the day's LLM, {ranker} the local one
    "llm": "Scored by {model}",
    "local": "Scored by {ranker}",
    "local-fallback": "Scored by {ranker} (the LLM call failed)",
    "local-budget": "Scored by {ranker} (the daily LLM budget was reached)",
    "local-below-cut": "Scored by {ranker} (below the cut sent to {model})",
}


def scored_by(pick: Pick, report: DayReport) -> str:
    """"Scored by gpt-5.4-nano", "Picked: author match (Yoshua Bengio)", ..."""
    if pick.author_match:
        return f"Picked: author match ({', '.join(pick.author_match)})"
    ranker = TASTE_RANKER if report.scorer.endswith("+taste") else LOCAL_RANKER
    words = _SCORED_BY.get(pick.score.source, "Scored by {source}")
    return words.format(model=report.llm_model or "the LLM", ranker=ranker, source=pick.score.source)


def scorer_words(label: str) -> str:
    """A day's scorer label for readers: "the local ranker (the LLM calls failed)" for
    "local:minilm (the LLM calls failed)", "gpt-5.4-nano" for "openai:gpt-5.4-nano"."""
    return _SCORER_ID.sub(lambda m: m.group(2) or (TASTE_RANKER if m.group(1) else LOCAL_RANKER), label or "") \
        or "unknown"


def _money(x: float | None) -> str:
    return "unknown" if x is None else f"${x:.2f}"


def _usage_table(r: DayReport) -> list[str]:
    """The seed's token/cost table; a local-only day says so: local model, $0."""
    u = r.usage or {}
    if not r.llm_model:
        u = {"model": "local model", "prompt_tokens": 0, "completion_tokens": 0,
             "prompt_cost": 0.0, "completion_cost": 0.0, "cost": 0.0}
    elif u.get("prompt_tokens") is None:
        return []  # an LLM day whose usage was not recorded: no made-up numbers
    p, c = int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0))
    rows = [f"| *[{_md_text(u['model'])}]*   | Prompt   | Completion   | Total   |",
            "|--------------|----------|--------------|---------|",
            f"| **Token**    | {p}    | {c}         | {p + c}   |"]
    if r.llm_model:
        cached = int(u.get("cached_tokens") or 0)
        rows.append(f"| **Cached**   | {cached}    | -         | {cached}   |")
    rows.append(f"| **Cost**     | {_money(u.get('prompt_cost'))}    | {_money(u.get('completion_cost'))}        | {_money(u.get('cost'))}   |")
    return rows + [""]


def render_markdown(r: DayReport) -> str:
    d = Date.fromisoformat(r.date)
    out = [f"# Personalized Daily Arxiv Papers {d.strftime('%m/%d/%Y')}", ""]
    if r.names_feed:
        out += [f"Feed: {_md_text(r.feed)}", ""]
    out += _usage_table(r)
    picks = [pk.shown() for pk in r.picks]
    out += [
        f"Total ArXiv papers: {r.n_feed}", "",
        f"Total scanned papers: {r.n_scanned}", "",
        f"Total relevant papers: {len(picks)}", "",
        f"Scorer: {_md_text(scorer_words(r.scorer))}; criteria version {r.criteria_version}", "",
    ]
    for note in r.notes:
        out += [f"> {_md_text(note)}", ""]
    out += ["**Table of contents with paper titles:**", ""]
    for i, pk in enumerate(picks, 1):
        out += [f"{i}. [{_md_text(pk.paper.title)}](#user-content-link{i})",
                f"**Authors:** {_md_text(author_line(pk.paper.authors))}", ""]
    out += ["---", ""]
    for i, pk in enumerate(picks, 1):
        out += _section(i, pk, r)
    out += [f"# {'Paper Selection Prompt' if r.prompt_text else 'Criteria Used'}", ""]
    out += _verbatim(r.prompt_text or r.criteria_text) + [""]
    return "\n".join(out)


def _section(i: int, pk: Pick, r: DayReport) -> list[str]:
    """One paper, in the seed's fields; `pk` is already `shown()`."""
    p, s = pk.paper, pk.score
    out = [f"## {i}. [{_md_text(p.title)}]({p.abs_url}) <a id=\"link{i}\"></a>", "",
           f"**ArXiv ID:** {p.arxiv_id}", "",
           f"**Authors:** {_md_text(author_line(p.authors))}", "",
           f"**Abstract:** {_md_text(p.abstract)}", "",
           f"**Comment:** {_md_text(_comment(pk))}", ""]
    if pk.author_match:
        out += [f"**Matched authors:** {_md_text(', '.join(pk.author_match))}", ""]
    if pk.why:
        out += [f"**Why:** {_md_text(pk.why)}", ""]
    extra = [f"[PDF]({p.pdf_url})"]
    if p.categories:
        extra.append("Categories: " + ", ".join(_md_text(c) for c in p.categories))
    if p.announce_type != "new":
        extra.append(f"Announce type: {_md_text(p.announce_type)}")
    return out + [" | ".join(extra), "",
                  f"**Relevance:** {s.relevance}", f"**Novelty:** {s.novelty}", "",
                  f"*{_md_text(scored_by(pk, r))}*", "", "---", ""]


def _comment(pk: Pick) -> str:
    return "Author match" if pk.author_match else pk.score.comment


def to_json(r: DayReport) -> dict:
    """The Markdown's twin: the same shown text, plus the machine codes beside the words."""
    return {
        "date": r.date,
        **({"feed": r.feed} if r.names_feed else {}),
        "totals": {"arxiv_papers": r.n_feed, "scanned": r.n_scanned, "relevant": len(r.picks)},
        "scorer": r.scorer,
        "scorer_words": scorer_words(r.scorer),
        "criteria_version": r.criteria_version,
        "usage": r.usage,
        "notes": [one_line(n) for n in r.notes],
        "papers": [{
            "rank": i,
            **pk.paper.to_dict(),
            "url": pk.paper.abs_url,
            "relevance": pk.score.relevance,
            "novelty": pk.score.novelty,
            "comment": _comment(pk),
            "score_source": pk.score.source,
            "scored_by": scored_by(pk, r),
            "author_match": pk.author_match,
            "why": pk.why,
        } for i, pk in enumerate((pk.shown() for pk in r.picks), 1)],
        "criteria": r.criteria_text,
    }


def write(r: DayReport, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md, js = folder / f"{r.date}.md", folder / f"{r.date}.json"
    r = replace(r, picks=[pk.shown() for pk in r.picks])  # read once for both files
    # Write-then-rename: a crash never leaves half a digest behind.
    for path, text in ((md, render_markdown(r)), (js, json.dumps(to_json(r), indent=2, ensure_ascii=False) + "\n")):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return md, js
