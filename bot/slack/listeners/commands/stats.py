"""`/arxiv stats`: votes, the share of liked picks and the most liked categories lately, in the
channel's feed."""
from __future__ import annotations

from ...stats import stats_lines, team_stats
from .invocation import Answer, Invocation
from .usage import unknown

DAYS = 10


def answer(ctx, inv: Invocation) -> Answer:
    if inv.args:
        return unknown(f"stats {inv.rest}")
    return Answer("\n".join(stats_lines(team_stats(ctx.db, days=DAYS, feed=inv.feed.feed))))
