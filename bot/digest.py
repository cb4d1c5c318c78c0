"""Render a day's picks as the digest users of gpt_paper_assistant know (Markdown), plus a
JSON twin for machines. Pure functions of a DayReport: no I/O here but `write`."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path

from .models import Paper, Score


@dataclass
class Pick:
    paper: Paper
    score: Score
    author_match: list[str] = field(default_factory=list)
    why: str = ""  # extra explanation (e.g. feedback-driven), may be empty


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


def _md_text(s: str) -> str:
    """Keep outside text from breaking Markdown structure (links, HTML)."""
    s = re.sub(r"\s+", " ", s or "").strip()
    return s.replace("<", "&lt;").replace(">", "&gt;")


def _md_link_text(s: str) -> str:
    return _md_text(s).replace("[", "\\[").replace("]", "\\]")


def _money(x: float | None) -> str:
    return "unknown" if x is None else f"${x:.2f}"


def render_markdown(r: DayReport) -> str:
    d = Date.fromisoformat(r.date)
    out = [f"# Personalized Daily Arxiv Papers {d.strftime('%m/%d/%Y')}", ""]
    u = r.usage or {}
    if u.get("prompt_tokens") is not None and u.get("model"):
        p, c = int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0))
        cached = int(u.get("cached_tokens") or 0)
        out += [
            f"| *[{u['model']}]*   | Prompt   | Completion   | Total   |",
            "|--------------|----------|--------------|---------|",
            f"| **Token**    | {p}    | {c}         | {p + c}   |",
            f"| **Cached**   | {cached}    | -         | {cached}   |",
            f"| **Cost**     | {_money(u.get('prompt_cost'))}    | {_money(u.get('completion_cost'))}        | {_money(u.get('cost'))}   |",
            "",
        ]
    out += [
        f"Total ArXiv papers: {r.n_feed}", "",
        f"Total scanned papers: {r.n_scanned}", "",
        f"Total relevant papers: {len(r.picks)}", "",
        f"Scorer: {r.scorer}; criteria version {r.criteria_version}", "",
    ]
    for note in r.notes:
        out += [f"> {_md_text(note)}", ""]
    out += ["**Table of contents with paper titles:**", ""]
    for i, pk in enumerate(r.picks, 1):
        out += [f"{i}. [{_md_link_text(pk.paper.title)}](#user-content-link{i})",
                f"**Authors:** {_md_text(', '.join(pk.paper.authors))}", ""]
    out += ["---", ""]
    for i, pk in enumerate(r.picks, 1):
        p, s = pk.paper, pk.score
        out += [f"## {i}. [{_md_link_text(p.title)}]({p.abs_url}) <a id=\"link{i}\"></a>", "",
                f"**ArXiv ID:** {p.arxiv_id}", "",
                f"**Authors:** {_md_text(', '.join(p.authors))}", "",
                f"**Abstract:** {_md_text(p.abstract)}", ""]
        comment = "Author match" if pk.author_match else _md_text(s.comment)
        out += [f"**Comment:** {comment}", ""]
        if pk.author_match:
            out += [f"**Matched authors:** {_md_text(', '.join(pk.author_match))}", ""]
        if pk.why:
            out += [f"**Why:** {_md_text(pk.why)}", ""]
        extra = [f"[PDF]({p.pdf_link})"]
        if p.categories:
            extra.append("Categories: " + ", ".join(_md_text(c) for c in p.categories))
        if p.announce_type != "new":
            extra.append(f"Announce type: {_md_text(p.announce_type)}")
        out += [" | ".join(extra), ""]
        out += [f"**Relevance:** {s.relevance}", f"**Novelty:** {s.novelty}", "",
                f"*Scored by {s.source}*", "", "---", ""]
    out += [f"# {'Paper Selection Prompt' if r.prompt_text else 'Criteria Used'}", ""]
    out += [r.prompt_text or r.criteria_text, ""]
    return "\n".join(out)


def to_json(r: DayReport) -> dict:
    return {
        "date": r.date,
        "totals": {"arxiv_papers": r.n_feed, "scanned": r.n_scanned, "relevant": len(r.picks)},
        "scorer": r.scorer,
        "criteria_version": r.criteria_version,
        "usage": r.usage,
        "notes": r.notes,
        "papers": [{
            "rank": i,
            **pk.paper.to_dict(),
            "url": pk.paper.abs_url,
            "relevance": pk.score.relevance,
            "novelty": pk.score.novelty,
            "comment": "Author match" if pk.author_match else pk.score.comment,
            "score_source": pk.score.source,
            "author_match": pk.author_match,
            "why": pk.why,
        } for i, pk in enumerate(r.picks, 1)],
        "criteria": r.criteria_text,
    }


def write(r: DayReport, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md, js = folder / f"{r.date}.md", folder / f"{r.date}.json"
    # Write-then-rename: a crash never leaves half a digest behind.
    for path, text in ((md, render_markdown(r)), (js, json.dumps(to_json(r), indent=2, ensure_ascii=False) + "\n")):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return md, js
