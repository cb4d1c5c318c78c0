"""A feed's feedback figures for `/arxiv stats` and the App Home tab (read-only)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .. import feedback, picks, store
from ..models import Paper


@dataclass
class DayFigures:
    date: str
    picked: int
    liked: int  # picks with more 👍 than 👎
    disliked: int


@dataclass
class TeamStats:
    days: list[DayFigures] = field(default_factory=list)  # newest first
    up: int = 0  # current 👍 on the picks of those days
    down: int = 0
    voters: int = 0
    all_time_votes: int = 0
    top_categories: list[tuple[str, int]] = field(default_factory=list)  # (category, 👍)
    top_papers: list[tuple[str, str, int]] = field(default_factory=list)  # (arxiv_id, title, net)

    @property
    def picked(self) -> int:
        return sum(d.picked for d in self.days)

    @property
    def liked(self) -> int:
        return sum(d.liked for d in self.days)

    @property
    def liked_share(self) -> float | None:
        return self.liked / self.picked if self.picked else None


def team_stats(db, days: int = 10, top: int = 5, *, feed: str) -> TeamStats:
    """One feed's figures over its last `days` announcement days that had picks."""
    out = TeamStats(all_time_votes=feedback.count_votes(db, feed=feed))
    dates = picks.recent_dates(db, days, feed=feed)
    if not dates:
        return out
    picked = {d: picks.picked_ids(db, d, feed=feed) for d in dates}
    ids = sorted({i for day in picked.values() for i in day})
    per_paper = feedback.tallies(db, ids, feed=feed)
    for d in dates:
        net = [(per_paper[i]["up"] - per_paper[i]["down"]) if i in per_paper else 0 for i in picked[d]]
        out.days.append(DayFigures(d, len(picked[d]), sum(n > 0 for n in net), sum(n < 0 for n in net)))
    out.up = sum(r["up"] for r in per_paper.values())
    out.down = sum(r["down"] for r in per_paper.values())
    out.voters = feedback.voter_count(db, ids, feed=feed)
    liked = [i for i, r in per_paper.items() if r["up"] > 0]
    papers = store.get_papers(db, liked)
    out.top_categories = _liked_categories(papers, per_paper).most_common(top)
    ranked = sorted(((i, per_paper[i]["up"] - per_paper[i]["down"]) for i in liked if i in papers),
                    key=lambda x: (-x[1], x[0]))
    out.top_papers = [(i, papers[i].title, net) for i, net in ranked[:top] if net > 0]
    return out


def _liked_categories(papers: dict[str, Paper], per_paper: dict[str, dict[str, int]]) -> Counter:
    """👍 per category (a paper's primary one, else its first listed), in paper id order."""
    cats: Counter = Counter()
    for arxiv_id, paper in papers.items():
        cat = paper.primary_category or (paper.categories[0] if paper.categories else "")
        if cat:
            cats[cat] += per_paper[arxiv_id]["up"]
    return cats


def stats_lines(s: TeamStats) -> list[str]:
    """The figures as mrkdwn lines (titles and categories escaped)."""
    from ..text import shown_title
    from .mrkdwn import escape, safe

    if not s.days:
        return ["No picks yet: the first daily post will start the figures."]
    share = s.liked_share
    lines = [
        f"*Last {len(s.days)} posted days* ({s.days[-1].date} to {s.days[0].date}): "
        f"{s.picked} picks, {s.liked} liked ({share:.0%}), "
        f"{sum(d.disliked for d in s.days)} disliked",
        f"*Votes on them:* 👍 {s.up} · 👎 {s.down} from {s.voters} "
        f"{'person' if s.voters == 1 else 'people'} ({s.all_time_votes} votes held in all)",
    ]
    if s.top_categories:
        lines.append("*Most liked categories:* " + ", ".join(f"{escape(c)} ({n} 👍)" for c, n in s.top_categories))
    if s.top_papers:
        lines.append("*Most liked papers:*")
        lines += [f"• <https://arxiv.org/abs/{escape(i)}|{safe(shown_title(t, i), 150)}> (net +{n})"
                  for i, t, n in s.top_papers]
    return lines
