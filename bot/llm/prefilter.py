"""The pre-filter: which of the day's papers the LLM sees (the rest keep their local score).

The local ranker cannot tell a pick from a near miss, but it can tell papers far below the
pick cutoff: those are the only ones left out. Every paper whose local relevance is within
`margin` points below ranking.min_relevance, or anywhere above it, goes to the LLM (a pick
must be scored by the LLM, so papers clearly above go too). The relevance is the local
ranker's continuous score on its 1-10 scale, standardised against the corpus (earlier days
and today), so the cut follows the day: a strong day sends more, a weak day fewer, and no
fixed share is sent whatever the day. `floor` and `ceiling` bound it in papers, `share`
as a share of the day (1.0: no bound).

The replay benchmark (bot.eval) applies the same cut to a labelled stream: a paper the
pre-filter drops can never be an LLM pick, so its recall bounds what the LLM can find.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..scoring.local import REL_HI, REL_LO


def local_relevance(raw: float) -> float:
    """The local ranker's relevance on its 1-10 scale before rounding and clipping."""
    return 1 + 9 * (raw - REL_LO) / (REL_HI - REL_LO)


@dataclass(frozen=True)
class Prefilter:
    cutoff: float  # ranking.min_relevance: the pick cutoff
    margin: float = 3.0  # relevance points below the cutoff still sent
    share: float = 1.0  # the most of the day sent, as a share of its candidates
    floor: int = 0  # at least this many papers (the day's best by local score)
    ceiling: int = 10_000  # at most this many

    @property
    def lowest(self) -> float:
        """The lowest local relevance sent (the floor may send lower)."""
        return self.cutoff - self.margin

    def size(self, raws: list[float]) -> int:
        """How many of the day's candidates go to the LLM."""
        n = len(raws)
        above = sum(1 for r in raws if local_relevance(r) >= self.lowest)
        k = min(above, math.ceil(self.share * n))
        return min(n, self.ceiling, max(self.floor, k))
