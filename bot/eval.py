"""Replay benchmark: how well does the ranker pick papers, and how much do thumbs help?

A labelled paper stream (one JSON object a line: date, arxiv_id, title, authors, abstract,
relevance, ...) is replayed day by day, the way the team would live it:
  - each day's papers are ranked from the criteria and only the feedback of earlier days,
  - the simulated team then reacts to the top `top` papers of that ranking only: 👍 to a
    positive (relevance >= 8), 👎 to a negative (relevance <= 5), nothing otherwise.
Two arms run side by side: `zero_shot` (the local scorer, criteria only: what the product
does before any thumb) and `with_feedback` (the same scores blended with bot.learn's model,
exactly as bot.scoring.taste.TasteScorer does in the daily run).

Metrics are per day, averaged over the days on or after `score_from` (feedback accumulates
from the first day): `auc` (positives vs negatives, days with both), `p_at_top` (share of
the top that is positive, days with a positive), `oracle_p_at_top` (the best possible) and
`random_p_at_top` (what a random ranking scores: the share of positives), and, given the
LLM's pre-filter (bot.llm.prefilter), `prefilter_recall` (the share of the day's positives
it would send to the LLM: a paper it drops can never be an LLM pick) and `prefilter_sent`
(the share of the day's papers it sends). A stream without
negatives or positives makes some of these meaningless; `caveats` says so in words.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path

import numpy as np

from .criteria import Criteria
from .embed import EmbeddingCache, paper_text
from .jsonl import JsonLine, at_line, open_binary, read_lines
from .learn import LearnConfig, TasteModel, blend, blend_weight, text_features
from .llm.prefilter import Prefilter
from .models import Paper

POSITIVE_MIN = 8  # relevance >= 8: the team would want it
NEGATIVE_MAX = 5  # relevance <= 5: the team would not


@dataclass
class LabelledPaper:
    date: str
    paper: Paper
    relevance: float


@dataclass
class LabelFile:
    papers: list[LabelledPaper]
    problems: list[str] = field(default_factory=list)  # "FILE:N: what was wrong"
    duplicates: int = 0
    author_matches: list[int] = field(default_factory=list)  # line numbers of unscored author-match rows


def _unscored_author_match(row) -> bool:
    """A row picked for its authors (the seed's "Author match"), with no relevance to score."""
    return isinstance(row, dict) and row.get("author_match") is True and row.get("relevance") is None


def _check_row(row) -> str | None:
    if not isinstance(row, dict):
        return "not a JSON object"
    for key in ("date", "arxiv_id", "title", "abstract"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            return f"`{key}` is missing or not a non-empty string"
    try:
        Date.fromisoformat(row["date"])
    except ValueError:
        return f"`date` {row['date'][:40]!r} is not YYYY-MM-DD"
    rel = row.get("relevance")
    if isinstance(rel, bool) or not isinstance(rel, (int, float)):
        return "`relevance` is missing or not a number"
    authors = row.get("authors", [])
    if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
        return "`authors` is not a list of strings"
    return None


def read_labels(path: str | Path) -> LabelFile:
    """Parse a labels file (.jsonl or .jsonl.gz). A malformed line is reported with its line
    number and skipped; the first line of a repeated arxiv_id wins."""
    path = Path(path)
    out = LabelFile(papers=[])
    seen: set[str] = set()
    with open_binary(path, "labels file") as fh:  # plain or gzip, told by read_lines
        for line in read_lines(fh, f"labels file {path}"):
            _take_row(out, seen, path, line)
    return out


def _take_row(out: LabelFile, seen: set[str], path: Path, line: JsonLine) -> None:
    """One line of a labels file into `out`: a paper, a skipped author match, a duplicate or
    a problem named FILE:LINE."""
    row = line.value
    if not line.problem and _unscored_author_match(row):
        out.author_matches.append(line.number)
        return
    problem = line.problem or _check_row(row)
    if problem:
        out.problems.append(at_line(str(path), line.number, problem))
        return
    aid = re.sub(r"v\d+$", "", row["arxiv_id"].strip())
    if aid in seen:
        out.duplicates += 1
        return
    seen.add(aid)
    paper = Paper(arxiv_id=aid, title=row["title"], authors=row.get("authors", []), abstract=row["abstract"])
    out.papers.append(LabelledPaper(row["date"], paper, float(row["relevance"])))


@dataclass
class ArmMetrics:
    auc: list[float] = field(default_factory=list)
    p_at_top: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        return {"auc": _mean(self.auc), "p_at_top": _mean(self.p_at_top)}


def _mean(xs: list[float]) -> float | None:
    return round(float(np.mean(xs)), 4) if xs else None


def day_auc(scores: np.ndarray, rel: np.ndarray) -> float | None:
    """Probability that a positive outranks a negative (ties count half); None without both."""
    pos, neg = scores[rel >= POSITIVE_MIN], scores[rel <= NEGATIVE_MAX]
    if not len(pos) or not len(neg):
        return None
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def top_order(scores: np.ndarray, ids: list[str]) -> np.ndarray:
    """Best first; ties broken by arxiv id so a replay is deterministic."""
    return np.array(sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i])), dtype=int)


