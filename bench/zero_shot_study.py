"""Which zero-shot recipe ranks a day's papers best against a team's criteria text?

Scores papers with the local MiniLM embedder (bot/embed.py) under several recipes and
measures them on the labelled year in ../shared/data/labels:

  vision-embodied  positives relevance >= 8, negatives relevance <= 5; per-day AUC
                   (days with both), averaged over days before / on-or-after --split
                   (2025-07-01; the labels' judge is gpt-4o before, gpt-4.1 after) and
                   over all days. late>a / early>a: share of days a variant beats (a) raw.
  feed             data/samples/2025-02-24.xml, `new` + `cross` items, the feed alone as
                   corpus: how many of the day's 29 foundations positives land in the top 29
                   and top 40 (and their AUC vs the rest); AUC of the vision-embodied
                   criteria on the feed's vision-embodied labelled items.

Nothing uses labels or paper ids: a recipe sees the criteria text and unlabelled papers.

Winner, "g proto(pos) - proto(neg)" (v_proto): split the criteria into its positive
parts (numbered topics with their Relevant lines, prose, relevant keywords; list numbers
dropped) and negative parts (Irrelevant lines, "Avoid ..." sentences, Irrelevant /
Application Work keywords); embed each part as one text (q+, q-); over the corpus
(all unlabelled papers embedded so far) take the m = max(10, 1% of corpus) papers nearest
to q+ and average their unit vectors -> prototype c+ (same for q- -> c-, if there are
negatives); score(p) = cos(p, c+) - cos(p, c-).

    python bench/zero_shot_study.py              # ~11 min the first time (embeds the corpus), then ~40 s
    python bench/zero_shot_study.py --only proto # just the variants whose name matches
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlite_utils import Database  # noqa: E402

from bot.embed import EmbeddingCache, Embedder, paper_text  # noqa: E402

LABELS = ROOT.parent / "shared" / "data" / "labels"
CACHE_DB = ROOT / "data" / "cache" / "study-embeddings.sqlite"
FEED = ROOT / "data" / "samples" / "2025-02-24.xml"
FEED_DAY = "2025-02-24"


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

def load_labels(path: Path) -> list[dict]:
    """Rows of a labels file, first line of a repeated arxiv_id kept."""
    seen, rows = set(), []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["arxiv_id"] in seen:
                continue
            seen.add(r["arxiv_id"])
            rows.append(r)
    return rows


def load_feed(path: Path) -> list[dict]:
    """`new` and `cross` items of an arXiv RSS file: arxiv_id, title, abstract."""
    items = []
    for it in ET.parse(path).getroot().iter("item"):
        desc = it.findtext("description") or ""
        m = re.search(r"Announce Type:\s*(\S+)", desc)
        kind = m.group(1).strip() if m else ""
        if kind not in ("new", "cross"):
            continue
        link = it.findtext("link") or ""
        aid = re.sub(r"v\d+$", "", link.rstrip("/").rsplit("/", 1)[-1])
        abstract = desc.split("Abstract:", 1)[1] if "Abstract:" in desc else desc
        items.append({"arxiv_id": aid, "title": " ".join((it.findtext("title") or "").split()),
                      "abstract": " ".join(abstract.split()), "kind": kind})
    return items


# ---------------------------------------------------------------------------
# Criteria text -> pieces (generic: numbered topics, `- Relevant:` / `- Irrelevant:`
# lines, a Keywords block, free prose)
# ---------------------------------------------------------------------------

NEG_LABEL = re.compile(r"^(irrelevant|not relevant|exclude|avoid|application)", re.I)
NEG_CUE = re.compile(r"\b(irrelevant|filter out|not interested|exclude|avoid)\b", re.I)


@dataclass
class Criteria:
    text: str
    topics: list[str] = field(default_factory=list)      # title + relevant line of each numbered item
    titles: list[str] = field(default_factory=list)      # numbered items' first lines
    pos_lines: list[str] = field(default_factory=list)   # their `- Relevant:` / continuation lines
    negatives: list[str] = field(default_factory=list)   # irrelevant lines of topics
    kw_pos: list[str] = field(default_factory=list)      # keyword phrases, relevant
    kw_neg: list[str] = field(default_factory=list)      # keyword phrases, irrelevant / application work
    prose: list[str] = field(default_factory=list)       # sentences outside numbered items

    def query_phrases(self) -> list[str]:
        """Short positive 'query' texts: each comma/semicolon piece of each topic, each keyword."""
        out = []
        for t in self.titles + self.pos_lines + self.prose:
            out += split_phrases(t)
        out += self.kw_pos
        return dedupe(out)

    def pos_text(self) -> str:
        """The criteria with every negative part left out (topics, prose, relevant keywords)."""
        kw = ["Keywords: " + ", ".join(self.kw_pos)] if self.kw_pos else []
        return " ".join(self.topics + self.prose + kw)

    def neg_text(self) -> str:
        """Only the negative parts (irrelevant lines, irrelevant / application keywords); '' if none."""
        kw = ["Keywords: " + ", ".join(self.kw_neg)] if self.kw_neg else []
        return " ".join(self.negatives + kw)

    def negative_texts(self) -> list[str]:
        return dedupe(self.negatives + self.kw_neg)

    def negative_phrases(self) -> list[str]:
        out = []
        for t in self.negatives:
            out += split_phrases(t)
        return dedupe(out + self.kw_neg)


def dedupe(xs):
    return list(dict.fromkeys(x for x in xs if x))


def split_phrases(text: str) -> list[str]:
    """'a, b (c, d), or e; f. G' -> ['a', 'b (c, d)', 'e', 'f', 'G'] (brackets kept whole)."""
    parts, depth, buf = [], 0, ""
    for ch in text:
        depth += ch in "([" and 1 or 0
        depth -= ch in ")]" and 1 or 0
        if depth == 0 and ch in ",;":
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    parts.append(buf)
    out = []
    for p in parts:
        for s in re.split(r"(?<!e\.g)(?<!i\.e)(?<=[a-z)])\.\s+", p):
            s = re.sub(r"^\s*(and|or|as well as|e\.g\.|like|such as)\s+", "", s.strip(), flags=re.I)
            s = re.sub(r"\betc\.?$", "", s).strip(" .:")
            if len(s) >= 2:
                out.append(s)
    return out


def parse_criteria(text: str) -> Criteria:
    c = Criteria(text=text)
    mode = None          # 'topic' | 'keywords' | None
    cur: dict | None = None

    def close():
        nonlocal cur
        if cur is not None:
            title = cur["title"].rstrip()
            sep = " " if not cur["pos"] or title[-1:] in ".:;,!?" else ": "
            c.topics.append((title + sep + " ".join(cur["pos"])).strip())
            c.titles.append(title)
            c.pos_lines.extend(cur["pos"])
            c.negatives.extend(cur["neg"])
        cur = None

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            if mode == "topic":
                close()
                mode = None
            continue
        if line.startswith("#"):
            close()
            mode = None
            continue
        if re.match(r"^\**\s*keywords?\s*:?\s*\**\s*:?\s*$", line, re.I):
            close()
            mode = "keywords"
            continue
        m = re.match(r"^(\d+)[.)]\s+(.*)$", line)
        if m:
            close()
            cur = {"title": m.group(2).strip(), "pos": [], "neg": []}
            mode = "topic"
            continue
        m = re.match(r"^[-*•]\s*\**([A-Za-z][A-Za-z /]*?)\**\s*:\s*(.*)$", line)
        if m and mode in ("topic", "keywords"):
            label, body = m.group(1).strip(), m.group(2).strip()
            neg = bool(NEG_LABEL.match(label))
            if mode == "topic" and cur is not None:
                (cur["neg"] if neg else cur["pos"]).append(body)
            else:
                phrases = split_phrases(body)
                (c.kw_neg if neg else c.kw_pos).extend(phrases)
            continue
        if mode == "topic" and cur is not None:
            cur["pos"].append(line)
            continue
        # free prose: one piece per sentence; "Avoid X." becomes a negative, other
        # sentences with a negative cue ("filter out irrelevant ones") are dropped
        for sent in re.split(r"(?<=[.!?])\s+", line):
            sent = sent.strip()
            m = re.match(r"^(avoid|exclude|ignore|skip)\s+(.*)$", sent, re.I)
            if m:
                c.negatives.append(m.group(2).strip(" ."))
            elif len(sent) > 3 and not NEG_CUE.search(sent):
                c.prose.append(sent)
    close()
    c.kw_pos, c.kw_neg = dedupe(c.kw_pos), dedupe(c.kw_neg)
    return c


# ---------------------------------------------------------------------------
# Scoring building blocks
# ---------------------------------------------------------------------------

class Space:
    """Paper vectors P of one corpus + an embed() for criteria pieces, with an optional
    vector transform (centering / whitening) fitted on the unlabelled papers only."""

    def __init__(self, P: np.ndarray, days: np.ndarray, embed: Callable[[list[str]], np.ndarray]):
        self.P, self.days, self._embed = P, days, embed
        self.mu = P.mean(axis=0)
        self.day_mu = {d: P[days == d].mean(axis=0) for d in np.unique(days)}
        X = P - self.mu
        _, s, vt = np.linalg.svd(X, full_matrices=False)
        self.pcs, self.sv = vt, s / np.sqrt(len(P))

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts)

    def transform(self, how: str):
        """(paper matrix, query transform) for: raw | center | dcenter | white{k} | ab{k}."""
        if how == "raw":
            return self.P, lambda Q: Q
        if how == "center":
            return unit(self.P - self.mu), lambda Q: unit(Q - self.mu)
        if how == "dcenter":  # subtract the day's mean paper (queries: corpus mean)
            mus = np.stack([self.day_mu[d] for d in self.days])
            return unit(self.P - mus), lambda Q: unit(Q - self.mu)
        if how.startswith("white"):  # PCA whitening, top k directions
            k = int(how[5:])
            W = self.pcs[:k].T / self.sv[:k]
            return unit((self.P - self.mu) @ W), lambda Q: unit((Q - self.mu) @ W)
        if how.startswith("ab"):  # all-but-the-top: center, drop top k principal directions
            k = int(how[2:])
            V = self.pcs[:k]
            f = lambda X: unit((X - self.mu) - (X - self.mu) @ V.T @ V)  # noqa: E731
            return f(self.P), f
        raise ValueError(how)


def unit(X):
    X = np.atleast_2d(X)
    return X / np.clip(np.linalg.norm(X, axis=1, keepdims=True), 1e-12, None)


def aggregate(S: np.ndarray, how: str) -> np.ndarray:
    """Papers x queries similarity -> one score per paper."""
    if how == "max":
        return S.max(axis=1)
    if how == "mean":
        return S.mean(axis=1)
    if how.startswith("top"):
        k = min(int(how[3:]), S.shape[1])
        return np.sort(S, axis=1)[:, -k:].mean(axis=1)
    if how.startswith("soft"):  # softmax-weighted mean, temperature t
        t = float(how[4:])
        W = np.exp((S - S.max(axis=1, keepdims=True)) / t)
        return (W * S).sum(axis=1) / W.sum(axis=1)
    raise ValueError(how)


def zcols(S: np.ndarray) -> np.ndarray:
    """Standardise each query's column over the corpus (a generic query's high cosines
    stop dominating a max)."""
    return (S - S.mean(axis=0)) / np.clip(S.std(axis=0), 1e-9, None)


def zday(x: np.ndarray, days: np.ndarray) -> np.ndarray:
    out = np.empty_like(x, dtype=np.float64)
    for d in np.unique(days):
        i = days == d
        out[i] = (x[i] - x[i].mean()) / max(x[i].std(), 1e-9)
    return out


def proto_m(n: int) -> int:
    """Pseudo-relevant set size: 1% of the corpus, at least 10."""
    return max(10, round(n / 100))


def prototype(q: np.ndarray, C: np.ndarray, m: int) -> np.ndarray:
    """Unit mean of the m corpus vectors nearest to q: the query moved onto the paper manifold."""
    sims = (C @ q.ravel())
    m = min(m, len(C))
    top = np.argpartition(-sims, m - 1)[:m]
    return unit(C[top].mean(axis=0))[0]


def tfidf_score(criteria_text: str, docs: list[str], phrases: list[str] | None = None) -> np.ndarray:
    """Cosine between the criteria text and each paper in TF-IDF space fitted on the
    papers (unigrams + bigrams, sublinear tf, English stop words)."""
    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", ngram_range=(1, 2), min_df=2)
    D = vec.fit_transform(docs)
    q = vec.transform([criteria_text if phrases is None else " ".join(phrases)])
    return (D @ q.T).toarray().ravel()


# ---------------------------------------------------------------------------
# Variants: each takes (space, criteria, ctx) and returns a score per paper
# ---------------------------------------------------------------------------

def v_whole(sp, c, ctx, tr="raw"):
    P, f = sp.transform(tr)
    return (P @ f(sp.embed([c.text])).T).ravel()


def v_topics(sp, c, ctx, agg="max", tr="raw", prose=True, z=False):
    P, f = sp.transform(tr)
    S = P @ f(sp.embed(c.topics + (c.prose if prose else []))).T
    return aggregate(zcols(S) if z else S, agg)


def v_topics_neg(sp, c, ctx, agg="max", tr="raw", w=0.5, neg="texts", z=False):
    pos = v_topics(sp, c, ctx, agg, tr, z=z)
    texts = c.negative_texts() if neg == "texts" else c.negative_phrases()
    if not texts:
        return pos
    P, f = sp.transform(tr)
    S = P @ f(sp.embed(texts)).T
    return pos - w * (zcols(S) if z else S).max(axis=1)


def v_phrases(sp, c, ctx, agg="max", tr="raw", z=False, neg_w=0.0):
    P, f = sp.transform(tr)
    S = P @ f(sp.embed(c.query_phrases())).T
    s = aggregate(zcols(S) if z else S, agg)
    if neg_w and c.negative_phrases():
        N = P @ f(sp.embed(c.negative_phrases())).T
        s = s - neg_w * (zcols(N) if z else N).max(axis=1)
    return s


def v_tfidf(sp, c, ctx):
    return tfidf_score(c.text, ctx["docs"])


def v_combo(sp, c, ctx, base: Callable, w=0.3):
    """Per-day z-scored embedding score + w * per-day z-scored TF-IDF score."""
    return zday(base(sp, c, ctx), sp.days) + w * zday(ctx["tfidf"], sp.days)


def v_mix(sp, c, ctx, parts: list[tuple[float, Callable]]):
    return sum(w * zday(fn(sp, c, ctx), sp.days) for w, fn in parts)


def v_prf(sp, c, ctx, base: Callable, tr="center", k=5, beta=0.5):
    """Pseudo-relevance feedback: add beta * cosine to the mean vector of the day's
    top-k papers under the base score (no labels)."""
    s = base(sp, c, ctx)
    P, _ = sp.transform(tr)
    out = np.empty_like(s, dtype=np.float64)
    for d in np.unique(sp.days):
        i = np.where(sp.days == d)[0]
        top = i[np.argsort(-s[i])[:k]]
        cen = unit(P[top].mean(axis=0))
        out[i] = zday(s[i], np.zeros(len(i))) + beta * zday((P[i] @ cen.T).ravel(), np.zeros(len(i)))
    return out


def v_posneg(sp, c, ctx, w=1.0):
    """cos(p, criteria with negatives removed) - w * cos(p, negative parts)."""
    s = (sp.P @ sp.embed([c.pos_text()]).T).ravel()
    if c.neg_text() and w:
        s = s - w * (sp.P @ sp.embed([c.neg_text()]).T).ravel()
    return s


def v_proto(sp, c, ctx, query="pos", m=None, corpus="all", neg_w=1.0, agg="max"):
    """Corpus pseudo-relevance feedback. Embed the criteria (query), take the m corpus
    papers nearest to it (m = 1% of the corpus, >= 10), score each paper by cosine to their
    mean vector; minus neg_w * the same built from the negative parts, if any.
    query: pos (criteria minus negative parts) | whole (raw text) | topics (one prototype
    per topic, aggregated with agg). corpus: all (every paper of the study, unlabelled) |
    causal (papers dated <= the day) | day (that day's papers only)."""
    if query == "topics":
        Q = sp.embed(c.topics + c.prose)
    else:
        Q = sp.embed([c.pos_text() if query == "pos" else c.text])
    N = sp.embed([c.neg_text()]) if (c.neg_text() and neg_w and query != "whole") else None
    out = np.empty(len(sp.P))
    groups = [(np.ones(len(sp.P), bool), None)] if corpus == "all" else [(sp.days == d, d) for d in np.unique(sp.days)]
    for rows_, d in groups:
        C = sp.P if corpus == "all" else sp.P[sp.days <= d] if corpus == "causal" else sp.P[rows_]
        mm = m or proto_m(len(C))
        S = sp.P[rows_] @ np.stack([prototype(q, C, mm) for q in Q]).T
        s = aggregate(S, agg)
        if N is not None:
            s = s - neg_w * (sp.P[rows_] @ prototype(N, C, mm))
        out[rows_] = s
    return out


def P_(fn, **kw):
    return lambda sp, c, ctx: fn(sp, c, ctx, **kw)


def variants() -> list[tuple[str, Callable]]:
    V: list[tuple[str, Callable]] = [("tfidf criteria", v_tfidf)]
    for tr in ("raw", "center", "dcenter"):
        V.append((f"a whole-criteria cos [{tr}]", P_(v_whole, tr=tr)))
    for agg in ("max", "mean", "soft0.02", "soft0.05", "top2"):
        V.append((f"b topics {agg} [raw]", P_(v_topics, agg=agg)))
    V.append(("b topics max, no prose [raw]", P_(v_topics, agg="max", prose=False)))
    V.append(("b topics max z-col [raw]", P_(v_topics, agg="max", z=True)))
    V.append(("b topics mean z-col [raw]", P_(v_topics, agg="mean", z=True)))
    for agg in ("max", "soft0.05"):
        V.append((f"b topics {agg} [center]", P_(v_topics, agg=agg, tr="center")))
    for w in (0.25, 0.5, 1.0):
        V.append((f"c topics max - {w}*max neg texts [raw]", P_(v_topics_neg, agg="max", w=w)))
    V.append(("c topics max - 0.5*max neg texts [center]", P_(v_topics_neg, agg="max", tr="center", w=0.5)))
    V.append(("c topics max - 0.5*max neg phrases [raw]", P_(v_topics_neg, agg="max", w=0.5, neg="phrases")))
    for w in (0.5, 1.0):
        V.append((f"c pos-part cos - {w}*neg-part cos [raw]", P_(v_posneg, w=w)))
    for agg in ("max", "top3", "top5", "mean", "soft0.05"):
        V.append((f"e phrases {agg} [raw]", P_(v_phrases, agg=agg)))
    V.append(("e phrases top5 z-col [raw]", P_(v_phrases, agg="top5", z=True)))
    V.append(("e phrases top5 - 0.5*max neg [raw]", P_(v_phrases, agg="top5", neg_w=0.5)))
    V.append(("e phrases top3 [center]", P_(v_phrases, agg="top3", tr="center")))
    whole = P_(v_whole)
    for w in (0.2, 0.5):
        V.append((f"d whole cos + {w}*tfidf (z per day)", P_(v_combo, base=whole, w=w)))
    V.append(("d topics mean + 0.3*tfidf (z per day)", P_(v_combo, base=P_(v_topics, agg="mean"), w=0.3)))
    V.append(("d phrases top5 + 0.3*tfidf (z per day)", P_(v_combo, base=P_(v_phrases, agg="top5"), w=0.3)))
    V.append(("f whole + topics mean + phrases top5 (z/day)",
              P_(v_mix, parts=[(1, whole), (1, P_(v_topics, agg="mean")), (1, P_(v_phrases, agg="top5"))])))
    for k in (64, 128):
        V.append((f"f whole-criteria cos [white{k}]", P_(v_whole, tr=f"white{k}")))
    for k in (1, 10):
        V.append((f"f whole-criteria cos [all-but-top{k}]", P_(v_whole, tr=f"ab{k}")))
    for k, beta in ((5, 1.0), (10, 2.0)):
        V.append((f"f day PRF k={k} b={beta} on whole [raw]", P_(v_prf, base=whole, tr="raw", k=k, beta=beta)))
    # g: corpus pseudo-relevance prototypes
    V.append(("g proto(whole) m=1%", P_(v_proto, query="whole")))
    V.append((RECIPE, P_(v_proto)))
    for m in (10, 30, 300, 1000):
        V.append((f"g proto(pos) - proto(neg) m={m}", P_(v_proto, m=m)))
    V.append(("g proto(pos) - 0.5*proto(neg) m=1%", P_(v_proto, neg_w=0.5)))
    V.append(("g proto(pos) only (no neg) m=1%", P_(v_proto, neg_w=0.0)))
    V.append(("g proto(pos) - proto(neg), causal corpus", P_(v_proto, corpus="causal")))
    V.append(("g proto(pos) - proto(neg), day-only corpus", P_(v_proto, corpus="day")))
    V.append(("g topic protos max - proto(neg) m=1%", P_(v_proto, query="topics", agg="max")))
    V.append(("g topic protos mean - proto(neg) m=1%", P_(v_proto, query="topics", agg="mean")))
    V.append(("g recipe + 0.3*tfidf (z per day)", P_(v_combo, base=P_(v_proto), w=0.3)))
    return V


RECIPE = "g proto(pos) - proto(neg) m=1% [RECIPE]"


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------

def per_day_auc(score, rel, days) -> dict[str, float]:
    out = {}
    for d in np.unique(days):
        i = days == d
        y = rel[i] >= 8
        keep = (rel[i] >= 8) | (rel[i] <= 5)
        if y[keep].all() or not y[keep].any():
            continue
        out[d] = roc_auc_score(y[keep], score[i][keep])
    return out


def summarise(aucs: dict[str, float], split: str):
    early = [v for d, v in aucs.items() if d < split]
    late = [v for d, v in aucs.items() if d >= split]
    return np.mean(early), np.mean(late), np.mean(list(aucs.values()))


# ---------------------------------------------------------------------------

def make_embed(cache: EmbeddingCache):
    memo: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        todo = [t for t in texts if t not in memo]
        if todo:
            for t, v in zip(todo, cache.get_many(todo)):
                memo[t] = v
        return np.stack([memo[t] for t in texts])
    return embed


def embed_corpus(cache, texts, label):
    t0 = time.time()
    done = [0]

    def progress(n):
        done[0] += n
        print(f"\r  embedding {label}: {done[0]} new", end="", file=sys.stderr, flush=True)
    P = cache.get_many(texts, progress=progress)
    if done[0]:
        print(file=sys.stderr)
    return P, time.time() - t0


def run_vision(cache, embed, crit_path, labels_path, split, only=None):
    rows = load_labels(labels_path)
    docs = [paper_text(r["title"], r["abstract"]) for r in rows]
    P, t_emb = embed_corpus(cache, docs, "vision-embodied")
    days = np.array([r["date"] for r in rows])
    rel = np.array([r["relevance"] for r in rows])
    crit = parse_criteria(crit_path.read_text())
    sp = Space(P, days, embed)
    ctx = {"docs": docs, "tfidf": tfidf_score(crit.text, docs)}
    results = []
    base_days = None
    for name, fn in variants():
        if only and not re.search(only, name):
            continue
        t0 = time.time()
        s = fn(sp, crit, ctx)
        dt = time.time() - t0
        aucs = per_day_auc(np.asarray(s, dtype=np.float64), rel, days)
        if name.startswith("a whole-criteria cos [raw]"):
            base_days = aucs
        results.append((name, aucs, dt))
    return crit, rows, results, base_days, t_emb


def feed_check(cache, embed, labels: Path, feed_path: Path, only=None):
    """On one day's feed (new + cross items, the feed alone as corpus):
    foundations: how many of the day's positives land in the top N (N = positives) / top 40,
    and their AUC against the rest; vision-embodied: AUC of its labelled feed items."""
    items = load_feed(feed_path)
    docs = [paper_text(it["title"], it["abstract"]) for it in items]
    P, _ = embed_corpus(cache, docs, "feed")
    days = np.array([FEED_DAY] * len(items))
    sp = Space(P, days, embed)
    fcrit = parse_criteria((labels / "foundations.criteria.txt").read_text())
    vcrit = parse_criteria((labels / "vision-embodied.criteria.txt").read_text())
    pos = {r["arxiv_id"] for r in load_labels(labels / "foundations.2025.jsonl.gz") if r["date"] == FEED_DAY}
    vrel = {r["arxiv_id"]: r["relevance"] for r in load_labels(labels / "vision-embodied.2025.jsonl.gz")}
    y = np.array([it["arxiv_id"] in pos for it in items])
    vr = np.array([vrel.get(it["arxiv_id"], 0) for it in items])
    vkeep = (vr >= 8) | ((vr > 0) & (vr <= 5))
    n = int(y.sum())
    f_ctx = {"docs": docs, "tfidf": tfidf_score(fcrit.text, docs)}
    v_ctx = {"docs": docs, "tfidf": tfidf_score(vcrit.text, docs)}
    out = []
    for name, fn in variants():
        if only and not re.search(only, name):
            continue
        s = np.asarray(fn(sp, fcrit, f_ctx), dtype=np.float64)
        order = np.argsort(-s)
        sv = np.asarray(fn(sp, vcrit, v_ctx), dtype=np.float64)
        out.append((name, int(y[order[:n]].sum()), int(y[order[:40]].sum()), roc_auc_score(y, s),
                    roc_auc_score(vr[vkeep] >= 8, sv[vkeep])))
    info = (len(items), len(pos), n, int((vr[vkeep] >= 8).sum()), int(vkeep.sum()))
    return fcrit, info, out


def show_criteria(tag, c: Criteria):
    print(f"\n{tag} criteria pieces: {len(c.topics)} topics, {len(c.prose)} prose sentences, "
          f"{len(c.negatives)} negative lines, {len(c.kw_pos)} + / {len(c.kw_neg)} - keyword phrases, "
          f"{len(c.query_phrases())} query phrases")
    for t in c.topics:
        print("   topic:", t[:110])
    for t in c.prose:
        print("   prose:", t[:110])
    print("   phrases:", " | ".join(c.query_phrases())[:600])
    if c.negative_phrases():
        print("   neg phrases:", " | ".join(c.negative_phrases())[:600])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--db", type=Path, default=CACHE_DB)
    ap.add_argument("--feed", type=Path, default=FEED)
    ap.add_argument("--split", default="2025-07-01")
    ap.add_argument("--only", help="regex: run only the variants whose name matches")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    args.db.parent.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(Database(args.db), Embedder(threads=args.threads))
    embed = make_embed(cache)

    t0 = time.time()
    crit, rows, results, base_days, t_emb = run_vision(
        cache, embed, args.labels / "vision-embodied.criteria.txt",
        args.labels / "vision-embodied.2025.jsonl.gz", args.split, args.only)
    show_criteria("vision-embodied", crit)
    ndays = len(results[0][1])
    nlate = sum(d >= args.split for d in results[0][1])
    print(f"\nvision-embodied: {len(rows)} papers, {ndays} days with pos+neg ({nlate} on/after {args.split}); "
          f"corpus embedding {t_emb:.0f}s (0 = all cached)")
    print(f"{'variant':52s} {'early':>6s} {'late':>6s} {'all':>6s} {'late>a':>7s} {'early>a':>7s} {'secs':>6s}")
    for name, aucs, dt in results:
        e, l, a = summarise(aucs, args.split)
        if base_days:
            wl = np.mean([aucs[d] > base_days[d] for d in aucs if d >= args.split])
            we = np.mean([aucs[d] > base_days[d] for d in aucs if d < args.split])
        else:
            wl = we = float("nan")
        print(f"{name:52s} {e:6.3f} {l:6.3f} {a:6.3f} {wl:7.2f} {we:7.2f} {dt:6.2f}")

    # month by month for a few headline recipes
    heads = [n for n, _, _ in results if n in HEADLINE]
    if heads:
        months = sorted({d[:7] for d in results[0][1]})
        print("\nper-month mean AUC")
        print(f"{'variant':52s} " + " ".join(m[5:] for m in months))
        for name, aucs, _ in results:
            if name in heads:
                print(f"{name:52s} " + " ".join(
                    f"{np.mean([v for d, v in aucs.items() if d.startswith(m)]):.2f}"[1:] for m in months))

    if args.feed.exists():
        fc, (n_items, n_pos, n_hit, v_pos, v_lab), out = feed_check(cache, embed, args.labels, args.feed, args.only)
        show_criteria("foundations", fc)
        print(f"\nfeed {args.feed.name}: {n_items} new+cross items (corpus = the feed alone); foundations: "
              f"{n_pos} positives that day, {n_hit} in the feed; vision-embodied: {v_lab} labelled "
              f"items ({v_pos} positive)")
        print(f"{'variant':52s} {'F top'+str(n_hit):>8s} {'F top40':>8s} {'F auc':>6s} {'V auc':>6s}")
        for name, a, b, auc, vauc in out:
            print(f"{name:52s} {a:8d} {b:8d} {auc:6.3f} {vauc:6.3f}")
    else:
        print(f"\n(no {args.feed}: foundations feed check skipped)")
    print(f"\ntotal {time.time() - t0:.0f}s")


HEADLINE = {
    "tfidf criteria", "a whole-criteria cos [raw]", "a whole-criteria cos [center]", "b topics mean [raw]",
    "e phrases top5 [raw]", "g proto(whole) m=1%", RECIPE, "g proto(pos) - proto(neg), causal corpus",
}

if __name__ == "__main__":
    main()
