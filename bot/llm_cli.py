"""LLM commands: `python -m bot costs` (spending by day and model) and the `--batch` option of
`digest` (score through the Batch API for this run)."""
from __future__ import annotations

import argparse

from .cli import COMMANDS, arguments, command, open_store, whole_number
from .config import Settings


def _costs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="FILE", help="SQLite file (default: storage.database)")
    p.add_argument("--days", type=whole_number("a number of days", 0, 36500, "0 = all days"), default=30,
                   metavar="N", help="the N most recent announcement days with LLM calls recorded, however old "
                   "(default 30; 0 = all)")


def _money(x) -> str:
    return "unknown" if x is None else f"${x:.4f}"


def format_costs(rows: list[dict]) -> str:
    if not rows:
        return "no LLM calls recorded"
    head = f"{'date':<10}  {'model':<22} {'calls':>5} {'failed':>6} {'papers':>6} {'prompt':>9} {'cached':>9} {'completion':>10}  {'cost':>9}"
    out = [head, "-" * len(head)]
    total, unknown = 0.0, False
    for r in rows:
        cost = None if r["unpriced"] else (r["cost_usd"] or 0.0)
        if r["unpriced"]:
            unknown = True
        else:
            total += cost
        out.append(f"{r['date']:<10}  {r['model'][:22]:<22} {r['calls']:>5} {r['failed']:>6} {r['papers']:>6} "
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
    print(format_costs(summary(db, args.days)))
    return 0


def _extend_digest() -> None:
    """Add `--batch` to `digest`: the flag turns llm.batch_api on for this one run."""
    if "digest" not in COMMANDS or getattr(COMMANDS["digest"][1], "_llm_batch", False):
        return
    add, handler, help_ = COMMANDS["digest"]

    def add_with_batch(p: argparse.ArgumentParser) -> None:
        add(p)
        p.add_argument("--batch", action="store_true",
                       help="score through the OpenAI Batch API (half price; direct calls after llm.batch_deadline_minutes)")

    def handler_with_batch(args, settings: Settings) -> int:
        if getattr(args, "batch", False):
            settings = settings.override(llm__batch_api=True)
        return handler(args, settings)

    handler_with_batch._llm_batch = True
    COMMANDS["digest"] = (add_with_batch, handler_with_batch, help_)


_extend_digest()
