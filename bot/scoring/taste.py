"""The taste scorer: the local scorer's zero-shot relevance blended with the team's taste,
learned from its thumbs (the model and its fitting are bot.learn's)."""
from __future__ import annotations

import numpy as np

from ..embed import DIM, EmbeddingCache, paper_text
from ..learn import LearnConfig, TasteModel, TeamLabels, blend, blend_weight, explain, team_labels, text_features
from ..models import Paper, Score
from ..progress import Progress
from .base import SaveScores, Scorer, ScoringResult
from .local import REL_HI, REL_LO, _to_scale


class TasteScorer(Scorer):
    """Wraps the local scorer: its zero-shot relevance blended with the team's learned taste.

    Built for one feed and retrained from that feed's votes at every scoring run (cheap), so
    new votes count from the next run on. Novelty and the comment come from the base scorer
    unchanged. The name is the same in every feed: stored scores are keyed by the criteria
    version too, and a criteria version belongs to one feed, so two feeds never share a score."""

    def __init__(self, base, db, cache: EmbeddingCache, config: LearnConfig | None = None, *, feed: str):
        self.base = base
        self.db = db
        self.cache = cache
        self.config = config or LearnConfig()
        self.feed = feed
        self.name = f"{base.name}+taste"
        self._liked: list[Paper] | None = None
        self._liked_vecs: np.ndarray | None = None
        self.left_out = 0  # voted papers the last fit could not use (no vector yet, over the budget)

    @classmethod
    def for_feed(cls, base, db, cache: EmbeddingCache, settings) -> "TasteScorer":
        """The taste scorer of the feed whose Settings these are (its [learning] settings and votes)."""
        return cls(base, db, cache, LearnConfig.from_settings(settings), feed=settings.feed)

    def _vecs(self, papers: list[Paper]) -> np.ndarray:
        if not papers:
            return np.zeros((0, DIM), np.float32)
        return self.cache.get_many([paper_text(p.title, p.abstract) for p in papers])

    def _training_set(self, lab: TeamLabels, budget: int, progress: Progress | None):
        """The training papers whose vectors are cached, plus at most `budget` more embedded
        now (the most recently voted first): (papers, kinds, vectors, voted papers left out)."""
        wanted = lab.most_wanted_first()
        vecs, kept = self.cache.get_within([paper_text(p.title, p.abstract) for p, _ in wanted], budget,
                                           progress=progress, step="embedding voted papers for the taste model")
        left_out = sum(1 for i in set(range(len(wanted))) - set(kept) if wanted[i][1] != 0)
        return [wanted[i][0] for i in kept], np.array([wanted[i][1] for i in kept]), vecs, left_out

    def learned_scores(self, papers: list[Paper], date: str | None = None,
                       progress: Progress | None = None) -> tuple[TasteModel, np.ndarray]:
        """Refit the feed's model from its votes and score these papers with it.
        Embeds at most `max_embed_per_run` training papers that have no vector yet; the
        voted ones left out are counted in `self.left_out` and embedded by later runs."""
        lab = team_labels(self.db, before=date, max_unlabeled=self.config.max_unlabeled, feed=self.feed)
        train, kind, vecs, self.left_out = self._training_set(lab, self.config.max_embed_per_run, progress)
        self._liked = [p for p, k in zip(train, kind) if k > 0]
        self._liked_vecs = vecs[kind > 0]
        today = self._vecs(papers)
        if progress and train:
            # Seconds on a long history (TF-IDF over every training paper): say what is going on.
            # One call with nothing to count in it: the step is named, with no total.
            progress(0, step="fitting the taste model")
        rows = None
        if self.config.text_weight > 0 and train:
            _, rows = text_features([paper_text(p.title, p.abstract) for p in train + papers])
        model = TasteModel(self.config).fit(vecs, kind, rows[:len(train)] if rows is not None else None)
        return model, model.decision(today, rows[len(train):] if rows is not None else None)

    def score(self, papers: list[Paper], criteria, date: str, progress: Progress | None = None,
              save: SaveScores | None = None) -> ScoringResult:
        result = self.base.score(papers, criteria, date, progress=progress)
        if not papers:
            return result
        model, learned = self.learned_scores(papers, date, progress)
        if not model.n_labels:
            return result
        ids = [p.arxiv_id for p in papers]
        zero = np.array([result.scores[i].raw for i in ids])
        w = blend_weight(model.n_labels, self.config.prior_labels, self.config.max_learned_weight)
        mixed = blend(zero, learned, w)
        relevance = _relevance_scale(mixed)
        scores = {}
        for i, pid in enumerate(ids):
            s = result.scores[pid]
            scores[pid] = Score(arxiv_id=pid, relevance=int(relevance[i]), novelty=s.novelty, comment=s.comment,
                                raw=float(mixed[i]), source=s.source)
        note = (f"Relevance blends the criteria ({1 - w:.0%}) with the team's taste learned from "
                f"{model.n_liked} liked and {model.n_disliked} disliked papers ({w:.0%}).")
        return ScoringResult(scores=scores, notes=result.notes + [note] + self._left_out_note(), usage=result.usage)

    def _left_out_note(self) -> list[str]:
        if not self.left_out:
            return []
        budget = self.config.max_embed_per_run
        later = (f"they are embedded {budget:,} a run (learning.max_embed_per_run), the most recently voted "
                 "first, and count in the taste model once embedded" if budget else
                 "learning.max_embed_per_run = 0, so they are left out of the taste model")
        return [f"{self.left_out:,} more voted papers have no vector yet: {later}."]

    def explain(self, papers: list[Paper]) -> dict[str, str]:
        """arxiv_id -> "close to N papers the team liked: ..." for the papers that are."""
        if self._liked is None:
            # Not fitted in this run (every score was stored): the liked papers with a vector
            # already, so explaining a re-render never embeds the whole vote history.
            lab = team_labels(self.db, max_unlabeled=0, feed=self.feed)
            lab.disliked = []
            self._liked, _, self._liked_vecs, _ = self._training_set(lab, 0, None)
        liked_ids = {p.arxiv_id for p in self._liked}
        todo = [p for p in papers if p.arxiv_id not in liked_ids]
        lines = explain(self._vecs(todo), self._liked_vecs, [p.title for p in self._liked],
                        self.config.explain_similarity)
        return {p.arxiv_id: line for p, line in zip(todo, lines) if line}


def _relevance_scale(raw: np.ndarray) -> np.ndarray:
    return _to_scale(raw, REL_LO, REL_HI)
