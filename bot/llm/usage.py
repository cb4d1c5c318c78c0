"""One row per LLM call in `llm_calls` (tokens, latency, cost), day totals and the summary
behind `python -m bot costs`. Failed calls are recorded too: a 500 can still be billed.
Every call belongs to the feed whose run made it: its spending, budget and costs are its own."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..db import now
from .prices import PriceTable


@dataclass
class CallRecord:
    model: str
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int = 0
    ok: bool = True
    error: str = ""
    finish_reason: str = ""
    n_papers: int = 0
    kind: str = "direct"  # direct | batch
    batch_key: str = ""  # Batch API custom_id / batch id


@dataclass
class UsageTotals:
    model: str
    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    prompt_cost: float | None = 0.0
    completion_cost: float | None = 0.0
    papers: int = 0
    models: set = field(default_factory=set)

    @property
    def cost(self) -> float | None:
        if self.prompt_cost is None or self.completion_cost is None:
            return None
        return self.prompt_cost + self.completion_cost

    def as_digest_usage(self) -> dict:
        """The dict DayReport.usage expects (the digest's Prompt / Completion / Total table)."""
        return {"model": self.model, "calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "cached_tokens": self.cached_tokens, "completion_tokens": self.completion_tokens,
                "prompt_cost": self.prompt_cost, "completion_cost": self.completion_cost, "cost": self.cost}


def record_call(db, date: str, scorer: str, rec: CallRecord, prices: PriceTable, *, feed: str) -> float | None:
    """Store one call of a feed's run; returns its cost in USD (None when the model's price is unknown)."""
    cost = prices.cost(rec.model, rec.prompt_tokens, rec.cached_tokens, rec.completion_tokens,
                       batch=rec.kind == "batch")
    with db.conn:
        db.conn.execute(
            """insert into llm_calls (feed, date, model, prompt_tokens, cached_tokens, completion_tokens, latency_ms,
                   cost_usd, prompt_cost_usd, completion_cost_usd, ok, error, batch_key, kind, n_papers,
                   finish_reason, scorer, created_at) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (feed, date, rec.model, rec.prompt_tokens, rec.cached_tokens, rec.completion_tokens, rec.latency_ms,
             cost.total if cost else None, cost.prompt if cost else None, cost.completion if cost else None,
             int(rec.ok), rec.error[:500], rec.batch_key, rec.kind, rec.n_papers, rec.finish_reason, scorer, now()))
    return cost.total if cost else None


def spent(db, date: str, *, feed: str) -> float:
    """Dollars the feed already spent on calls for an announcement date (unknown prices count 0)."""
    row = next(db.query("select coalesce(sum(cost_usd), 0) as s from llm_calls where feed = ? and date = ?",
                        [feed, date]))
    return float(row["s"])


def day_totals(db, date: str, scorer: str | None = None, *, feed: str) -> UsageTotals | None:
    """Everything the feed was billed for a date (by one scorer when given), across resumed runs."""
    where, args = "feed = ? and date = ?", [feed, date]
    if scorer:
        where, args = where + " and scorer = ?", args + [scorer]
    rows = list(db.query(f"select * from llm_calls where {where}", args))
    if not rows:
        return None
    t = UsageTotals(model="")
    for r in rows:
        t.models.add(r["model"])
        t.calls += 1
        t.failed_calls += 0 if r["ok"] else 1
        t.prompt_tokens += r["prompt_tokens"] or 0
        t.cached_tokens += r["cached_tokens"] or 0
        t.completion_tokens += r["completion_tokens"] or 0
        t.papers += (r["n_papers"] or 0) if r["ok"] else 0
        if r["cost_usd"] is None:
            t.prompt_cost = t.completion_cost = None
        elif t.prompt_cost is not None:
            # Rows written before the split existed only have the total: count it as prompt.
            pc = r["prompt_cost_usd"] if r["prompt_cost_usd"] is not None else r["cost_usd"]
            t.prompt_cost += pc
            t.completion_cost += r["completion_cost_usd"] or 0.0
    t.model = ", ".join(sorted(t.models))
    return t


def summary(db, days: int = 0, *, feeds: list[str]) -> list[dict]:
    """Spending of these feeds by announcement date, feed and model, newest first, over the
    `days` most recent announcement days with calls of theirs recorded (0 = all), for
    `python -m bot costs`."""
    if not feeds:
        return []
    of_feeds = f"feed in ({','.join('?' * len(feeds))})"
    since = next(db.query(f"select date from llm_calls where {of_feeds} group by date order by date desc "
                          "limit 1 offset ?", [*feeds, days - 1]), None) if days else None
    where, args = (f"where {of_feeds} and date >= ?", [*feeds, since["date"]]) if since else \
        (f"where {of_feeds}", list(feeds))
    return list(db.query(
        f"""select date, feed, model, count(*) as calls, sum(ok = 0) as failed,
                   sum(prompt_tokens) as prompt_tokens, sum(cached_tokens) as cached_tokens,
                   sum(completion_tokens) as completion_tokens,
                   sum(coalesce(n_papers, 0) * ok) as papers,
                   sum(cost_usd) as cost_usd, sum(cost_usd is null) as unpriced
            from llm_calls {where} group by date, feed, model order by date desc, feed, model""", args))
