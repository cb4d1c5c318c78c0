"""Block Kit for the daily thread: the parent message and one message per picked paper.

Pure functions (no I/O). Every outside string passes through `mrkdwn.safe` or
`mrkdwn.plain`, and every field is cut below Block Kit's limits.
"""
from __future__ import annotations

from datetime import date as Date

from ..digest import DayReport, Pick, scorer_words
from .mrkdwn import escape, plain, safe, short_authors

# Action ids the listeners handle; the value of the vote buttons is the arXiv id.
VOTE_UP = "vote_up"
VOTE_DOWN = "vote_down"
OPEN_PDF = "open_pdf"  # a URL button: Slack still sends the click, the app only acks it
PAPER_BLOCK_PREFIX = "paper:"  # block_id of a paper's actions block: "paper:<arxiv_id>"

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
TITLE_CHARS = 250
COMMENT_CHARS = 500
TEXT_FALLBACK_CHARS = 1000


def _money(usage: dict) -> str:
    cost = (usage or {}).get("cost")
    return "free (local model)" if cost is None else f"${cost:.2f}"


def _day(date: str) -> str:
    return Date.fromisoformat(date).strftime("%a %d %b %Y")


def parent_text(report: DayReport) -> str:
    """Top-level fallback (notifications, screen readers)."""
    return f"arXiv picks for {_day(report.date)}: {len(report.picks)} of {report.n_scanned} papers"


def parent_blocks(report: DayReport, top_titles: int = 5) -> list[dict]:
    picked, scanned = len(report.picks), report.n_scanned
    version = f"v{report.criteria_version}" if report.criteria_version else "default"
    summary = (f"*{picked}* picked of *{scanned}* scanned ({report.n_feed} in the feed)\n"
               f"Scored by {escape(scorer_words(report.scorer))} · cost {_money(report.usage)} · criteria {version}")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(f"📚 arXiv picks · {_day(report.date)}", HEADER_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
    ]
    top = [pk.shown() for pk in report.picks[:top_titles]]  # readable, like the digest
    if top:
        per = (SECTION_LIMIT - 40) // len(top) - 60  # room for numbering and the link markup
        lines = [f"{i}. <{pk.paper.abs_url}|{safe(pk.paper.title, min(TITLE_CHARS, per))}>" for i, pk in enumerate(top, 1)]
        if picked > len(top):
            lines.append(f"… and {picked - len(top)} more in the thread")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Top picks*\n" + "\n".join(lines)}})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                       "One reply per paper in the thread below. Vote with 👍 / 👎 (buttons or reactions) to teach the ranker."}]})
    return blocks


def paper_text(pick: Pick) -> str:
    """The paper's notification text: its title, cut so that its "(arXiv id)" always stays."""
    pick = pick.shown()
    tail = f" ({escape(pick.paper.arxiv_id)})"
    return safe(pick.paper.title, TEXT_FALLBACK_CHARS - len(tail)) + tail


def render_paper_blocks(pick: Pick, tally: dict | None = None, *, rank: int | None = None,
                        abstract_chars: int = 400, max_authors: int = 4) -> list[dict]:
    """One paper's message; call again with the new tally to update it in place."""
    pick = pick.shown()  # readable text (no LaTeX, no bidi controls), as in the digest
    p, s = pick.paper, pick.score
    tally = tally or {}
    up, down = int(tally.get("up", 0)), int(tally.get("down", 0))
    # Slack has no escape for * _ ~ `: outside text is never put inside a formatting span
    # (where its own markers would nest or close ours). Only the rank is bold; the title is
    # the link's label.
    number = f"*{rank}.* " if rank else ""
    head = f"{number}<{p.abs_url}|{safe(p.title, TITLE_CHARS)}>\n{short_authors(p.authors, max_authors)}"
    if pick.author_match:
        score_line = f"⭐ Author match: {safe(', '.join(pick.author_match), 300)}"
    else:
        score_line = f"Relevance *{s.relevance}*/10 · Novelty *{s.novelty}*/10"
    if s.comment and not pick.author_match:
        score_line += f"\n{safe(s.comment, COMMENT_CHARS)}"
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head}},
        {"type": "section", "text": {"type": "mrkdwn", "text": score_line}},
    ]
    if abstract_chars and p.abstract:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": "> " + safe(p.abstract, min(abstract_chars, SECTION_LIMIT - 2))}})
    cats = " · ".join(escape(c) for c in p.categories[:4])
    context = f"`{escape(p.arxiv_id)}`" + (f" · {cats}" if cats else "") + f" · team 👍 {up} · 👎 {down}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    blocks.append({"type": "actions", "block_id": f"{PAPER_BLOCK_PREFIX}{p.arxiv_id}"[:255], "elements": [
        {"type": "button", "action_id": VOTE_UP, "value": p.arxiv_id,
         "text": {"type": "plain_text", "text": f"👍 {up}", "emoji": True}},
        {"type": "button", "action_id": VOTE_DOWN, "value": p.arxiv_id,
         "text": {"type": "plain_text", "text": f"👎 {down}", "emoji": True}},
        {"type": "button", "action_id": OPEN_PDF, "url": p.pdf_link,
         "text": {"type": "plain_text", "text": "PDF", "emoji": True}},
    ]})
    return blocks
