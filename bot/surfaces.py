"""Where a feed's day goes once it is picked: delivery surfaces behind one small interface.

The core (fetch, score, learn, pick) knows nothing of them. The digest files are one surface
(always on), Slack another (bot/slack/surface.py: the day's thread in the feed's channel); a
third (email) is a new module implementing `Surface`, registered where the surfaces are built
(`python -m bot post` and the Slack app), with no change to the core.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .config import Settings
from .digest import DayReport, write


@dataclass
class Delivered:
    """What one surface did with one feed's day."""
    surface: str
    feed: str
    ok: bool  # everything picked is there (or there was nothing to deliver)
    message: str  # one line for the operator
    warnings: list[str] = field(default_factory=list)
    status: str = ""  # the surface's own word for it (posted, already_posted, partial, failed, written, ...)
    paths: tuple[Path, ...] = ()  # files written, for surfaces that write files


class Surface(Protocol):
    name: str

    def deliver(self, feed: Settings, db, report: DayReport) -> Delivered:
        """Deliver (or continue, or confirm) the feed's day `report`, exactly once per target;
        never raises for the surface's own errors (they come back in `Delivered`)."""
        ...

    def refresh(self, feed: Settings, db, date: str, arxiv_id: str) -> bool:
        """Show one delivered paper again with its current tally (after a vote); False when it
        was not delivered here or could not be updated."""
        ...


class DigestFiles:
    """The day as Markdown and JSON files in the feed's storage.digest_dir."""

    name = "digest files"

    def deliver(self, feed: Settings, db, report: DayReport) -> Delivered:
        paths = write(report, feed.path("storage.digest_dir"))
        return Delivered(self.name, feed.feed, True, f"digest written to {paths[0]} and {paths[1]}",
                         status="written", paths=paths)

    def refresh(self, feed: Settings, db, date: str, arxiv_id: str) -> bool:
        return False  # files show no tallies
