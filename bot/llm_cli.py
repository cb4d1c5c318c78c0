"""LLM command: `python -m bot costs` (spending by day, feed and model)."""
from __future__ import annotations

import argparse

from .cli import add_feed_option, arguments, command, open_store, selected_feeds, several_feeds, whole_number
from .config import Settings


def _costs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="FILE", help="SQLite file (default: storage.database)")
    p.add_argument("--days", type=whole_number("a number of days", 0, 36500, "0 = all days"), default=30,
                   metavar="N", help="the N most recent announcement days with LLM calls recorded, however old "
                   "(default 30; 0 = all)")
    add_feed_option(p)


def _money(x) -> str:
    return "unknown" if x is None else f"${x:.4f}"


def format_costs(rows: list[dict], by_feed: bool = False) -> str:
    """The costs table; `by_feed`: a feed column (an installation with several feeds)."""
    if not rows:
        return "no LLM calls recorded"
    feed_head = f"{'feed':<16} " if by_feed else ""
    head = f"{'date':<10}  {feed_head}{'model':<22} {'calls':>5} {'failed':>6} {'papers':>6} {'prompt':>9} {'cached':>9} {'completion':>10}  {'cost':>9}"
    out = [head, "-" * len(head)]
    total, unknown = 0.0, False
    for r in rows:
        cost = None if r["unpriced"] else (r["cost_usd"] or 0.0)
        if r["unpriced"]:
            unknown = True
        else:
            total += cost
        feed = f"{r['feed'][:16]:<16} " if by_feed else ""
        out.append(f"{r['date']:<10}  {feed}{r['model'][:22]:<22} {r['calls']:>5} {r['failed']:>6} {r['papers']:>6} "
                   f"{r['prompt_tokens']:>9} {r['cached_tokens']:>9} {r['completion_tokens']:>10}  {_money(cost):>9}")
    days = len({r["date"] for r in rows})
    out += ["-" * len(head), f"total {_money(total)} over {days} day(s), {_money(total / days)} a day"
            + (" (plus calls to models with no price in data/prices.toml)" if unknown else "")]
    return "\n".join(out)


@command("costs", "LLM spending by announcement day and model (tokens, cached tokens, dollars)")
@arguments(_costs_args)
def cmd_costs(args, settings: Settings) -> int:
    from .llm.usage import summary

    db = open_store(settings, args.db)
    feeds = [f.feed for f in selected_feeds(args, settings, db)]
    print(format_costs(summary(db, args.days, feeds=feeds), by_feed=several_feeds(settings, db)))
    return 0
