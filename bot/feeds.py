"""The feeds of an installation (table `feeds` for those started from Slack).

A feed is one interest of the team: a name, optionally a Slack channel, its criteria, arXiv
categories, cutoffs, schedule, model and learning settings, and its own runs, picks, votes,
taste and costs. The settings file declares feeds as [feeds.NAME] tables (none: the one feed
"default"); `/arxiv feed new NAME` starts one in a channel, stored here, from the top-level
settings and the default feed's criteria. A feed is handed around as its Settings
(`settings.feed` is its name).
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import DEFAULT_FEED, FEED_NAME_RE, FEED_NAME_RULE, ConfigError, Settings
from .db import now


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
    from_slack = [settings.for_feed(f.name, {"slack.channel": f.channel}) for f in slack_feeds(db) if f.name not in taken]
    return from_file + from_slack


def all_feeds(settings: Settings, db) -> list[Settings]:
    """Every feed's settings, the settings file's first; two feeds posting to one channel is a
    configuration error naming both."""
    feeds = _feed_settings(settings, db)
    seen: dict[str, str] = {}
    for f in feeds:
        channel = f["slack.channel"]
        if not channel:
            continue
        if channel in seen:
            raise ConfigError(f"feeds {seen[channel]!r} and {f.feed!r} both post to Slack channel {channel}: give "
                              f"each feed its own [feeds.NAME.slack] channel (a feed started from Slack keeps the "
                              f"channel it was started in)")
        seen[channel] = f.feed
    return feeds


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
    return [feed_named(settings, db, name)] if name else all_feeds(settings, db)


def chosen_feed(settings: Settings, db, name: str | None) -> Settings:
    """The one feed a command acts on: the one named (`--feed NAME`), else the only feed there
    is; with several and none named, a FeedError naming them and asking for --feed."""
    if name:
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


def start_feed(settings: Settings, db, name: str, channel: str, who: str) -> Settings:
    """A new feed posting to `channel`, started from Slack; FeedError when the name is not
    valid or taken, or the channel has a feed already."""
    name = (name or "").strip().lower()
    if not FEED_NAME_RE.match(name):
        raise FeedError(f"{name!r} cannot be a feed name: use {FEED_NAME_RULE}")
    existing = all_feeds(settings, db)
    if any(f.feed == name for f in existing):
        raise FeedError(f"there is a feed {name!r} already: pick another name")
    if name == DEFAULT_FEED:
        raise FeedError(f"{DEFAULT_FEED!r} is the name of the installation's first feed: pick another name")
    owner = feed_for_channel(settings, db, channel)
    if owner is not None:
        raise FeedError(f"this channel has a feed already: {owner.feed!r}")
    with db.conn:
        db["feeds"].insert({"name": name, "channel": channel, "created_by": who, "created_at": now()})
    return settings.for_feed(name, {"slack.channel": channel})
