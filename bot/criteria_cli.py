"""`python -m bot criteria show | set FILE | history | restore N`: a feed's criteria without
Slack. The same versions as `/arxiv criteria` (bot.criteria owns them): every change is a new
version, the feed's next run scores with the newest. `--feed NAME` picks the feed; it may be
left out when the installation has one feed."""
from __future__ import annotations

import argparse
import getpass

from . import criteria as criteria_mod
from .cli import ONE_FEED_HELP, add_feed_option, arguments, command, open_store
from .config import Settings
from .feeds import chosen_feed
from .text import strip_invisible


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="FILE", help="SQLite file (default: storage.database)")
    add_feed_option(p, says=ONE_FEED_HELP)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the current criteria and where they came from")
    put = actions.add_parser("set", help="store a text file as the new current criteria")
    put.add_argument("file", metavar="FILE")
    listing = actions.add_parser("history", help="list the stored versions, newest first")
    back = actions.add_parser("restore", help="make version N current again (as a new version)")
    back.add_argument("version", metavar="N")
    for action in (show, put, listing, back):
        # `criteria show --feed X` as well as `criteria --feed X show`: SUPPRESS keeps the
        # value given before the action when none follows it.
        add_feed_option(action, default=argparse.SUPPRESS, says=ONE_FEED_HELP)


def _terminal_safe(text: str) -> str:
    """Criteria, file names and authors come from anyone on the team: no terminal escapes,
    bidi or other invisible characters printed (the one rule bot.text applies everywhere),
    line by line so the text keeps its lines."""
    return "\n".join(strip_invisible(line) for line in text.split("\n"))


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


def _when(created_at: str) -> str:
    """A version's time to the second, as a reader wants it (it is stored to the microsecond)."""
    return (created_at or "")[:19].replace("T", " ")


def _file_note(db, path, version: int, *, feed: str) -> str | None:
    """How the feed's criteria file stands, in the words a run would use; None when it is adopted."""
    status = criteria_mod.file_status(db, path, feed=feed)
    if status == "changed":
        return f"the criteria file {path} changed since it was last adopted: the next run makes it a new version"
    return criteria_mod.not_adopted_note(path, version, feed=feed) if status == "older" else None


def show(db, settings: Settings) -> str:
    """The feed's current criteria (`settings` are the feed's) and where they came from."""
    path, feed = criteria_mod.file_of(settings), settings.feed
    crit = criteria_mod.current(db, path, feed=feed)
    row = criteria_mod.version_row(db, crit.version, feed=feed)
    lines = [f"criteria version {crit.version}, saved {_when(row['created_at'])} UTC by {row['created_by']}"
             + (f" ({row['note']})" if row["note"] else "")]
    if note := _file_note(db, path, crit.version, feed=feed):
        lines.append(note)
    return "\n".join(lines + ["", crit.text])


def set_from_file(db, settings: Settings, file: str) -> str:
    try:
        text = criteria_mod.read_text_file(file)
    except ValueError as exc:
        raise ValueError(f"criteria set {file}: {exc}; nothing changed") from None
    feed = settings.feed
    before = criteria_mod.current(db, criteria_mod.file_of(settings), feed=feed).version
    version = criteria_mod.save_version(db, text, created_by=_who(), note=f"set from {file}", feed=feed)
    if version == before:
        return f"nothing changed: this is the text of version {version} already"
    _audit(db, "criteria.set", f"version {version} ({len(text.strip())} characters) from {file}, was {before}",
           feed=feed)
    return f"saved as criteria version {version}; the next run scores with it"


def history(db, settings: Settings, feed_flag: str = "") -> str:
    """The feed's versions, newest first; `feed_flag` (" --feed NAME" or "") goes into the hint."""
    listed, _ = criteria_mod.history(db, criteria_mod.file_of(settings), feed=settings.feed)
    head = f"{'version':>7}  {'when':<19}  {'who':<16} {'chars':>5}  note"
    out = [head, "-" * len(head)]
    for v in listed:
        mark = "*" if v.current else " "
        out.append(f"{v.id:>6}{mark}  {_when(v.created_at):<19}  {v.created_by[:16]:<16} {len(v.text):>5}  {v.note}")
    out.append(f"* current; `python -m bot criteria{feed_flag} restore N` makes version N current again")
    return "\n".join(out)


def restore(db, settings: Settings, which: str, feed_flag: str = "") -> str:
    try:
        done = criteria_mod.restore_version(db, which, who=_who(), feed=settings.feed)
    except criteria_mod.UnknownVersion as exc:
        raise ValueError(f"criteria restore: {exc}; `python -m bot criteria{feed_flag} history` lists them") from None
    if not done.changed:
        return done.unchanged_reason()
    return f"version {done.version} restored as version {done.saved_as}; the next run scores with it"


def _audit(db, action: str, detail: str, *, feed: str) -> None:
    from .store import audit

    audit(db, _who(), action, detail, feed=feed)


def _reads_the_store(args: argparse.Namespace) -> bool:
    """Whether a missing database is a wrong path rather than a team's first use: restore only
    means something in a store, and a --db named for show or history is a file expected to be
    there (a typo must not make and seed a new one). The default database is made on first use,
    as by every run, so a new team's `criteria show` shows the criteria file's text."""
    return args.action == "restore" or (args.action in ("show", "history") and args.db is not None)


@command("criteria", "show, set, list or restore a feed's criteria (the versions /arxiv criteria edits)")
@arguments(_args)
def cmd_criteria(args, settings: Settings) -> int:
    db = open_store(settings, args.db, must_exist=_reads_the_store(args))
    feed = chosen_feed(settings, db, args.feed)
    flag = f" --feed {feed.feed}" if args.feed else ""
    if args.action == "show":
        report = show(db, feed)
    elif args.action == "set":
        report = set_from_file(db, feed, args.file)
    elif args.action == "history":
        report = history(db, feed, flag)
    else:
        report = restore(db, feed, args.version, flag)
    print(_terminal_safe(report))
    return 0
