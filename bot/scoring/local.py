"""The embedded default scorer: no key, no network.

Relevance (the recipe that ranked best zero-shot on the labelled streams; see
bench/zero_shot_study.py and README "How ranking works"):
  1. the criteria become two texts, what the team wants (q+) and what it does not (q-),
     each embedded once with MiniLM;
  2. a short query and an abstract live in different regions of the embedding space, so
     each query is moved onto the papers: its prototype is the mean of the m papers
     nearest to it in the corpus (earlier days' papers and today's; m = 1% of the
     corpus, at least 10), a pseudo-relevance feedback step that needs no labels;
  3. relevance = cos(paper, prototype+) - cos(paper, prototype-), in standard deviations
     above the corpus mean, mapped to 1-10 with a fixed calibration; the corpus holds the
     earlier days, so a weak day gets low scores rather than forced 10s.
The reason names the closest criteria topic.

Novelty: how far a paper sits from its nearest neighbours among recent papers (a paper
unlike anything seen lately scores higher). It is a heuristic and the digest says so.
"""
from __future__ import annotations

import re

import numpy as np

from ..criteria import Criteria, keyword_phrases, query_texts
from ..embed import EmbeddingCache, paper_text
from ..models import Paper, Score
from ..text import clip
from .base import SaveScores, Scorer, ScoringResult

# Calibration of the relevance score (standard deviations above the corpus mean) to the
# 1-10 scale: relevance = 4 + 1.6 z, so the default pick threshold 7 is z >= 1.75 (about
# the top 5-8% of a day: the seed's digest picked 29 of 285 new papers).
REL_LO, REL_HI = -1.875, 3.75
NOV_LO, NOV_HI = 0.35, 0.85  # nearest-neighbour similarity: high -> low novelty
PROTOTYPE_SHARE, PROTOTYPE_MIN = 0.01, 10
ONLY_AVOID_MAX = 5  # relevance cap when the criteria name nothing wanted
HISTORY_MAX = 20_000  # earlier papers kept as corpus; more adds time, not quality
TOPIC_CHARS = 60  # a topic named in a comment; a longer one is cut at a word with an ellipsis