@dataclass
class ReplayResult:
    zero_shot: ArmMetrics
    with_feedback: ArmMetrics
    oracle: list[float]
    random: list[float]  # per day: the share of positives, a random ranking's expected p_at_top
    stream_pos: int  # positives and negatives among the papers of the scored days
    stream_neg: int
    pos: int
    neg: int
    days: int
    papers: int
    embedded: int
    seconds: float
    prefilter_recall: list[float] = field(default_factory=list)  # per day with a positive
    prefilter_sent: list[float] = field(default_factory=list)  # per day

    def to_json(self) -> dict:
        return {
            "zero_shot": self.zero_shot.summary(),
            "with_feedback": self.with_feedback.summary(),
            "oracle_p_at_top": _mean(self.oracle),
            "random_p_at_top": _mean(self.random),
            "prefilter_recall": _mean(self.prefilter_recall),
            "prefilter_sent": _mean(self.prefilter_sent),
            "caveats": self.caveats(),
            "labels": {"pos": self.pos, "neg": self.neg},
            "days": self.days,
            "papers": self.papers,
            "seconds": round(self.seconds, 1),
        }


    def caveats(self) -> list[str]:
        """Plain sentences on what the metrics cannot say for this stream (empty when they can)."""
        if not self.stream_pos:
            return [f"The stream has no positives (no paper with relevance >= {POSITIVE_MIN}): "
                    "neither auc nor p_at_top can be computed, so there is nothing to compare."]
        if not self.stream_neg:
            return [f"The stream has no negatives (no paper with relevance <= {NEGATIVE_MAX}): auc cannot be "
                    f"computed, and a random ranking already scores p_at_top {_mean(self.random):.3f}, so these "
                    "numbers cannot tell a good ranking from a bad one."]
        if not self.zero_shot.auc:
            return ["No day has both a positive and a negative paper, so auc cannot be computed."]
        return []


def zero_shot_scores(scorer, papers: list[Paper], criteria: Criteria, date: str) -> np.ndarray:
    """The product's criteria-only relevance (LocalScorer's continuous score) for one day."""
    result = scorer.score(papers, criteria, date)
    return np.array([result.scores[p.arxiv_id].raw for p in papers], dtype=np.float64)


@dataclass
class _Stream:
    """The labelled stream embedded once; papers are addressed by their index in `items`."""
    items: list[LabelledPaper]
    vecs: np.ndarray
    text_rows: object | None  # TF-IDF rows (a sparse matrix), None when text_weight is 0
    rel: np.ndarray
    embedded: int  # vectors computed now (the rest came from the cache)

    def days(self) -> list[tuple[str, list[int]]]:
        """(date, paper indices) oldest day first."""
        by_day: dict[str, list[int]] = {}
        for i, it in enumerate(self.items):
            by_day.setdefault(it.date, []).append(i)
        return [(day, by_day[day]) for day in sorted(by_day)]

    def text(self, idx: list[int]):
        return self.text_rows[idx] if self.text_rows is not None else None


def _load_stream(items: list[LabelledPaper], cache: EmbeddingCache, config: LearnConfig, progress) -> _Stream:
    before = cache.embedder.embedded
    docs = [paper_text(it.paper.title, it.paper.abstract) for it in items]
    vecs = cache.get_many(docs, progress=progress)
    # One TF-IDF space for the whole stream (vocabulary and idf only: no labels involved);
    # the daily run fits its own on the papers it trains on.
    text_rows = text_features(docs)[1] if config.text_weight > 0 else None
    rel = np.array([it.relevance for it in items])
    return _Stream(items, vecs, text_rows, rel, cache.embedder.embedded - before)


@dataclass
class _Team:
    """The simulated team: its thumbs so far and the papers of the days it has lived."""
    liked: list[int] = field(default_factory=list)
    disliked: list[int] = field(default_factory=list)
    voted: set[int] = field(default_factory=set)
    seen: list[int] = field(default_factory=list)  # earlier days' papers, oldest first

    def model(self, stream: _Stream, config: LearnConfig) -> TasteModel:
        """bot.learn's model fitted on the thumbs so far plus unvoted earlier papers as background."""
        model = TasteModel(config)
        if self.liked or self.disliked:
            unvoted = [i for i in self.seen if i not in self.voted]
            background = unvoted[-config.max_unlabeled:] if config.max_unlabeled else []
            train = self.liked + self.disliked + background
            kind = np.r_[np.ones(len(self.liked)), -np.ones(len(self.disliked)), np.zeros(len(background))]
            model.fit(stream.vecs[train], kind, stream.text(train))
        return model

    def react(self, shown: list[int], rel: np.ndarray) -> None:
        """👍 to the positives shown, 👎 to the negatives, nothing to the rest."""
        for i in shown:
            if rel[i] >= POSITIVE_MIN:
                self.liked.append(i)
                self.voted.add(i)
            elif rel[i] <= NEGATIVE_MAX:
                self.disliked.append(i)
                self.voted.add(i)


