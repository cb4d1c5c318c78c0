"""Command line: `python -m bot COMMAND`. Each command is one small function."""
from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import ConfigError, Settings, load_env, load_settings
from .db import WHERE as DATABASE_WHERE
from .db import DatabaseFileError, explain
from .errors import ExplainedError

COMMANDS: dict[str, tuple] = {}  # name -> (add_arguments, handler, help)


@dataclass(frozen=True)
class OwnDatabase:
    """A command whose SQLite file is its own option (eval's --cache), not the team's database:
    an SQLite error mid-command then names the file in `option` and `where` it is set."""
    option: str  # the argparse dest holding the file's path
    where: str  # how a user sets it, for the message ("eval's --cache option")


OWN_DATABASES: dict[str, OwnDatabase] = {}  # command name -> its own database, where it has one
_ARGUMENTS: dict[Callable, Callable] = {}  # handler -> its add_arguments, until command() registers it


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def command(name: str, help: str, *, database: OwnDatabase | None = None):
    def wrap(fn):
        COMMANDS[name] = (_ARGUMENTS.pop(fn, _no_arguments), fn, help)
        if database is not None:
            OWN_DATABASES[name] = database
        return fn
    return wrap


def arguments(add):
    """The command's own options; put it below @command."""
    def wrap(fn):
        _ARGUMENTS[fn] = add
        return fn
    return wrap


def open_store(settings: Settings, db_path: str | None = None, *, must_exist: bool = False):
    """The team's database (--db, else storage.database); with `must_exist`, a missing file
    is an error instead of a new empty database."""
    from .db import open_db

    return open_db(db_path or settings.path("storage.database"), create=not must_exist)


def reads_stored_day(args: argparse.Namespace) -> bool:
    """A --date with no --rss or --sample: the command renders or posts a day stored earlier."""
    return bool(args.date) and not vars(args).get("rss") and not args.sample


# ---- --feed NAME: the one option, the same in every command, that selects a feed ----

FEED_HELP = "the feed to act on, by name (default: every feed)"
ONE_FEED_HELP = "the feed to act on (may be left out when there is one feed)"


def add_feed_option(parser: argparse.ArgumentParser, default=None, says: str = FEED_HELP) -> None:
    """`--feed NAME`, the one option every command selects a feed with. `default=SUPPRESS` on a
    sub-command's parser keeps a --feed given before the sub-command."""
    parser.add_argument("--feed", metavar="NAME", default=default, help=says)


def selected_feeds(args: argparse.Namespace, settings: Settings, db) -> list[Settings]:
    """The feeds a command acts on: the one named by --feed, else all of them. A name that is
    no feed is an error naming the feeds there are (bot.feeds.FeedError, a ValueError)."""
    from .feeds import selected

    return selected(settings, db, args.feed)


def several_feeds(settings: Settings, db) -> bool:
    """More than one feed in the installation: output then names the feed of each line."""
    from .feeds import names

    return len(names(settings, db)) > 1


def rss_given_as_feed(args: argparse.Namespace, settings: Settings) -> None:
    """`--feed FILE` from before feeds existed: a saved RSS file that is no feed's name is read
    as `--rss FILE`, with a note saying the option's new name."""
    if args.feed and not args.rss and args.feed not in settings.feed_names() and Path(args.feed).is_file():
        print(f"note: reading the saved feed {args.feed}; that option is now --rss FILE "
              "(--feed NAME selects a feed)", file=sys.stderr)
        args.rss, args.feed = args.feed, None


def iso_date(value: str) -> str:
    """argparse type of every --date: a real calendar day as YYYY-MM-DD (else exit 2 saying so)."""
    from datetime import date

    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: write it as YYYY-MM-DD, "
                                         "e.g. 2025-02-24") from None


def whole_number(what: str, low: int, high: int, note: str = ""):
    """argparse type of a bounded count (days, a port): a whole number from `low` to `high`,
    else exit 2 saying so. The bound keeps a huge value from failing deep inside (dates, sockets)."""
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = None
        if n is None or not low <= n <= high:
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}: give a whole number from {low} to {high}"
                                             + (f" ({note})" if note else ""))
        return n
    return parse


def add_day_source_options(p: argparse.ArgumentParser) -> None:
    """Where the day comes from: --date (a stored day), --rss FILE or --sample; and --feed NAME."""
    p.add_argument("--date", type=iso_date, help="announcement date YYYY-MM-DD (re-renders a stored day)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--rss", metavar="FILE", help="read a saved RSS/Atom feed instead of the network")
    src.add_argument("--sample", action="store_true", help="use the shipped sample day (offline)")
    add_feed_option(p)


def _digest_args(p: argparse.ArgumentParser) -> None:
    add_day_source_options(p)
    p.add_argument("--db", metavar="FILE", help="SQLite file (default: storage.database)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--batch", action="store_true",
                   help="score through the OpenAI Batch API (half price; direct calls after llm.batch_deadline_minutes)")


