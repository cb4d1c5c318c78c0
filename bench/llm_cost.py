"""What LLM scoring of the sample day costs, next to the seed's prompt layout.

    python bench/llm_cost.py [--model gpt-5.4-nano] [--examples 8] [--share 0.35]

Ours: the real pipeline (pre-filter, cached prefix, batches, few-shot examples) runs the
sample day against the local OpenAI-compatible server (tests/servers/openai_server.py),
which counts tokens with the o200k tokenizer the way OpenAI bills them, cached prefix
included. Its replies carry a 20-word comment per paper, the length our prompt asks for.

Seed layout, on the same papers: the seed's full prompt (its intro, criteria, rubric and
instructions, from the seed digest) repeated for every batch of 5 papers, no cache, no
pre-filter, each paper as the seed rendered it (id, title, authors, abstract), and one
JSONL reply line per paper with the same comment. Tokens counted offline with o200k.

Both are priced at the same model's prices (data/prices.toml). No network, no key.
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
from bot.config import load_settings  # noqa: E402
from bot.db import open_db  # noqa: E402
from bot.feed import parse_feed, select  # noqa: E402
from bot.llm.prices import PriceTable  # noqa: E402
from bot.pipeline import SAMPLE_FEED, run_day  # noqa: E402
from tests.servers.openai_server import OpenAIServer, default_comment, expected_scores, tokens  # noqa: E402

SEED = ROOT.parent / "shared" / "seed" / "000_55ecf5fd6290fc9e.txt"
DATE = "2025-02-24"
SEED_BATCH = 5


def chat_tokens(messages: list[dict]) -> int:
    """Prompt tokens of a chat request, counted as the test server counts them."""
    return sum(len(tokens(f"<|{m['role']}|>")) + len(tokens(m["content"])) + 1 for m in messages) + 3


def seed_template() -> str:
    text = SEED.read_text(encoding="utf-8")
    return text.split("# Paper Selection Prompt", 1)[1].strip() + "\n"


def seed_paper(p) -> str:
    return (f"ArXiv ID: {p.arxiv_id}\nTitle: {p.title}\nAuthors: {' and '.join(p.authors)}\n"
            f"Abstract: {p.abstract[:4000]}")


def seed_layout(papers, template: str) -> dict:
    prompt = completion = calls = 0
    for i in range(0, len(papers), SEED_BATCH):
        batch = papers[i:i + SEED_BATCH]
        content = template.replace("[PAPER LIST HERE]", "\n\n".join(seed_paper(p) for p in batch))
        prompt += chat_tokens([{"role": "user", "content": content}])
        reply = "\n".join(json.dumps({"ARXIVID": p.arxiv_id, "COMMENT": default_comment({"title": p.title}),
                                      "RELEVANCE": expected_scores(p.arxiv_id)[0],
                                      "NOVELTY": expected_scores(p.arxiv_id)[1]}) for p in batch)
        completion += len(tokens(reply))
        calls += 1
    return {"calls": calls, "sent": len(papers), "prompt": prompt, "cached": 0, "completion": completion}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model to price (default: llm.model in settings.toml)")
    ap.add_argument("--examples", type=int, default=8, help="few-shot examples (voted papers held out of the day)")
    ap.add_argument("--share", type=float, default=None, help="pre-filter share (default: settings)")
    args = ap.parse_args()

    feed = parse_feed(SAMPLE_FEED.read_bytes())
    kept = select(feed, ["new", "cross"])
    # Papers the team voted on earlier: held out of the day so they can be few-shot examples.
    history, day = kept[:args.examples], kept[args.examples:]
    settings = load_settings()
    model = args.model or settings["llm.model"]
    changes = {"llm__model": model, "llm__daily_budget_usd": 0.0}
    if args.share is not None:
        changes["llm__prefilter_share"] = args.share
    prices = PriceTable.load()

    with tempfile.TemporaryDirectory() as tmp, OpenAIServer() as srv:
        os.environ.pop("OPENAI_API_KEY", None)
        os.environ["OPENAI_BASE_URL"] = srv.base_url
        s = settings.override(storage__digest_dir=str(Path(tmp) / "digests"), **changes)
        db = open_db(Path(tmp) / "bench.sqlite")
        store.save_papers(db, "2025-02-20", history)
        for i, p in enumerate(history):
            feedback.set_vote(db, p.arxiv_id, "U1", 1 if i % 2 == 0 else -1, "bench")
        feed_file = Path(tmp) / "day.xml"
        # The day without the held-out papers: rewrite the feed's items we keep.
        feed_file.write_bytes(_feed_without(SAMPLE_FEED.read_bytes(), {p.arxiv_id for p in history}))
        t0 = time.monotonic()
        outcome = run_day(s, db, feed_file=feed_file)
        wall = time.monotonic() - t0
        u = outcome.report.usage
        scanned = outcome.report.n_scanned
        ours = {"calls": u["calls"], "sent": u["papers_sent"], "prompt": u["prompt_tokens"],
                "cached": u["cached_tokens"], "completion": u["completion_tokens"]}
        day_papers = store.load_papers(db, DATE)

    seed = seed_layout(day_papers, seed_template())
    rows = [("ours", ours), ("seed layout", seed)]
    print(f"sample day {DATE}: {len(feed.papers)} feed items, {scanned} scanned (new + cross, "
          f"{args.examples} held out as few-shot examples); model priced: {model}")
    print(f"{'':<12} {'sent':>5} {'calls':>5} {'prompt':>8} {'cached':>8} {'completion':>10} {'cost $':>9} {'$/scanned':>10}")
    costs = {}
    for name, r in rows:
        c = prices.cost(model, r["prompt"], r["cached"], r["completion"])
        costs[name] = c.total if c else None
        per = f"{c.total / scanned * 1e6:.1f}µ" if c else "unknown"
        print(f"{name:<12} {r['sent']:>5} {r['calls']:>5} {r['prompt']:>8} {r['cached']:>8} {r['completion']:>10} "
              f"{(f'{c.total:.4f}' if c else 'unknown'):>9} {per:>10}")
    if costs["ours"] is not None and costs["seed layout"]:
        ratio = costs["ours"] / costs["seed layout"]
        print(f"ours / seed layout per scanned paper: {ratio:.2f} (target <= 0.33: {'met' if ratio <= 1 / 3 else 'NOT met'})")
    g4o = prices.cost("gpt-4o", seed["prompt"], 0, seed["completion"])
    print(f"for reference, the seed layout at gpt-4o prices: ${g4o.total:.3f} "
          f"(the seed's own day: $0.15 for 284 papers, 43,465 tokens)")
    print(f"pipeline wall time (embedding included, 2 cores): {wall:.1f} s")
    return 0


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