@dataclass
class _RankedDay:
    """One day ranked both ways; `shown` are the positions of the with-feedback top."""
    ids: list[str]
    zero: np.ndarray
    mixed: np.ndarray
    shown: np.ndarray


def _rank_day(stream: _Stream, idx: list[int], day: str, scorer, team: _Team, criteria: Criteria,
              config: LearnConfig, top: int) -> _RankedDay:
    """Both arms' scores for one day, from the criteria and earlier days' thumbs only."""
    papers = [stream.items[i].paper for i in idx]
    ids = [p.arxiv_id for p in papers]
    # Earlier days' papers are the scorer's history (the product keeps them in SQLite).
    scorer.history_vecs = stream.vecs[team.seen] if team.seen else stream.vecs[:0]
    zero = zero_shot_scores(scorer, papers, criteria, day)
    model = team.model(stream, config)
    learned = model.decision(stream.vecs[idx], stream.text(idx))
    mixed = blend(zero, learned, blend_weight(model.n_labels, config.prior_labels, config.max_learned_weight))
    return _RankedDay(ids, zero, mixed, top_order(mixed, ids)[:min(top, len(idx))])


@dataclass
class _Tally:
    """The metrics of the scored days so far."""
    zero_shot: ArmMetrics = field(default_factory=ArmMetrics)
    with_feedback: ArmMetrics = field(default_factory=ArmMetrics)
    oracle: list[float] = field(default_factory=list)
    random: list[float] = field(default_factory=list)
    stream_pos: int = 0
    stream_neg: int = 0
    days: int = 0
    prefilter: Prefilter | None = None
    prefilter_recall: list[float] = field(default_factory=list)
    prefilter_sent: list[float] = field(default_factory=list)

    def add_prefilter(self, ranked: _RankedDay, r: np.ndarray) -> None:
        """What the LLM's pre-filter would send of the day: it ranks by the zero-shot score."""
        if self.prefilter is None:
            return
        order = top_order(ranked.zero, ranked.ids)
        sent = order[:self.prefilter.size([float(ranked.zero[i]) for i in order])]
        self.prefilter_sent.append(len(sent) / len(ranked.ids))
        positives = int((r >= POSITIVE_MIN).sum())
        if positives:
            self.prefilter_recall.append(int((r[sent] >= POSITIVE_MIN).sum()) / positives)

    def add(self, ranked: _RankedDay, r: np.ndarray) -> None:
        self.days += 1
        self.add_prefilter(ranked, r)
        self.stream_pos += int((r >= POSITIVE_MIN).sum())
        self.stream_neg += int((r <= NEGATIVE_MAX).sum())
        for arm, s in ((self.zero_shot, ranked.zero), (self.with_feedback, ranked.mixed)):
            auc = day_auc(s, r)
            if auc is not None:
                arm.auc.append(auc)
        if (r >= POSITIVE_MIN).any():
            k = len(ranked.shown)
            zero_top = top_order(ranked.zero, ranked.ids)[:k]
            self.zero_shot.p_at_top.append(float((r[zero_top] >= POSITIVE_MIN).mean()))
            self.with_feedback.p_at_top.append(float((r[ranked.shown] >= POSITIVE_MIN).mean()))
            self.oracle.append(min(int((r >= POSITIVE_MIN).sum()), k) / k)
            self.random.append(float((r >= POSITIVE_MIN).mean()))

    def result(self, team: _Team, stream: _Stream, seconds: float) -> ReplayResult:
        return ReplayResult(self.zero_shot, self.with_feedback, self.oracle, self.random, self.stream_pos,
                            self.stream_neg, len(team.liked), len(team.disliked), self.days, len(stream.items),
                            stream.embedded, seconds, self.prefilter_recall, self.prefilter_sent)


def replay(items: list[LabelledPaper], criteria: Criteria, cache: EmbeddingCache,
           config: LearnConfig | None = None, top: int = 10, score_from: str | None = None,
           progress=None, started: float | None = None, prefilter: Prefilter | None = None) -> ReplayResult:
    from .scoring.local import LocalScorer

    started = time.monotonic() if started is None else started
    config = config or LearnConfig()
    stream = _load_stream(items, cache, config, progress)
    scorer = LocalScorer(cache)
    team, tally = _Team(), _Tally(prefilter=prefilter)
    for day, idx in stream.days():
        ranked = _rank_day(stream, idx, day, scorer, team, criteria, config, top)
        if score_from is None or day >= score_from:
            tally.add(ranked, stream.rel[idx])
        # The team reacts to what the with-feedback ranking showed it.
        team.react([idx[j] for j in ranked.shown], stream.rel)
        team.seen.extend(idx)
    return tally.result(team, stream, time.monotonic() - started)
