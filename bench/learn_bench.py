"""How long does retraining the team model take? (issue 5: well under a second for a few
thousand labels.)

Builds a real team database from a labels file: papers announced day by day, a 👍 from
one user on each positive (relevance >= 8) and a 👎 on each negative (<= 5) until
--labels votes are cast, embeddings copied from the eval cache (run `python -m bot eval`
once first so they exist). Then times TasteScorer's retrain-and-score step for one day,
split into its parts, with and without the TF-IDF view.

    python bench/learn_bench.py --labels 3000
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import feedback  # noqa: E402
from bot.config import DEFAULT_FEED  # noqa: E402
from bot.db import open_db  # noqa: E402
from bot.embed import EmbeddingCache, paper_text, text_key  # noqa: E402
from bot.eval import read_labels  # noqa: E402
from bot.learn import LearnConfig, TasteModel, team_labels, text_features  # noqa: E402
from bot.scoring.local import LocalScorer  # noqa: E402
from bot.scoring.taste import TasteScorer  # noqa: E402
from bot.store import save_papers  # noqa: E402

DEFAULT_LABELS = ROOT.parent / "shared" / "data" / "labels" / "vision-embodied.2025.jsonl.gz"
EVAL_CACHE = ROOT / "data" / "cache" / "eval-embeddings.sqlite"


def build(db_path: Path, labels: Path, n_labels: int, cache_file: Path):
    items = read_labels(labels).papers
    db = open_db(db_path)
    by_day: dict[str, list] = {}
    for it in items:
        by_day.setdefault(it.date, []).append(it)
    days = sorted(by_day)
    votes = 0
    for d in days[:-1]:
        save_papers(db, d, [it.paper for it in by_day[d]])
        for it in by_day[d]:
            if votes < n_labels and (it.relevance >= 8 or it.relevance <= 5):
                feedback.set_vote(db, it.paper.arxiv_id, "U1", 1 if it.relevance >= 8 else -1, source="bench", feed=DEFAULT_FEED)
                votes += 1
    today = [it.paper for it in by_day[days[-1]]]
    save_papers(db, days[-1], today)
    # Vectors from the eval cache: the bench measures training, not embedding.
    keys = [text_key(paper_text(it.paper.title, it.paper.abstract)) for it in items]
    src = sqlite3.connect(cache_file)
    cache = EmbeddingCache(db)
    rows = []
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        rows += src.execute(f"select key, model, vector from embeddings where key in ({','.join('?' * len(chunk))})",
                            chunk).fetchall()
    if len(rows) < len(set(keys)):
        raise SystemExit(f"{cache_file} lacks {len(set(keys)) - len(rows)} vectors: run `python -m bot eval` first")
    with db.conn:
        db.conn.executemany("insert or replace into embeddings (key, model, vector) values (?,?,?)", rows)
    return db, cache, today, days[-1], votes


def timed(fn, repeat: int):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=int, default=3000, help="votes to cast")
    ap.add_argument("--file", type=Path, default=DEFAULT_LABELS)
    ap.add_argument("--cache", type=Path, default=EVAL_CACHE)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, cache, today, date, votes = build(Path(tmp) / "team.sqlite", args.file, args.labels, args.cache)
        cfg = LearnConfig()
        lab = team_labels(db, before=date, max_unlabeled=cfg.max_unlabeled, feed=DEFAULT_FEED)
        train = lab.liked + lab.disliked + lab.unlabeled
        kind = np.r_[np.ones(len(lab.liked)), -np.ones(len(lab.disliked)), np.zeros(len(lab.unlabeled))]
        print(f"{votes} votes ({len(lab.liked)} liked, {len(lab.disliked)} disliked) + {len(lab.unlabeled)} "
              f"unvoted background papers; scoring {len(today)} papers of {date}; median of {args.repeat}")
        t_lab, _ = timed(lambda: team_labels(db, before=date, max_unlabeled=cfg.max_unlabeled, feed=DEFAULT_FEED), args.repeat)
        t_vec, vecs = timed(lambda: cache.get_many([paper_text(p.title, p.abstract) for p in train]), args.repeat)
        docs = [paper_text(p.title, p.abstract) for p in train + today]
        t_tf, (_, rows) = timed(lambda: text_features(docs), args.repeat)
        t_ridge, _ = timed(lambda: TasteModel(LearnConfig(text_weight=0)).fit(vecs, kind), args.repeat)
        t_both, _ = timed(lambda: TasteModel(cfg).fit(vecs, kind, rows[:len(train)]), args.repeat)
        print(f"  read labels from SQLite     {t_lab * 1000:7.0f} ms")
        print(f"  load cached vectors         {t_vec * 1000:7.0f} ms")
        print(f"  fit TF-IDF on {len(docs)} texts  {t_tf * 1000:7.0f} ms")
        print(f"  fit ridge (MiniLM view)     {t_ridge * 1000:7.0f} ms")
        print(f"  fit ridge + linear SVM      {t_both * 1000:7.0f} ms")
        for name, c in (("embeddings + TF-IDF (default)", cfg), ("embeddings only (text_weight 0)",
                                                                   LearnConfig(text_weight=0))):
            scorer = TasteScorer(LocalScorer(cache), db, cache, c, feed=DEFAULT_FEED)
            t, _ = timed(lambda: scorer.learned_scores(today, date), args.repeat)
            print(f"  whole retrain + score, {name:32s} {t * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
