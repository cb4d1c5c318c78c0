"""What LLM scoring of the sample day costs, against what the seed really spent.

    python bench/llm_cost.py [--examples 8] [--margin M] [--abstract-chars N] [--batch-size N]
                             [--labels FILE --criteria FILE --score-from DATE]

Ours: the real pipeline (pre-filter, cached prefix, batches, few-shot examples) runs the
sample day against the local OpenAI-compatible server (tests/servers/openai_server.py),
which counts tokens with the o200k tokenizer the way OpenAI bills them, cached prefix
included, and answers like a model that follows the prompt (scores for every paper, a
12-word comment for those at or above the pick cutoff, in the compact reply shape).

The seed: its own digest records what it spent on its day: 37,854 prompt and 5,611
completion tokens for 284 scanned papers (no cache). Both are priced at the same model's
prices (data/prices.toml), per scanned paper, for gpt-5.4-mini and gpt-5.4-nano.

prefilter_recall: the replay (`python -m bot eval`) of a labelled stream, with the same
pre-filter settings, when --labels is given (it needs the stream's embedding cache).
No network, no key.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import feedback, store  # noqa: E402
from bot.config import DEFAULT_FEED, load_settings  # noqa: E402
from bot.db import open_db  # noqa: E402
from bot.feed import parse_feed, select  # noqa: E402
from bot.llm.prices import PriceTable  # noqa: E402
from bot.pipeline import SAMPLE_FEED, run_day  # noqa: E402
from tests.servers.openai_server import OpenAIServer, papers_in, screen_reply  # noqa: E402

DATE = "2025-02-24"
# What the seed's digest records for its day (gpt-4o, $0.15): tokens and papers scanned.
SEED = {"prompt": 37854, "cached": 0, "completion": 5611, "scanned": 284}
MODELS = ("gpt-5.4-mini", "gpt-5.4-nano")
TARGET = 1 / 3  # of the seed's cost per scanned paper


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=8, help="few-shot examples (voted papers held out of the day)")
    ap.add_argument("--margin", type=float, default=None, help="llm.prefilter_margin (default: settings)")
    ap.add_argument("--abstract-chars", type=int, default=None, help="llm.abstract_chars (default: settings)")
    ap.add_argument("--batch-size", type=int, default=None, help="llm.batch_size (default: settings)")
    ap.add_argument("--ceiling", type=int, default=None, help="llm.prefilter_ceiling (default: settings)")
    ap.add_argument("--labels", help="labelled stream for prefilter_recall (python -m bot eval)")
    ap.add_argument("--criteria", help="the stream's criteria file")
    ap.add_argument("--score-from", help="average over days on or after this date")
    args = ap.parse_args()
    changes = {"llm__daily_budget_usd": 0.0}
    for name in ("margin", "abstract_chars", "batch_size", "ceiling"):
        if getattr(args, name) is not None:
            key = {"margin": "prefilter_margin", "ceiling": "prefilter_ceiling"}.get(name, name)
            changes[f"llm__{key}"] = getattr(args, name)
    settings = load_settings().override(**changes)
    ours, scanned, wall = run_sample_day(settings, args.examples)
    print(f"sample day {DATE}: {scanned} papers scanned (new + cross, {args.examples} held out as few-shot "
          f"examples); {ours['titles']} titles screened in {ours['screens']} call(s), {ours['sent']} papers sent "
          f"with abstracts; {ours['calls']} calls in all; pre-filter margin "
          f"{settings['llm.prefilter_margin']}, abstracts {settings['llm.abstract_chars']} chars, "
          f"batches of {settings['llm.batch_size']}")
    print(f"tokens: ours {ours['prompt']} prompt ({ours['cached']} cached) + {ours['completion']} completion; "
          f"the seed's day (recorded) {SEED['prompt']} prompt + {SEED['completion']} completion for "
          f"{SEED['scanned']} scanned")
    print_costs(ours, scanned)
    if args.labels:
        print_recall(args, settings)
    print(f"pipeline wall time (embedding included): {wall:.1f} s")
    return 0


def run_sample_day(settings, examples: int) -> tuple[dict, int, float]:
    """The sample day through run_day against the local server: usage, papers scanned, seconds."""
    feed = parse_feed(SAMPLE_FEED.read_bytes())
    kept = select(feed, ["new", "cross"])
    # Papers the team voted on earlier: held out of the day so they can be few-shot examples.
    history = kept[:examples]
    with tempfile.TemporaryDirectory() as tmp, OpenAIServer() as srv:
        os.environ.pop("OPENAI_API_KEY", None)
        os.environ["OPENAI_BASE_URL"] = srv.base_url
        s = settings.override(storage__digest_dir=str(Path(tmp) / "digests"))
        db = open_db(Path(tmp) / "bench.sqlite")
        store.save_papers(db, "2025-02-20", history)
        for i, p in enumerate(history):
            feedback.set_vote(db, p.arxiv_id, "U1", 1 if i % 2 == 0 else -1, "bench", feed=DEFAULT_FEED)
        feed_file = Path(tmp) / "day.xml"
        # The day without the held-out papers: rewrite the feed's items we keep.
        feed_file.write_bytes(_feed_without(SAMPLE_FEED.read_bytes(), {p.arxiv_id for p in history}))
        t0 = time.monotonic()
        outcome = run_day(s, db, feed_file=feed_file)
        wall = time.monotonic() - t0
        screens = [c for c in srv.chat_calls() if screen_reply(c.body) is not None]
        titles = sum(len(papers_in(c.body)) for c in screens)
        if os.environ.get("LLM_COST_CALLS"):  # one line per call, to see where the tokens go
            for c in srv.chat_calls():
                print(f"  call: {len(c.paper_ids) or len(papers_in(c.body))} papers, {c.usage}, "
                      f"reply {c.content[:60]!r}")
    u = outcome.report.usage
    ours = {"calls": u["calls"], "sent": u["papers_sent"], "prompt": u["prompt_tokens"],
            "cached": u["cached_tokens"], "completion": u["completion_tokens"], "titles": titles,
            "screens": len(screens)}
    return ours, outcome.report.n_scanned, wall


def print_costs(ours: dict, scanned: int) -> None:
    prices = PriceTable.load()
    print(f"{'model':<14} {'ours $':>8} {'$/scanned':>10} {'seed $/scanned':>15} {'ratio':>6}  target <= {TARGET:.2f}")
    for model in MODELS:
        c = prices.cost(model, ours["prompt"], ours["cached"], ours["completion"])
        seed = prices.cost(model, SEED["prompt"], SEED["cached"], SEED["completion"])
        per, seed_per = c.total / scanned, seed.total / SEED["scanned"]
        ratio = per / seed_per
        print(f"{model:<14} {c.total:>8.4f} {per * 1e6:>9.1f}µ {seed_per * 1e6:>14.1f}µ {ratio:>6.2f}  "
              f"{'met' if ratio <= TARGET else 'NOT met'}")


def print_recall(args, settings) -> None:
    """prefilter_recall from the replay (what `python -m bot eval` reports), with this run's
    pre-filter settings."""
    from sqlite_utils import Database

    from bot import criteria as criteria_mod
    from bot.embed import EmbeddingCache, Embedder
    from bot.eval import read_labels, replay
    from bot.learn import LearnConfig
    from bot.learn_cli import EVAL_CACHE
    from bot.scoring.openai_scorer import LLMConfig

    crit = criteria_mod.parse(criteria_mod.read_text_file(args.criteria))
    cache = EmbeddingCache(Database(str(EVAL_CACHE)), Embedder())
    out = replay(read_labels(args.labels).papers, crit, cache, LearnConfig.from_settings(settings),
                 score_from=args.score_from, prefilter=LLMConfig.from_settings(settings).prefilter()).to_json()
    since = f" from {args.score_from}" if args.score_from else ""
    print(f"prefilter_recall on {Path(args.labels).name} ({out['days']} days{since}): {out['prefilter_recall']:.3f} "
          f"of the positives sent to the LLM, {out['prefilter_sent']:.3f} of the papers sent")


def _feed_without(xml: bytes, drop: set[str]) -> bytes:
    """The sample RSS without the items of some papers (held out as history)."""
    import re

    text = xml.decode("utf-8")

    def keep(m):
        item = m.group(0)
        return "" if any(f"/abs/{pid}" in item or f"arXiv:{pid}" in item for pid in drop) else item

    return re.sub(r"<item>.*?</item>", keep, text, flags=re.S).encode("utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
