"""`/arxiv help`, and the answer to anything `/arxiv` does not understand."""
from __future__ import annotations

from ...mrkdwn import escape, squash
from .invocation import Answer, Invocation

USAGE = """*`/arxiv` commands* (in a feed's channel they act on that feed)
• `/arxiv criteria` — edit the feed's criteria (opens a form; saving makes a new version)
• `/arxiv criteria history` (or `/arxiv history`) — the saved versions · `/arxiv criteria restore N` — make version N current again
• `/arxiv authors list` · `/arxiv authors add NAME[, NAME…]` · `/arxiv authors remove NAME` — papers by these authors are always posted
• `/arxiv categories` · `/arxiv categories set cs.LG cs.AI …` — the arXiv categories read each day
• `/arxiv run [YYYY-MM-DD]` — fetch, score and post the day now (a day already posted is never posted twice)
• `/arxiv stats` — votes, share of liked picks and the most liked categories over recent days
• `/arxiv feeds` — every feed: its channel, criteria version and next run
• `/arxiv feed new NAME` — (admins) start a feed in this channel from the default feed's criteria
• `/arxiv help` — this list
Vote on papers with the 👍 / 👎 buttons or reactions in the daily thread."""


def answer(ctx, inv: Invocation) -> Answer:
    return Answer(USAGE)


def unknown(what: str) -> Answer:
    """Usage, naming what was not understood (escaped: it is the caller's own text)."""
    return Answer(f"I don't know `{escape(squash(what)[:60])}`.\n\n{USAGE}")
