"""Few-shot examples from the team's thumbs: the design's core loop (a thumb today changes
tomorrow's prompt). Each feed's examples come from its own votes only.

Up to N papers with a net team verdict, balanced between liked and disliked, the most
recently voted first, skipping near-duplicates so the examples cover different ground.
Chosen once per run, in a stable order, so the prompt prefix stays identical across calls.
"""
from __future__ import annotations

import re

from .. import feedback, store
from .prompt import Example, shorten

DUPLICATE_OVERLAP = 0.5  # word-set Jaccard above which two examples say the same thing
_WORD = re.compile(r"[a-z0-9]{3,}")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _diverse(rows: list[dict], k: int) -> list[dict]:
    """Take rows in recency order, passing over near-duplicates of those taken; top up with
    the passed-over ones if that leaves fewer than k."""
    taken, skipped, bags = [], [], []
    for r in rows:
        if len(taken) == k:
            break
        bag = _words(r["title"] + " " + (r["abstract"] or "")[:400])
        if any(_jaccard(bag, b) > DUPLICATE_OVERLAP for b in bags):
            skipped.append(r)
            continue
        taken.append(r)
        bags.append(bag)
    return taken + skipped[:k - len(taken)]


def team_verdicts(db, exclude: set[str] = frozenset(), *, feed: str) -> tuple[list[dict], list[dict]]:
    """(liked, disliked) papers with a net verdict in the feed, most recently voted first (votes
    on papers this database has no text for are passed over)."""
    verdicts = [v for v in feedback.net_verdicts(db, feed=feed) if v["arxiv_id"] not in exclude]
    papers = store.get_papers(db, [v["arxiv_id"] for v in verdicts])
    liked, disliked = [], []
    for v in verdicts:
        paper = papers.get(v["arxiv_id"])
        if paper is None:
            continue
        (liked if v["net"] > 0 else disliked).append({**v, "title": paper.title, "abstract": paper.abstract})
    return liked, disliked


def choose_examples(db, n: int, exclude: set[str] = frozenset(), abstract_chars: int = 300, *,
                    feed: str) -> list[Example]:
    """Up to n examples from the feed's votes, half liked and half disliked when both exist (the
    other side fills in when one is short), interleaved liked/disliked so neither verdict reads
    as the norm."""
    if n <= 0:
        return []
    liked, disliked = team_verdicts(db, exclude, feed=feed)
    n_liked = min(len(liked), max(n - n // 2, n - len(disliked)))
    n_disliked = min(len(disliked), n - n_liked)
    ups, downs = _diverse(liked, n_liked), _diverse(disliked, n_disliked)
    ordered = []
    for i in range(max(len(ups), len(downs))):
        ordered += [r for r in (ups[i:i + 1] + downs[i:i + 1])]
    return [Example(r["arxiv_id"], r["title"], shorten(r["abstract"], abstract_chars), 1 if r["net"] > 0 else -1)
            for r in ordered]
