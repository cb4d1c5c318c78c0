"""The feeds of an installation (table `feeds` for those started from Slack).

A feed is one interest of the team: a name, optionally a Slack channel, its criteria, arXiv
categories, cutoffs, schedule, model and learning settings, and its own runs, picks, votes,
taste and costs. The settings file declares feeds as [feeds.NAME] tables (none: the one feed
"default"); `/arxiv feed new NAME` starts one in a channel, stored here, from the top-level
settings and the default feed's criteria. A feed is handed around as its Settings
(`settings.feed` is its name).
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from . import criteria
from .config import DEFAULT_FEED, FEED_NAME_RE, FEED_NAME_RULE, ConfigError, Settings
from .db import now

log = logging.getLogger(__name__)


class FeedError(ValueError):
    """A feed that cannot be made or found; the message says why and what to do."""


@dataclass(frozen=True)
class SlackFeed:
    """A feed started from Slack."""
    name: str
    channel: str  # the channel ID it was started in
    created_by: str
    created_at: str


def slack_feeds(db) -> list[SlackFeed]:
    return [SlackFeed(r["name"], r["channel"], r["created_by"] or "", r["created_at"] or "")
            for r in db.query("select * from feeds order by created_at, name")]


def _feed_settings(settings: Settings, db) -> list[Settings]:
    from_file = [settings.for_feed(name) for name in settings.feed_names()]
    taken = {s.feed for s in from_file}
    # A Slack feed whose name the file took since keeps the file's settings: the file wins.
    from_slack = [settings.for_feed(f.name, _started_in(f.channel)) for f in slack_feeds(db) if f.name not in taken]
    return from_file + from_slack


def _started_in(channel: str) -> dict:
    """What a feed started from Slack has of its own: its channel, and criteria kept in the
    database only (seeded from the default feed's; no criteria file, so an edit of the
    default feed's file never reaches it)."""
    return {"slack.channel": channel, "ranking.criteria_file": ""}


def all_feeds(settings: Settings, db) -> list[Settings]:
    """Every feed's settings, the settings file's first; two feeds posting to one channel, or
    writing their digests to one folder, is a configuration error naming both."""
    feeds = _feed_settings(settings, db)
    _one_feed_each(feeds, lambda f: f["slack.channel"], "post to Slack channel",
                   "give each feed its own [feeds.NAME.slack] channel (a feed started from Slack keeps the "
                   "channel it was started in)")
    _one_feed_each(feeds, lambda f: str(f.path("storage.digest_dir")), "write their digests to",
                   "give each its own [feeds.NAME.storage] digest_dir, or leave it out (data/digests/NAME)")
    _say_hidden_history(settings, db, feeds)
    return feeds


def _one_feed_each(feeds: list[Settings], key, what: str, fix: str) -> None:
    seen: dict[str, str] = {}
    for f in feeds:
        value = key(f)
        if not value:
            continue
        if value in seen:
            raise ConfigError(f"feeds {seen[value]!r} and {f.feed!r} both {what} {value}: {fix}")
        seen[value] = f.feed


_warned_hidden: set[str] = set()


def _say_hidden_history(settings: Settings, db, feeds: list[Settings]) -> None:
    """Once per process: the settings name feeds but not "default", while the database holds
    the default feed's history (all of it, for an installation from before feeds)."""
    if any(f.feed == DEFAULT_FEED for f in feeds) or str(settings.sources) in _warned_hidden:
        return
    if criteria.has_versions(db, feed=DEFAULT_FEED):
        _warned_hidden.add(str(settings.sources))
        log.warning("the database holds the history of feed %r (its criteria, votes and runs), which the settings "
                    "no longer declare: add a [feeds.%s] table to keep it in use", DEFAULT_FEED, DEFAULT_FEED)


def names(settings: Settings, db) -> list[str]:
    return [f.feed for f in all_feeds(settings, db)]


def feed_named(settings: Settings, db, name: str) -> Settings:
    """One feed's settings by name; FeedError naming the feeds there are."""
    for f in all_feeds(settings, db):
        if f.feed == name:
            return f
    raise FeedError(f"there is no feed {name!r}; the feeds are: {', '.join(names(settings, db))}")


def selected(settings: Settings, db, name: str | None) -> list[Settings]:
    """The feeds a command acts on: the one named (`--feed NAME`), else all of them."""
    return [feed_named(settings, db, name)] if name is not None else all_feeds(settings, db)


def chosen_feed(settings: Settings, db, name: str | None) -> Settings:
    """The one feed a command acts on: the one named (`--feed NAME`), else the only feed there
    is; with several and none named, a FeedError naming them and asking for --feed."""
    if name is not None:
        return feed_named(settings, db, name)
    feeds = all_feeds(settings, db)
    if len(feeds) == 1:
        return feeds[0]
    listed = ", ".join(f.feed for f in feeds)
    raise FeedError(f"this installation has {len(feeds)} feeds ({listed}): say which one with --feed NAME, "
                    f"e.g. --feed {feeds[0].feed}")


def feed_for_channel(settings: Settings, db, channel_id: str, channel_name: str = "") -> Settings | None:
    """The feed that posts to a channel, known by its ID (what Slack sends) and, where Slack
    sends it too (slash commands), its name: the settings may name the channel either way."""
    wanted = {channel_id} | ({channel_name, f"#{channel_name}"} if channel_name else set())
    for f in all_feeds(settings, db):
        if f["slack.channel"] and f["slack.channel"] in wanted:
            return f
    return None


def start_feed(settings: Settings, db, name: str, channel: str, who: str, channel_name: str = "") -> Settings:
    """A new feed posting to `channel` (its ID; `channel_name` as Slack names it, since the
    settings may name a feed's channel either way), started from Slack with the default feed's
    current criteria as its first version; FeedError when the name is not valid or taken, or
    the channel has a feed already."""
    name = (name or "").strip().lower()
    if not FEED_NAME_RE.match(name):
        raise FeedError(f"{name[:40]!r} cannot be a feed name: use {FEED_NAME_RULE}")
    if name == DEFAULT_FEED:
        raise FeedError(f"{DEFAULT_FEED!r} is the name of the installation's first feed: pick another name")
    if any(f.feed == name for f in all_feeds(settings, db)):
        raise FeedError(f"there is a feed {name!r} already: pick another name")
    owner = feed_for_channel(settings, db, channel, channel_name)
    if owner is not None:
        raise FeedError(f"this channel has a feed already: {owner.feed!r}")
    seed = criteria.current(db, criteria.file_of(settings.for_feed(DEFAULT_FEED)), feed=DEFAULT_FEED)
    try:
        with db.conn:
            db["feeds"].insert({"name": name, "channel": channel, "created_by": who, "created_at": now()})
    except sqlite3.IntegrityError:  # the same name or channel started at the same moment
        raise FeedError(f"a feed {name!r} or a feed in this channel was just started: see /arxiv feeds") from None
    criteria.seed_feed(db, seed.text, who, feed=name, note=f"started from feed {DEFAULT_FEED}'s version {seed.version}")
    return settings.for_feed(name, _started_in(channel))
