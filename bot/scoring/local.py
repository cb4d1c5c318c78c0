"""The embedded default scorer: no key, no network.

Relevance: cosine similarity between MiniLM embeddings of the paper (title + abstract)
and of the criteria (its topics, its relevant keywords, the whole text), after removing
the corpus mean direction, minus a penalty for matching the criteria's Irrelevant lines.
Mapped to 1-10 with a fixed calibration so a weak day gets low scores, not forced 10s.

Novelty: how far a paper sits from its nearest neighbours among recent papers (a paper
unlike anything seen lately scores higher). It is a heuristic and the digest says so.
"""
from __future__ import annotations

import numpy as np

from ..criteria import Criteria
from ..embed import EmbeddingCache, paper_text
from ..models import Paper, Score
from .base import ScoringResult

# Calibration of the combined similarity to the 1-10 scale (see README "How ranking works").
REL_LO, REL_HI = 0.02, 0.42
NEGATIVE_WEIGHT = 0.5
NOV_LO, NOV_HI = 0.35, 0.85  # nearest-neighbour similarity: high -> low novelty


def _to_scale(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip(np.rint(1 + 9 * (x - lo) / (hi - lo)), 1, 10).astype(int)


class CriteriaVectors:
    """The criteria's query texts and their vectors, embedded once per criteria version."""

    def __init__(self, criteria: Criteria, cache: EmbeddingCache):
        self.topic_names = [t.name for t in criteria.topics] or ["criteria"]
        topic_texts = [t.query for t in criteria.topics] or [criteria.text]
        self.keywords = list(dict.fromkeys(criteria.keywords))
        self.negatives = list(dict.fromkeys(criteria.negatives))
        texts = [criteria.text] + topic_texts + self.keywords + self.negatives
        vecs = cache.get_many(texts)
        n_t, n_k = len(topic_texts), len(self.keywords)
        self.whole = vecs[0]
        self.topics = vecs[1:1 + n_t]
        self.keyword_vecs = vecs[1 + n_t:1 + n_t + n_k]
        self.negative_vecs = vecs[1 + n_t + n_k:]


def relevance_components(paper_vecs: np.ndarray, cv: CriteriaVectors, center: np.ndarray | None):
    """Per-paper combined similarity, best topic index and the negative penalty."""
    def norm(m):
        if center is not None:
            m = m - center
        return m / np.clip(np.linalg.norm(m, axis=-1, keepdims=True), 1e-9, None)

    P = norm(paper_vecs)
    T = norm(cv.topics)
    topic_sims = P @ T.T
    best_topic = topic_sims.argmax(axis=1)
    pos = [topic_sims.max(axis=1), P @ norm(cv.whole[None, :])[0]]
    if len(cv.keyword_vecs):
        pos.append((P @ norm(cv.keyword_vecs).T).max(axis=1))
    combined = np.mean(pos, axis=0)
    penalty = np.zeros(len(P))
    if len(cv.negative_vecs):
        neg = (P @ norm(cv.negative_vecs).T).max(axis=1)
        # Only a negative match stronger than the positive one counts against a paper.
        penalty = np.clip(neg - combined, 0, None)
    return combined - NEGATIVE_WEIGHT * penalty, best_topic, topic_sims


class LocalScorer:
    name = "local:minilm"

    def __init__(self, cache: EmbeddingCache, history_vecs: np.ndarray | None = None):
        self.cache = cache
        self.history_vecs = history_vecs  # recent earlier papers, for novelty
        self.paper_vecs: dict[str, np.ndarray] = {}

    def embed_papers(self, papers: list[Paper], progress=None) -> np.ndarray:
        vecs = self.cache.get_many([paper_text(p.title, p.abstract) for p in papers], progress=progress)
        for p, v in zip(papers, vecs):
            self.paper_vecs[p.arxiv_id] = v
        return vecs

    def score(self, papers: list[Paper], criteria: Criteria, date: str, progress=None) -> ScoringResult:
        if not papers:
            return ScoringResult(scores={})
        vecs = self.embed_papers(papers, progress=progress)
        cv = CriteriaVectors(criteria, self.cache)
        center = vecs.mean(axis=0) if len(vecs) >= 30 else None
        raw, best, topic_sims = relevance_components(vecs, cv, center)
        relevance = _to_scale(raw, REL_LO, REL_HI)
        novelty = _to_scale(1 - self._nearest_similarity(vecs), 1 - NOV_HI, 1 - NOV_LO)
        scores = {}
        for i, p in enumerate(papers):
            topic = cv.topic_names[best[i]]
            topic = topic if len(topic) <= 60 else topic[:57].rstrip() + "..."
            scores[p.arxiv_id] = Score(
                arxiv_id=p.arxiv_id, relevance=int(relevance[i]), novelty=int(novelty[i]),
                comment=f"Closest criteria topic: {topic} (similarity {topic_sims[i, best[i]]:.2f}).",
                raw=float(raw[i]), source="local",
            )
        return ScoringResult(scores=scores, notes=[
            "Scored by the local MiniLM ranker (no LLM): relevance is similarity to the criteria; "
            "novelty is distance from recent papers."])

    def _nearest_similarity(self, vecs: np.ndarray) -> np.ndarray:
        pool = vecs if self.history_vecs is None or not len(self.history_vecs) else np.vstack([vecs, self.history_vecs])
        sims = vecs @ pool.T
        n = len(vecs)
        sims[np.arange(n), np.arange(n)] = -1  # not itself
        return sims.max(axis=1) if pool.shape[0] > 1 else np.zeros(n)