@command("digest", "fetch, score and write each feed's digest (the feed default's to data/digests/)")
@arguments(_digest_args)
def cmd_digest(args, settings: Settings) -> int:
    from .pipeline import SAMPLE_FEED, run_day, run_feeds
    from .progress import StepBars

    rss_given_as_feed(args, settings)
    day_file = SAMPLE_FEED if args.sample else args.rss
    db = open_store(settings, args.db, must_exist=reads_stored_day(args))
    feeds = selected_feeds(args, settings, db)
    batch_api = True if args.batch else None
    notify = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    with StepBars(quiet=args.quiet) as progress:
        if len(feeds) == 1:  # one feed: its errors are the command's, as before feeds
            outcomes = [run_day(feeds[0], db, feed_file=day_file, date=args.date, progress=progress, notify=notify,
                                batch_api=batch_api)]
        else:
            outcomes = run_feeds(settings, db, feeds, feed_file=day_file, date=args.date, progress=progress,
                                 notify=notify, batch_api=batch_api)
    named = several_feeds(settings, db)
    for outcome in outcomes:
        print_outcome(outcome, named)
    return 0 if all(o.ok for o in outcomes) else 1


def print_outcome(outcome, named: bool) -> None:
    """One feed's run as the digest command shows it; `named`: a line names the feed first."""
    from .pipeline import print_warnings
    from .text import readable

    if named:
        print(f"== feed {outcome.feed} ==")
    if not outcome.ok:
        print(f"error: feed {outcome.feed}: {outcome.message}", file=sys.stderr)
        return
    print_warnings(outcome)
    print(outcome.message)
    if outcome.report:
        r = outcome.report
        print(f"  arXiv papers {r.n_feed}, scanned {r.n_scanned}, picked {len(r.picks)} "
              f"(scorer {r.scorer}, criteria v{r.criteria_version})")
        for i, pk in enumerate(r.picks[:10], 1):
            tag = "author match" if pk.author_match else f"R{pk.score.relevance} N{pk.score.novelty}"
            print(f"  {i:2}. [{tag}] {readable(pk.paper.title, 90)}")  # no terminal escapes or bidi
        if len(r.picks) > 10:
            print(f"  ... and {len(r.picks) - 10} more")
    if outcome.paths:
        print(f"digest written to {outcome.paths[0]} and {outcome.paths[1]}")
    return 0


@command("migrate", "create or upgrade the SQLite database")
@arguments(lambda p: p.add_argument("--db", metavar="FILE"))
def cmd_migrate(args, settings: Settings) -> int:
    from .db import migrate, open_db

    db = open_db(args.db or settings.path("storage.database"), apply_migrations=False)
    applied = migrate(db)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def _add_global_options(parser: argparse.ArgumentParser, default_verbose, default_settings) -> None:
    parser.add_argument("--settings", metavar="FILE", default=default_settings,
                        help="TOML file layered over settings.toml")
    parser.add_argument("-v", "--verbose", action="store_true", default=default_verbose,
                        help="debug logging, and the traceback of an unexpected error")


class CommandParser(argparse.ArgumentParser):
    """A command's parser: it accepts the global options too, so `digest --sample -v` works
    like `-v digest --sample`. Their default is SUPPRESS, so an option given before the
    command is not reset by the command's parser. Sub-commands (feedback import, ...) are
    CommandParsers as well: add_subparsers builds parsers of the parent's class."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _add_global_options(self, argparse.SUPPRESS, argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Daily arXiv paper assistant")
    _add_global_options(parser, False, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name, (add, _, help_) in COMMANDS.items():
        add(sub.add_parser(name, help=help_, description=help_))
    return parser


def _load_plugins() -> None:
    # Commands defined in other modules register themselves on import.
    import importlib

    # Each surface owns its commands: bot.llm_cli (costs), bot.slack_cli (run), bot.learn_cli
    # (eval, feedback import/export), bot.criteria_cli (criteria). A module that does not exist yet is skipped.
    for mod in ("bot.llm_cli", "bot.slack_cli", "bot.learn_cli", "bot.criteria_cli"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise


def _database_of(args: argparse.Namespace, settings: Settings) -> tuple[Path, str]:
    """The database file the command used and where it is set: its own (OwnDatabase), else
    its --db, else the setting (as open_store does)."""
    own = OWN_DATABASES.get(args.command)
    if own is not None:
        return Path(vars(args)[own.option]), own.where
    given = vars(args).get("db")
    return (Path(given) if given else settings.path("storage.database")), DATABASE_WHERE


# What a shell shows for a command stopped by SIGPIPE: the reader stopped early (`| head`, a
# pager closed), normal for a command line, not a failure.
READER_LEFT = 141


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status. Leaves the caller's stdout as it was, also when the
    reader left (the process entry point, bot.__main__, deals with what is still buffered)."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # output still buffered fails here, not at exit, when the reader left
        return code
    except BrokenPipeError:
        return READER_LEFT


def _main(argv: list[str] | None) -> int:
    _load_plugins()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.command:
        parser.print_help()
        return 2
    load_env()
    try:
        settings = load_settings(args.settings)
        return COMMANDS[args.command][1](args, settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        # Raised mid-run, after the database opened fine (open_db explains its own errors).
        print(f"error: {args.command} stopped: {explain(exc, *_database_of(args, settings))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # the reader left: main ends quietly
    except Exception as exc:
        from .embed import ModelError
        from .feed import FeedError
        from .run_lock import RunInProgress, RunLeaseLost

        # Errors whose message already says what is wrong and what to do.
        if isinstance(exc, (FeedError, ModelError, ValueError, DatabaseFileError, RunInProgress, RunLeaseLost,
                            ExplainedError)):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        # Anything else is a bug or an outage mid-run: one clear line, the traceback only
        # with -v. What was stored (papers, vectors, scores, posts) is kept for the re-run.
        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"error: {args.command} stopped: {type(exc).__name__}: {exc}\n"
              "what was already stored is kept; re-run the same command to resume "
              "(-v shows the traceback)", file=sys.stderr)
        return 1
