"""Settings: `settings.toml` (documented defaults) layered with an optional team file,
validated against SPEC so a wrong value stops the run naming the setting.

Secrets are not settings: they come from the environment or `.env` (see `secret`).
"""
from __future__ import annotations

import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = ROOT / "settings.toml"
ANNOUNCE_TYPES = ("new", "cross")
CATEGORY_RE = re.compile(r"^[a-z\-]+(\.[A-Za-z\-]+)?$")
DEFAULT_FEED = "default"
FEED_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}\Z")  # matched from the start; \Z: no trailing newline
FEED_NAME_RULE = "1-32 lowercase letters, digits, '-' or '_', starting with a letter or digit"
# One database and one arXiv request serve every feed: these cannot differ between feeds.
INSTALLATION_KEYS = ("storage.database", "arxiv.feed_url", "arxiv.timeout_seconds", "arxiv.min_interval_seconds",
                     "arxiv.max_tries")


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names it and what it accepts."""


def _check_categories(v):
    if not isinstance(v, list) or not v or not all(isinstance(c, str) and CATEGORY_RE.match(c) for c in v):
        return "a non-empty list of arXiv categories like [\"cs.LG\", \"stat.ML\"]"


def _check_types(v):
    if not isinstance(v, list) or not v or any(t not in ANNOUNCE_TYPES for t in v):
        return f"a non-empty list drawn from {list(ANNOUNCE_TYPES)}"


def _int_range(lo, hi):
    def check(v):
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            return f"a whole number from {lo} to {hi}"
    return check


def _num_range(lo, hi):
    def check(v):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
            return f"a number from {lo} to {hi}"
    return check


def _zero_or(check):
    """0 (= chosen for you, see the setting's comment) or a value `check` accepts."""
    def either(v):
        accepted = check(v)
        if accepted and not (v == 0 and not isinstance(v, bool)):
            return f"0 or {accepted}"
    return either


def _server_kind(v):
    from .llm.provider import SERVER_KINDS  # where each kind's behaviour lives

    if v not in SERVER_KINDS:
        return "one of " + ", ".join(f'"{k}"' for k in SERVER_KINDS)


PRICE_FIELDS = ("input", "cached_input", "output")


def _price(v):
    accepted = ("{} (the price from data/prices.toml) or an inline table of USD per 1M tokens for llm.model, "
                "like {input = 0.2, cached_input = 0.02, output = 1.25} ({input = 0, cached_input = 0, "
                "output = 0} for a local model)")
    if not isinstance(v, dict):
        return accepted
    problems = [f"missing {k}" for k in PRICE_FIELDS if k not in v]
    problems += [f"unknown field {k}" for k in v if k not in PRICE_FIELDS]
    problems += [f"{k} is not a number from 0 to 1000" for k, x in v.items() if k in PRICE_FIELDS and (
        isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x <= 1000)]
    if v and problems:
        return f"{accepted}; here: {', '.join(problems)}"


def _str(v):
    if not isinstance(v, str) or not v.strip():
        return "a non-empty string"


def _bool(v):
    if not isinstance(v, bool):
        return "true or false"


def _url(v):
    if not isinstance(v, str) or not re.match(r"^https?://", v):
        return "an http(s) URL"


def _str_list(v):
    if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
        return "a list of non-empty strings"


def _hhmm(v):
    if not isinstance(v, str) or not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", v):
        return "a time of day as \"HH:MM\" (24 h)"


def _tz(v):
    try:
        zoneinfo.ZoneInfo(v)
    except Exception:
        return "an IANA timezone name such as \"America/New_York\" or \"Europe/Berlin\""


# section.key -> check(value) returning None when fine, else what is accepted.
SPEC: dict[str, Callable[[Any], str | None]] = {
    "arxiv.categories": _check_categories,
    "arxiv.announce_types": _check_types,
    "arxiv.feed_url": _url,
    "arxiv.timeout_seconds": _num_range(1, 600),
    "arxiv.min_interval_seconds": _num_range(0, 60),
    "arxiv.max_tries": _int_range(1, 10),
    "arxiv.enrich": _bool,
    "ranking.criteria_file": _str,
    "ranking.min_relevance": _int_range(1, 10),
    "ranking.min_novelty": _int_range(1, 10),
    "ranking.max_papers": _int_range(1, 200),
    "ranking.authors": _str_list,
    "storage.database": _str,
    "storage.digest_dir": _str,
    "llm.model": _str,
    # LLM scoring (bot/scoring/openai_scorer.py, docs/llm.md).
    "llm.base_url": lambda v: None if v == "" else _url(v),
    "llm.batch_size": _int_range(1, 100),
    "llm.concurrency": _int_range(1, 32),
    "llm.prefilter_margin": _num_range(0, 20),
    "llm.prefilter_share": _num_range(0, 1),
    "llm.prefilter_floor": _int_range(0, 10000),
    "llm.prefilter_ceiling": _int_range(0, 10000),
    "llm.title_screen": lambda v: None if v in (True, False, "auto") else
    "true, false or \"auto\" (on for a model with a price in data/prices.toml or llm.price, off for a free one)",
    "llm.screen_batch_size": _int_range(1, 500),
    "llm.fewshot_examples": _int_range(0, 40),
    "llm.abstract_chars": _int_range(0, 10000),
    "llm.daily_budget_usd": _num_range(0, 10000),
    # 0 = chosen by the kind of server (llm.server): a CPU server takes minutes for one call.
    "llm.timeout_seconds": _zero_or(_num_range(1, 900)),
    "llm.max_tries": _int_range(1, 10),
    "llm.max_rounds": _int_range(1, 10),
    # The whole LLM phase of a run, and how many failed calls in a row end it (the rest is ranked locally).
    "llm.time_limit_seconds": _zero_or(_num_range(1, 86400)),
    "llm.give_up_after_failed_calls": _int_range(1, 100),
    "llm.response_format": lambda v: None if v in ("auto", "json_schema", "json_object") else
    "one of \"auto\", \"json_schema\", \"json_object\"",
    "llm.server": _server_kind,
    "llm.context_tokens": _zero_or(_int_range(512, 10_000_000)),
    "llm.price": _price,
    "llm.reasoning_effort": lambda v: None if isinstance(v, str) else "a string (\"\" = not sent)",
    "llm.batch_api": _bool,
    "llm.batch_deadline_minutes": _num_range(1, 1440),
    "llm.batch_poll_seconds": _num_range(0.01, 3600),
    "schedule.time": _hhmm,
    "schedule.timezone": _tz,
    "schedule.days": lambda v: None if v in ("weekdays", "monday", "tuesday", "wednesday", "thursday", "friday",
                                             "saturday", "sunday") else
    "\"weekdays\" or one day of the week (\"monday\" ... \"sunday\") for a weekly round-up",
    # Slack surface (bot/slack): where the daily thread goes, who may change settings.
    # "" = no channel: the feed only writes digests.
    "slack.channel": lambda v: None if v == "" else _str(v),
    "slack.admins": _str_list,
    "slack.post_abstract_chars": _int_range(0, 2500),
    "slack.max_authors": _int_range(1, 100),
    "slack.top_titles": _int_range(0, 20),
    "slack.seconds_between_posts": _num_range(0, 10),
    # Learning from feedback (bot/learn.py).
    "learning.enabled": _bool,
    "learning.prior_labels": _num_range(0.1, 10000),
    "learning.max_learned_weight": _num_range(0, 1),
    "learning.dislike_weight": _num_range(0, 100),
    "learning.unlabeled_weight": _num_range(0, 100),
    "learning.max_unlabeled": _int_range(0, 100000),
    "learning.ridge_lambda": _num_range(1e-6, 100),
    "learning.svm_C": _num_range(1e-6, 100),
    "learning.text_weight": _num_range(0, 1),
    "learning.explain_similarity": _num_range(0, 1),
    "learning.max_embed_per_run": _int_range(0, 1000000),
}


@dataclass
class Settings:
    """The settings of one feed (`feed`), or of the installation with every feed's overrides
    in `feeds` (feed name -> its "section.key" values); `for_feed` gives one feed's."""
    values: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)
    feed: str = DEFAULT_FEED
    # For one feed's Settings: the installation's, which knows every feed (None at the top level).
    installation: "Settings | None" = field(default=None, repr=False, compare=False)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def path(self, key: str) -> Path:
        p = Path(self.values[key])
        return p if p.is_absolute() else ROOT / p

    def override(self, **changes: Any) -> "Settings":
        """A copy with some keys changed ("section.key" spelled with "__" for the dot), validated."""
        values = dict(self.values)
        for k, v in changes.items():
            values[k.replace("__", ".")] = v
        validate(values)
        return Settings(values, self.sources + ["override"], self.feeds, self.feed, self.installation)

    def feed_names(self) -> list[str]:
        """The feeds of the settings file(s): its [feeds.NAME] tables, or the one feed "default"."""
        return list(self.feeds) or [DEFAULT_FEED]

    def for_feed(self, name: str, extra: dict[str, Any] | None = None) -> "Settings":
        """One feed's settings: the top-level values, then the feed's [feeds.NAME] keys, then
        `extra` (a feed started from Slack: its channel). A feed other than "default" writes its
        digests to a folder of its own under storage.digest_dir unless it names one, and posts
        to no Slack channel unless it names one (the top-level channel is the feed "default"'s)."""
        overrides = dict(self.feeds.get(name, {}))
        overrides.update(extra or {})
        values = dict(self.values)
        if name != DEFAULT_FEED:
            values["storage.digest_dir"] = str(Path(self.values["storage.digest_dir"]) / name)
            values["slack.channel"] = ""
        values.update(overrides)
        return Settings(values, self.sources, {}, name, self)