def _to_scale(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip(np.rint(1 + 9 * (x - lo) / (hi - lo)), 1, 10).astype(int)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def prototype_size(corpus_size: int) -> int:
    """1% of the corpus, at least 10, but never more than a tenth of it: on a small first
    day (one quiet category) a wide prototype would average the wanted and unwanted alike."""
    return max(1, min(max(PROTOTYPE_MIN, round(corpus_size * PROTOTYPE_SHARE)), corpus_size // 10))


def prototype(query: np.ndarray, corpus: np.ndarray, m: int) -> np.ndarray:
    """Unit mean of the m corpus vectors nearest to the query."""
    sims = corpus @ query
    m = min(m, len(corpus))
    nearest = np.argpartition(-sims, m - 1)[:m]
    return _unit(corpus[nearest].mean(axis=0))


class CriteriaVectors:
    """The criteria's query vectors, embedded once per criteria version."""

    def __init__(self, criteria: Criteria, cache: EmbeddingCache):
        self.topic_names = [t.label for t in criteria.topics]  # none: the criteria only say what to avoid
        topic_texts = [t.query for t in criteria.topics]
        q = query_texts(criteria.text)
        wanted = [t for t in (q.positive, q.negative) if t]
        vecs = cache.get_many(wanted + topic_texts)
        self.positive = vecs[0] if q.positive else None  # None: the criteria only say what to avoid
        self.negative = vecs[len(wanted) - 1] if q.negative else None
        self.topics = vecs[len(wanted):]


# Words of the Relevant lines too general to tell a reader why a paper matched.
_VAGUE = {"conditional", "dynamic", "feature", "features", "analysis", "methods", "insights", "training",
          "research", "theoretical", "applications", "approaches", "models", "learning"}


def criteria_terms(criteria: Criteria) -> tuple[list[str], list[str]]:
    """Terms the criteria name, wanted and unwanted, to say in a paper's comment which of
    them it mentions: every keyword, and the short specific pieces of the Relevant lines
    ("KV cache", "quantization"; not "other architectural innovations")."""
    def split(pieces, specific_only):
        out = []
        for piece in pieces:
            for phrase in keyword_phrases(piece):
                alternatives = re.sub(r"\(.*?\)", "", phrase).split("/")
                if len(alternatives) == 2 and len(alternatives[0].split()) == 1 and len(alternatives[1].split()) > 1:
                    # "Spatial/Temporal Modeling" is "Spatial Modeling" or "Temporal Modeling".
                    shared = alternatives[1].split()[1:]
                    alternatives[0] = f"{alternatives[0].strip()} {' '.join(shared)}"
                for term in alternatives:
                    term = term.strip()
                    words = term.split()
                    if len(term) < 3 or len(words) > 4:
                        continue
                    if specific_only and (len(words) > 3 or words[0].lower() in ("other", "new", "major", "significant")
                                          or (len(words) == 1 and (len(term) < 7 or term.lower() in _VAGUE))):
                        continue
                    out.append(term)
        return out

    def dedupe(terms, skip=()):
        seen = {t.lower() for t in skip}
        out = []
        for t in terms:
            if t.lower() not in seen:
                seen.add(t.lower())
                out.append(t)
        return out

    wanted = dedupe(split(criteria.keywords, False) +
                    split([t.relevant for t in criteria.topics if t.relevant], True))
    # Keyword phrases only (short); whole Irrelevant lines are descriptions, not terms.
    unwanted = dedupe(split([n for n in criteria.negatives if len(n.split()) <= 4], False), skip=wanted)
    return wanted, unwanted


def mentioned(terms: list[str], text: str, most: int = 3) -> list[str]:
    """The terms found in the text as whole words (a trailing plural allowed), first found first."""
    hits = []
    for term in terms:
        m = re.search(r"(?<![\w-])" + re.escape(term) + r"(?:e?s)?(?![\w-])", text, re.I)
        if m:
            hits.append((m.start(), term))
    return [t for _, t in sorted(hits)[:most]]


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "\u2026")) else text + "."


def comment(topic: str | None, terms: tuple[list[str], list[str]], text: str) -> str:
    """Why a paper scored as it did, each thing said once: the closest topic, the criteria's
    terms the paper mentions (not those the topic's name already says), those it rules out:
    weighed in the score, not a verdict, since a paper picked for its topic may touch one."""
    wanted, unwanted = terms
    parts = []
    if topic:
        shown = clip(topic.rstrip(" .;:,"), TOPIC_CHARS)
        parts.append(_sentence(f"Closest criteria topic: {shown}"))
        wanted = [t for t in wanted if not mentioned([t], topic)]
    if hits := mentioned(wanted, text):
        parts.append(f"Mentions {', '.join(hits)}.")
    if hits := mentioned(unwanted, text, most=2):
        parts.append(f"Also touches {', '.join(hits)} (ruled out), weighed in its score.")
    return " ".join(parts) or "The criteria only say what to avoid; this paper mentions none of it."


def relevance(paper_vecs: np.ndarray, cv: CriteriaVectors, corpus: np.ndarray) -> np.ndarray:
    """cos(paper, prototype of q+) - cos(paper, prototype of q-), per paper, in standard
    deviations above the corpus mean of the same score.

    Standardising makes one 1-10 calibration fit any criteria (with or without negatives,
    short or long) and keeps a weak day weak: the corpus holds the earlier days too."""
    m = prototype_size(len(corpus))
    direction = np.zeros(corpus.shape[1], dtype=np.float32)
    if cv.positive is not None:
        direction = direction + prototype(cv.positive, corpus, m)
    if cv.negative is not None:
        direction = direction - prototype(cv.negative, corpus, m)
    background = corpus @ direction
    return (paper_vecs @ direction - background.mean()) / max(float(background.std()), 1e-9)


class LocalScorer(Scorer):
    name = "local:minilm"

    def __init__(self, cache: EmbeddingCache, history_vecs: np.ndarray | None = None):
        self.cache = cache
        # Earlier papers: the prototypes' corpus, and novelty. None: read them from the
        # store (days before the scored one); the replay benchmark passes its own.
        self.history_vecs = history_vecs
        self.paper_vecs: dict[str, np.ndarray] = {}

    def _history(self, date: str) -> np.ndarray | None:
        if self.history_vecs is not None:
            return self.history_vecs[-HISTORY_MAX:] if len(self.history_vecs) else None
        if "announcements" not in self.cache.db.table_names():
            return None
        from ..store import earlier_paper_texts

        texts = [paper_text(t, a) for t, a in earlier_paper_texts(self.cache.db, date, HISTORY_MAX)]
        vecs = self.cache.cached_many(texts)
        return vecs if len(vecs) else None

    def embed_papers(self, papers: list[Paper], progress=None) -> np.ndarray:
        vecs = self.cache.get_many([paper_text(p.title, p.abstract) for p in papers], progress=progress)
        for p, v in zip(papers, vecs):
            self.paper_vecs[p.arxiv_id] = v
        return vecs

    def score(self, papers: list[Paper], criteria: Criteria, date: str, progress=None,
              save: SaveScores | None = None) -> ScoringResult:
        if not papers:
            return ScoringResult(scores={})
        vecs = self.embed_papers(papers, progress=progress)
        cv = CriteriaVectors(criteria, self.cache)
        history = self._history(date)
        corpus = vecs if history is None else np.vstack([history, vecs])
        raw = relevance(vecs, cv, corpus)
        best = (vecs @ cv.topics.T).argmax(axis=1) if cv.topic_names else None
        rel = _to_scale(raw, REL_LO, REL_HI)
        notes = []
        if cv.positive is None:
            # Far from what is to be avoided is not the same as wanted: never a confident pick.
            rel = np.minimum(rel, ONLY_AVOID_MAX)
            notes.append(f"The criteria only say what to avoid, so relevance is capped at {ONLY_AVOID_MAX}: "
                         "add a topic or a sentence saying what the team wants.")
        novelty = _to_scale(1 - nearest_similarity(vecs, history), 1 - NOV_HI, 1 - NOV_LO)
        terms = criteria_terms(criteria)
        scores = {}
        for i, p in enumerate(papers):
            topic = cv.topic_names[best[i]] if best is not None else None
            scores[p.arxiv_id] = Score(
                arxiv_id=p.arxiv_id, relevance=int(rel[i]), novelty=int(novelty[i]),
                comment=comment(topic, terms, paper_text(p.title, p.abstract)), raw=float(raw[i]), source="local",
            )
        return ScoringResult(scores=scores, notes=[
            "Scored by the local MiniLM ranker (no LLM): relevance is similarity to what the "
            "criteria ask for minus similarity to what they exclude; novelty is distance from recent papers."] + notes)


def nearest_similarity(vecs: np.ndarray, history: np.ndarray | None) -> np.ndarray:
    """Each paper's cosine to its nearest other paper, today's or earlier."""
    pool = vecs if history is None else np.vstack([vecs, history])
    n = len(vecs)
    if pool.shape[0] < 2:
        return np.zeros(n)
    sims = vecs @ pool.T
    sims[np.arange(n), np.arange(n)] = -1  # not itself
    return sims.max(axis=1)