def _flatten(doc: dict, source: str, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for section, body in doc.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: `{prefix}{section}` must be a [{prefix}section] table, not a bare value")
        for key, value in body.items():
            flat[f"{section}.{key}"] = value
    return flat


def _feed_tables(doc: dict, source: str) -> dict[str, dict[str, Any]]:
    """The [feeds.NAME] tables of a settings file, each flattened to "section.key" values."""
    tables = doc.pop("feeds", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{source}: `feeds` must be tables [feeds.NAME.SECTION], e.g. [feeds.vision.slack]")
    feeds = {}
    for name, body in tables.items():
        if not FEED_NAME_RE.match(name):
            raise ConfigError(f"{source}: feed name {name!r} in [feeds.{name}] is invalid: use {FEED_NAME_RULE}")
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: `feeds.{name}` must hold section tables, e.g. [feeds.{name}.ranking]")
        feeds[name] = _flatten(body, source, f"feeds.{name}.")
    return feeds


def _read(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A settings file's top-level values and its feeds' values."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
        feeds = _feed_tables(doc, str(path))
        return _flatten(doc, str(path)), feeds
    except FileNotFoundError:
        raise ConfigError(f"settings file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"settings file {path} is not a text file: byte {exc.object[exc.start]:#04x} at "
                          f"position {exc.start} is not UTF-8 (a binary or a wrongly saved file?). Pass a TOML "
                          "text file saved as UTF-8, like settings.toml") from None
    except IsADirectoryError:
        raise ConfigError(f"settings file {path} is a folder: pass a TOML file, like settings.toml") from None
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from None


def validate(values: dict[str, Any], prefix: str = "") -> None:
    for key, value in values.items():
        check = SPEC.get(key)
        if check is None:
            known = ", ".join(sorted(SPEC))
            raise ConfigError(f"unknown setting `{prefix}{key}`; known settings: {known}")
        accepted = check(value)
        if accepted:
            raise ConfigError(f"setting `{prefix}{key}` = {value!r} is invalid: expected {accepted}")


def validate_feed(name: str, values: dict[str, Any]) -> None:
    """A feed's keys: the same names, checks and messages as the top level's, plus the keys
    one installation shares."""
    validate(values, f"feeds.{name}.")
    shared = [k for k in values if k in INSTALLATION_KEYS]
    if shared:
        raise ConfigError(f"setting `feeds.{name}.{shared[0]}` cannot differ between feeds (one database and one "
                          "arXiv request serve them all): set it at the top level instead")


def _merge_feeds(into: dict[str, dict[str, Any]], more: dict[str, dict[str, Any]]) -> None:
    for name, values in more.items():
        into.setdefault(name, {}).update(values)


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Defaults from settings.toml, then the team file (argument or $ARXIV_SETTINGS)."""
    values, feeds = _read(DEFAULTS_FILE)
    sources = [str(DEFAULTS_FILE)]
    extra = path or os.environ.get("ARXIV_SETTINGS")
    if extra:
        more, more_feeds = _read(Path(extra))
        values.update(more)
        _merge_feeds(feeds, more_feeds)
        sources.append(str(extra))
    validate(values)
    missing = set(SPEC) - set(values)
    if missing:
        raise ConfigError(f"settings missing from {DEFAULTS_FILE}: {', '.join(sorted(missing))}")
    for name, feed_values in feeds.items():
        validate_feed(name, feed_values)
    return Settings(values, sources, feeds)


def load_env() -> None:
    """Read `.env` into the environment (never overriding what is already set)."""
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env", override=False)


def secret(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None
