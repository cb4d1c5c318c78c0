"""The team's criteria: plain text in the format users of gpt_paper_assistant know,
parsed into topics for the local scorer, and versioned in SQLite.

Two layouts are understood, and anything else still works as one whole text:
  1. Topic name
     - Relevant: ...
     - Irrelevant: ...
  **Keywords:**
  - Relevant: a, b, c
  - Irrelevant: d, e
  - Application Work: f, g
or a free-form numbered or bulleted list ("1. New methods for spatial intelligence ...").
What to avoid is understood however it is said: Irrelevant / Not / Out of scope / Nope labels
anywhere (two on one line, or after a sentence), sections headed "Not interested" or
"EXCLUDE" (with or without a colon), sentences such as "Not interested in X.", "Y, but not Z.",
"Y (excluding Z)", "Y — not Z", "Y; Z is out of scope." (see polarity). A negation ends at a ";"
and at a turn to what is wanted: "No RL; we focus on MoE" wants MoE.

The criteria file seeds version 1 and is adopted again once edited (adopt_file); versions
made in Slack or with `python -m bot criteria` are newer edits and win until then.

Each feed has its own versions (`feed=`, its name): a feed's current version is its highest
id, a version of another feed is unknown to it, and a feed adopts its own criteria file
(feed A's file changing leaves feed B's versions alone, even when both name one file).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .config import ROOT, ConfigError

MAX_CHARS = 8000  # about 2k tokens: leaves room for papers in the LLM prompt
MIN_CHARS = 20


@dataclass
class Topic:
    name: str
    relevant: str = ""
    irrelevant: str = ""

    @property
    def query(self) -> str:
        return f"{self.name}: {self.relevant}" if self.relevant else self.name

    @property
    def label(self) -> str:
        """The topic as a reader is told it ("Closest criteria topic: ..."): the name without
        the words that ask for it ("We want papers on X." -> "X"); the query keeps them all."""
        name = self.name.strip().rstrip(" .;:,")
        label = name
        while (shorter := _LEAD_IN.sub("", label, count=1)) != label:
            label = shorter
        if label == name or _says_nothing(label) or len(label) < 3:
            return name
        return label[0].upper() + label[1:] if label[1:2].islower() else label


@dataclass
class Criteria:
    text: str
    topics: list[Topic] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)  # relevant keyword phrases
    negatives: list[str] = field(default_factory=list)  # irrelevant lines / keyword phrases
    version: int | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _phrases(line: str) -> list[str]:
    line = re.sub(r"\betc\.?", "", line)
    parts = re.split(r",|;|\band\b(?=\s)", line)
    out = []
    for p in parts:
        p = re.sub(r"\(.*?\)", "", p).strip(" .*")
        if len(p) >= 3:
            out.append(p)
    return out


def validate_text(text: str) -> str | None:
    """None when the text can be used as criteria, else the reason it cannot."""
    stripped = (text or "").strip()
    if not stripped:
        return "the criteria text is empty"
    if len(stripped) < MIN_CHARS:
        return f"the criteria text is too short ({len(stripped)} characters; at least {MIN_CHARS})"
    if len(stripped) > MAX_CHARS:
        return f"the criteria text is too long ({len(stripped)} characters; at most {MAX_CHARS})"
    return None


SETTING = "ranking.criteria_file"


def read_text_file(path: str | Path) -> str:
    """A criteria file's text; ValueError saying what is wrong with it (missing, binary, not UTF-8)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError("the file does not exist") from None
    except IsADirectoryError:
        raise ValueError("it is a folder, not a file") from None
    except OSError as exc:
        raise ValueError(f"it cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"it is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                         "save it as plain UTF-8 text") from None
    if "\x00" in text:
        raise ValueError("it looks binary (it holds NUL bytes), not a text file; save it as plain UTF-8 text")
    err = validate_text(text)
    if err:
        raise ValueError(err)
    return text


def load_file(path: str | Path) -> str:
    """The criteria file's text, or a ConfigError naming the file and the setting."""
    try:
        return read_text_file(path)
    except ValueError as exc:
        raise ConfigError(f"criteria file {path} (setting {SETTING}): {exc}. Create or fix the file, or point {SETTING} "
                          "in your settings file at your criteria file (prompts/criteria.txt is an example)") from None


def has_versions(db, *, feed: str) -> bool:
    return _latest(db, feed=feed) is not None


def _latest(db, *, feed: str) -> dict | None:
    return next(db.query("select * from criteria_versions where feed = ? order by id desc limit 1", [feed]), None)


def version_row(db, version: int | None, *, feed: str) -> dict | None:
    """The stored row of one of the feed's criteria versions (id, text, created_by, created_at,
    note, ...); None for a version of another feed."""
    if version is None:
        return None
    return next(db.query("select * from criteria_versions where feed = ? and id = ?", [feed, version]), None)


def _last_adopted_from_file(db, *, feed: str) -> dict | None:
    return next(db.query("select * from criteria_versions where feed = ? and file_sha256 is not null "
                         "order by id desc limit 1", [feed]), None)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _edited_after(path: Path, row: dict) -> bool:
    """Whether the file was saved after the version `row` was made (the latest edit wins).
    Versions keep their time to the microsecond (_made_now), as the file's date does."""
    made = datetime.fromisoformat(row["created_at"])
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) > made


def _made_now() -> str:
    """A version's time, to the microsecond: to the second, a file saved up to a second before
    an edit in Slack would look saved after it."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def file_status(db, path: str | Path | None, *, feed: str) -> str:
    """How the criteria file stands against the store: "adopted" (its text was last adopted,
    or no file), "changed" (the next run adopts it), "older" (changed, but saved before the
    current version was made in Slack or with `criteria set`: the current version stays).

    The file's date only matters against an edit made elsewhere: while the current version
    came from the file (or is its seed), a changed file is adopted however it is dated, since
    cp -p, rsync -a and tar keep an old date on a new text."""
    if path is None:
        return "adopted"
    path = Path(path)
    latest = _latest(db, feed=feed)
    if latest is None or not path.is_file():
        return "adopted"
    adopted, file_sha = _last_adopted_from_file(db, feed=feed), _file_sha(path)
    if file_sha is not None and file_sha in (latest["sha256"], adopted and adopted["file_sha256"]):
        return "adopted"  # last adopted, or `criteria set` from this very file
    from_file = latest["file_sha256"] is not None
    return "changed" if from_file or _edited_after(path, latest) else "older"


def not_adopted_note(path: str | Path, version: int, *, feed: str) -> str:
    """Why a feed's changed criteria file is not used, and how to use it."""
    return (f"criteria file {_display(Path(path))} ({SETTING}) differs from the current criteria version {version}, "
            f"which was edited in Slack or with `python -m bot criteria` after the file was saved: it stays unused "
            f"until edited again; `python -m bot criteria --feed {feed} set {path}` makes it the current criteria")


def _file_sha(path: Path) -> str | None:
    """The sha256 of the file's criteria text; None when it is not usable text (the run says why)."""
    try:
        return _text_sha(read_text_file(path))
    except ValueError:
        return None


def file_of(settings) -> Path | None:
    """A feed's criteria file (ranking.criteria_file), or None for a feed whose criteria live in
    the database only (one started from Slack: its criteria follow no file)."""
    return settings.path(SETTING) if settings[SETTING] else None


def adopt_file(db, path: str | Path | None, *, feed: str) -> str | None:
    """Make the criteria file the current version when it changed since it was last adopted
    (file_status: unless a Slack or `criteria set` edit made after the file was saved is
    current; an edit there after that wins again). Seeds version 1 when the store has none.
    Returns what to tell the run's reader (adopted, or changed but not adopted), or None."""
    if path is None:
        return None  # the feed's criteria live in the database only
    path = Path(path)
    latest = _latest(db, feed=feed)
    if latest is not None and not path.exists():
        return f"criteria file {path} ({SETTING}) does not exist: scoring with the stored version {latest['id']}"
    status = "changed" if latest is None else file_status(db, path, feed=feed)
    if status == "older":
        return not_adopted_note(path, latest["id"], feed=feed)
    if status != "changed":
        return None
    text = load_file(path)
    version = save_version(db, text, created_by="settings", note=f"from file {_display(path)}", feed=feed)
    _mark_adopted(db, version, path, _text_sha(text))
    if latest is None or version == latest["id"]:
        return None  # the first version, or the file now says what the current version says
    return (f"criteria file {_display(path)} changed since it was last adopted: it is now criteria version "
            f"{version} (an edit in Slack or `python -m bot criteria set` after this wins again)")


def _mark_adopted(db, version: int, path: Path, file_sha: str) -> None:
    """Record that the version holds (or accounts for) the file's text `file_sha`."""
    db["criteria_versions"].update(version, {"file_path": str(path), "file_sha256": file_sha})


def current(db, default_path: str | Path | None, *, feed: str) -> Criteria:
    """The newest stored criteria version; seeded from the criteria file on first use.

    Later edits of the file are adopted by a run (`adopt_file`), not here: the Slack views
    show what is stored."""
    row = _latest(db, feed=feed)
    if row is None:
        if default_path is None:
            raise ValueError(f"feed {feed!r} has no criteria yet: write them with `/arxiv criteria` in its channel "
                             f"or `python -m bot criteria --feed {feed} set FILE`")
        adopt_file(db, default_path, feed=feed)
        row = _latest(db, feed=feed)
    crit = parse(row["text"])
    crit.version = row["id"]
    return crit


def for_run(db, path: str | Path | None, *, feed: str) -> tuple[Criteria, list[str]]:
    """The criteria a run of the feed scores with, after adopting its edited criteria file, and
    what to tell the reader about it."""
    said = adopt_file(db, path, feed=feed)
    return current(db, path, feed=feed), [said] if said else []


def _text_sha(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def save_version(db, text: str, created_by: str, note: str = "", *, feed: str) -> int:
    """Store the text as the feed's newest version (the one its runs score with); the text of
    its newest version already: nothing stored, its id returned."""
    err = validate_text(text)
    if err:
        raise ValueError(err)
    text = text.strip()
    last = _latest(db, feed=feed)
    sha = _text_sha(text)
    if last and last["sha256"] == sha:
        return last["id"]
    table = db["criteria_versions"]
    table.insert({"feed": feed, "text": text, "sha256": sha, "created_by": created_by, "created_at": _made_now(),
                  "note": note})
    return table.last_pk


def seed_feed(db, text: str, who: str, *, feed: str, note: str = "the feed's first criteria",
              criteria_file: str | Path | None = None) -> int:
    """The first criteria version of a feed started from Slack (`text`: the default feed's
    current criteria, which the caller reads). With `criteria_file` (the new feed's
    ranking.criteria_file) that file's present text counts as seen, so the feed's runs keep
    the seed, with no note about the file, and adopt the file only once it is edited again."""
    version = save_version(db, text, created_by=who, note=note, feed=feed)
    path = Path(criteria_file) if criteria_file else None
    file_sha = _file_sha(path) if path and path.is_file() else None
    if file_sha is not None:
        _mark_adopted(db, version, path, file_sha)
    return version


# --- History and restore (the same for `/arxiv criteria` and `python -m bot criteria`) -----

# "3" or "v3", ASCII digits only ('\u00b2'.isdigit() is True), and at most 18 of them: every
# id SQLite can hold (below 2**63) fits, and nothing larger reaches a query.
_VERSION_NUMBER = re.compile(r"[vV]?([0-9]{1,18})")


class UnknownVersion(ValueError):
    """`which` names no stored version; the message says why, the caller adds where to look."""


@dataclass
class Restored:
    version: int  # the version asked for
    saved_as: int  # the new version with its text; `current` when that says it already
    current: int  # the version current before

    @property
    def changed(self) -> bool:
        return self.saved_as != self.current

    def unchanged_reason(self) -> str:
        if self.version == self.current:
            return f"version {self.version} is already the current criteria"
        return f"the current version {self.current} already says what version {self.version} says"


@dataclass
class StoredVersion:
    id: int
    created_at: str
    created_by: str
    note: str
    text: str
    current: bool


def restore_version(db, which: str, who: str, *, feed: str) -> Restored:
    """Make the feed's version `which` names ("3", "v3") current again, as a new version,
    audited as `who`'s; UnknownVersion when it names none of the feed's."""
    from .store import audit

    m = _VERSION_NUMBER.fullmatch(which.strip())
    if not m:
        raise UnknownVersion(f"{which[:20]!r} is not a version number")
    row = version_row(db, int(m.group(1)), feed=feed)
    latest = _latest(db, feed=feed)
    if row is None or latest is None:
        raise UnknownVersion(f"there is no criteria version {int(m.group(1))} in feed {feed!r}")
    current = latest["id"]
    saved_as = current if row["id"] == current else \
        save_version(db, row["text"], created_by=who, note=f"restored from version {row['id']}", feed=feed)
    if saved_as != current:  # else the current version says it already: nothing stored
        audit(db, who, "criteria.restore", f"version {row['id']} restored as {saved_as}, was {current}", feed=feed)
    return Restored(row["id"], saved_as, current)


def history(db, default_path: str | Path | None, limit: int | None = None, *, feed: str) -> tuple[list[StoredVersion], int]:
    """The feed's stored versions, newest first (at most `limit`), and how many it has in all;
    seeded from the criteria file on first use, as `current` is."""
    newest = current(db, default_path, feed=feed).version
    rows = db.query("select id, created_at, created_by, note, text from criteria_versions where feed = ? "
                    "order by id desc limit ?", [feed, -1 if limit is None else limit])
    listed = [StoredVersion(r["id"], r["created_at"] or "", r["created_by"] or "", r["note"] or "", r["text"],
                            r["id"] == newest) for r in rows]
    total = next(db.query("select count(*) as n from criteria_versions where feed = ?", [feed]))["n"]
    return listed, total


# --- Reading the text ------------------------------------------------------------------
# One pass over the lines sorts every piece into what the team wants (topics, their
# Relevant lines, prose, relevant keywords) and what it does not (Irrelevant lines,
# sections and sentences that say what to avoid, Irrelevant / Application Work keywords).
# parse() and query_texts() both read that one result, so a form of "not this" that is
# understood is understood everywhere: in the local scorer's two query texts, in its topic
# names and in the terms its comments name. Measured on the labelled streams
# (bench/zero_shot_study.py), mixing the two in one query ranks much worse: the irrelevant
# words pull the query towards the papers they describe.

_ITEM = re.compile(r"^(\s*)(?:(\d+)[.)]|[-*+\u2022])\s+(.*)$")  # "1. x", "2) x", "- x", "* x", "+ x"
_KEYWORDS_HEADING = re.compile(r"^\**\s*keywords?\s*:?\s*\**\s*:?\s*$", re.I)
_LABEL_HEADING = re.compile(r"^\**\s*([A-Za-z][\w '\u2019/-]{0,50}?)\s*\**\s*:\s*\**\s*$")  # "Not interested in:"
# "**Irrelevant:** x": the closing emphasis after the colon is markup, not the body.
_LABELLED = re.compile(r"^(?:[-*+\u2022]\s*)?\**([A-Za-z][A-Za-z '\u2019/-]*?)\**\s*:\s*(?:\*+\s*)?(.*\S)\s*$")
_WANTED_LABEL = re.compile(r"^(relevant|interested(?: in)?|interests?|include|topics?|focus(?: on)?|wanted|want)$",
                           re.I)
# A verb followed by the noun it names a technique with ("Skip connections", "drop path") is
# that noun, in a label, a heading or a sentence alike.
_VERB_AS_NOUN = r"(?!\s+(?:connections?|grams?|lists?|layers?|path|tokens?|index)\b)"
_LISTS_TO_AVOID = r"(?:black|block|deny)\s*list"
_NEG_LABEL = re.compile(rf"^(irrelevant|not relevant|not interested|not\b(?!\s+only\b)|{_LISTS_TO_AVOID}|exclu|"
                        r"application|out of scope|nope|no[- ]go\b|what\s+we\s+(?:do\s+not|don'?t)\s+want|"
                        r"less\s+interested|de-?prioriti[sz]e|"
                        rf"(?:avoid|skip|ignore){_VERB_AS_NOUN}|"
                        r"uninteresting|unwanted|negative|no\b(?!-)|don'?t|do not|dislike|off[- ]topic)", re.I)
_NEG_HEADING = re.compile(r"\b(irrelevant|not relevant|not interested|uninteresting|exclude[ds]?|"
                          rf"exclusions?|(?:avoid|skip|ignore){_VERB_AS_NOUN}|out of scope|off[- ]topic|"
                          rf"don'?t|do not|no interest|not wanted|unwanted|negatives?|dislikes?|{_LISTS_TO_AVOID})\b",
                          re.I)
# A numbered item is a topic unless its label says nothing but "not this" ("2. Not: robotics");
# "3. Applications: protein design", "4. No-regret learning: bandits" are topics.
_NEG_ITEM_LABEL = re.compile(rf"irrelevant|not(?:\s+(?:relevant|interested(?:\s+in)?|wanted))?|{_LISTS_TO_AVOID}|"
                             r"exclu(?:de[ds]?|sions?)|avoid|out of scope|off[- ]topic|unwanted|don'?t care|"
                             r"dislikes?|negatives?|nope|no[- ]go|what\s+we\s+(?:do\s+not|don'?t)\s+want|"
                             r"less\s+interested(?:\s+in)?|de-?prioriti[sz]e[ds]?", re.I)
# Words around a heading that say nothing themselves: "Topics to avoid", "Our exclusions".
_HEADING_FILLER = {"topics", "topic", "papers", "paper", "areas", "things", "to", "list", "we", "the", "our", "of",
                   "what", "and", "or", "work", "in", "on", "about", "for", "want", "see", "like", "please"}
_NEG_CUE = re.compile(r"\b(irrelevant|filter out|not interested|exclude|avoid)\b", re.I)  # a task sentence

# Ways to say "not this". They may lead a sentence or follow a clause boundary (", but we
# don't care about ..."); never mid-clause: "robots that avoid obstacles". _NEG_PHRASES say it
# in any line. An imperative verb says it only in a prose sentence: a list item or a topic title
# is a name, and names start with gerunds and verb-like nouns ("Avoiding catastrophic
# forgetting", "Skip connections"). Even in prose a gerund is never a request.
_NEG_PHRASES = (r"not\s+interested\s+in|not\s+into|uninterested\s+in|(?:have\s+)?no\s+interest\s+in|"
                r"less\s+interested\s+in|de-?prioriti[sz]e|"
                r"(?:do\s+not|don't|dont|never)\s+(?:care\s+(?:about|for)|want|need|include|like|show|send|"
                r"recommend|pick|suggest)")
_NEG_IMPERATIVES = (rf"(?:avoid|exclude|ignore|skip|drop){_VERB_AS_NOUN}|filter\s+out|leave\s+out|"
                    r"stay\s+away\s+from|steer\s+clear\s+of")
_WHO = r"(?:(?:we|i|our\s+team|the\s+team)(?:\s+are|\s+am|'re|'m)?\s+)"


def _negation_patterns(neg_verbs: str, opening: str = "") -> tuple[re.Pattern, re.Pattern]:
    """The leading form ("Not interested in X") and the contrast form ("Y, but not Z", "Y (w/o Z)",
    "Y — not Z", "Y but nothing on Z"). `opening`: words that rule out only at the start."""
    leading = re.compile(rf"^(?:please\s+)?{_WHO}?(?:{neg_verbs}|no|not(?!\s+only\b)|never|nothing\s+(?:on|about)|"
                         rf"(?:anything|everything)\s+(?:but|except(?:\s+for)?|other\s+than){opening})\s+(.+)$", re.I)
    contrast = re.compile(
        rf"(?:\s*(?:[,;(]|\s[-\u2013\u2014]|[\u2013\u2014])\s*(?:but\s+|and\s+)?(?:{_WHO})?"
        rf"(?:{neg_verbs}|not(?!\s+only\b)|no(?!\s+thanks?\b)|never)"
        rf"|\s+but\s+(?:{_WHO})?(?:{neg_verbs}|not(?!\s+only\b)|no|never)"
        r"|(?:\s*,?\s+|\s*\(\s*)(?:except(?:\s+for)?|excluding|other\s+than|rather\s+than|with\s+the\s+exception\s+of)"
        r"|\s*\(\s*(?:w/o|without)|\s*,?(?<!\bthe)\s+minus(?!\s+(?:signs?|the|a|one)\b)"
        r"|\s*(?:,\s*|\s+)(?:(?:but|and)\s+)?nothing\s+(?:on|about|in|related\s+to))\s+",
        re.I)
    return leading, contrast


# "Without X." opens a sentence that rules X out; "Without X, we ..." and "training without X" want.
_PROSE_NEGATION = _negation_patterns(f"{_NEG_PHRASES}|{_NEG_IMPERATIVES}", opening=r"|without(?=[^,]*$)")
_NAME_NEGATION = _negation_patterns(_NEG_PHRASES)
# "X is out of scope", "X: no", "X - no thanks": said after what it rules out, which is the
# clause just before it (after the last clause boundary), not the whole sentence.
_CLAUSE_ENDS = r"(?=\s*(?:[.!?;,)]|$))"  # "RL excluded." rules RL out; "excluded from" does not
_NO_PREDICATE = re.compile(r"\s+(?:is|are)\s+(?:not\s+(?:relevant|interesting|of\s+interest|wanted|needed)|"
                           r"irrelevant|out\s+of\s+scope|off[- ]topic|uninteresting)\b"
                           r"|\s+(?:is|are|(?:should|must|can|to)\s+be)\s+(?:excluded|ignored|skipped|avoided|"
                           rf"left\s+out){_CLAUSE_ENDS}|\s+excluded{_CLAUSE_ENDS}", re.I)
_NO_CORE = (r"(?:no(?:,?\s+thanks?(?:\s+you)?)?|nope|not\s+(?:interested|wanted|relevant)|irrelevant|"
            r"out\s+of\s+scope|skip(?:\s+it)?|excluded?)")
_NO_WORDS = rf"{_NO_CORE}\s*[.!]*\s*$"
# "Robotics: no", "Robotics - no thanks", "Robotics (irrelevant)", "time series (exclude)".
_NO_ANSWER = re.compile(rf"\s*(?::|\s[-\u2013\u2014])\s*{_NO_WORDS}|\s*\(\s*{_NO_CORE}\s*\)\s*[.!]*\s*$", re.I)
_NO_BODY = re.compile(rf"^{_NO_WORDS}", re.I)  # the body of a "Robotics: no" line
_CLAUSE_BOUNDARY = re.compile(r"\s*(?:[,;:(]|\s[-\u2013\u2014]\s|\b(?:but|while|whereas)\b)\s*", re.I)
# Where what a negation rules out ends and what is wanted begins: a ";", or a turn to what is
# wanted ("No RL; we focus on X", "We avoid RL and focus on X", "Not RL, only in X", "No
# robotics, just X", "..., but we like X"). The words that ask ("we focus on") stay with it.
_ASKS = (r"(?:(?:we|i)(?:'re|'m|\s+are|\s+am)?\s+(?:(?:also|mostly|mainly|rather|instead|only|really)\s+)?"
         r"(?:focus(?:ing)?\s+on|want|like|love|care\s+about|prefer|(?:are\s+)?interested\s+in|study|follow|"
         r"work\s+on)|focus(?:ing)?\s+on|interested\s+in)\b")
_TURN_WORD = r"(?:but\s+)?(?:only|just|instead|rather)\b(?:\s+(?:in|on|about)\b)?\s*,?\s*"
_SCOPE_END = re.compile(
    rf"\s*;\s*(?:{_TURN_WORD})?"
    rf"|\s*(?:,|\band\b|\bbut\b)\s*(?:instead\s+|rather\s+)?(?={_ASKS})"
    rf"|\s*(?:,|\bbut\b)\s*{_TURN_WORD}", re.I)
_RESUME = re.compile(r"^[\s,;:.)\-\u2013\u2014]*(?:(?:but|and|while|whereas)\s+)?", re.I)
_GENERIC = {"irrelevant", "unrelated", "ones", "one", "papers", "paper", "work", "works", "the", "rest", "other",
            "others", "anything", "else", "that", "those", "this", "everything", "stuff", "topics", "topic", "it",
            "them", "all", "any", "of", "and", "or", "a", "an", "things", "off", "not", "relevant"}


# A sentence or clause that opens with a label saying what to avoid ("Out of scope: X", "Nope: X").
_NEG_LABEL_OPENING = re.compile(rf"^\**({_NEG_ITEM_LABEL.pattern})\**\s*:\s*(.+)$", re.I)
# Where a line holds a second label: "Relevant: X; Irrelevant: Y" is two lines.
_NEXT_LABEL = re.compile(r";\s*(?=\**[A-Za-z][A-Za-z '\u2019/-]{0,40}\**\s*:)")


def _labelled_parts(raw: str) -> list[str]:
    """'Relevant: X; Irrelevant: Y' -> ['Relevant: X', 'Irrelevant: Y'] (indented as the line is);
    a ';' before anything but a label of ours stays in the line."""
    indent = raw[:len(raw) - len(raw.lstrip())]
    parts = [raw]
    for cut in reversed(list(_NEXT_LABEL.finditer(raw))):
        tail = raw[cut.end():]
        labelled = _LABELLED.match(tail)
        label = labelled and labelled.group(1).strip().replace("\u2019", "'")
        if label and (_NEG_LABEL.match(label) or _WANTED_LABEL.match(label)):
            parts[0:1] = [raw[:cut.start()], indent + tail]
            raw = parts[0]
    return parts


def _negative_title(line: str) -> str | None:
    """A line that is only a heading saying what to avoid ("Exclusions", "**Topics to avoid**"):
    its title; None for anything else, a sentence or a topic ("Exclusion restrictions")."""
    title = line.strip().strip("*").strip()
    if _ITEM.match(line) or not re.fullmatch(r"[A-Za-z][A-Za-z '\u2019/-]{0,40}", title):
        return None
    rest = _NEG_HEADING.sub("", title.replace("\u2019", "'"))
    if rest == title or set(re.findall(r"[a-z]+", rest.lower())) - _HEADING_FILLER:
        return None
    return title


@dataclass
class Polarity:
    """One sentence or line read for what it wants and what it rules out."""
    wanted: str
    unwanted: str = ""
    task: bool = False  # about the task ("filter out irrelevant ones"), not a topic


def _clean(part: str) -> str:
    part = re.sub(r"^(?:in|on|about|for|with|any|papers?\s+(?:on|about))\s+", "", part.strip(), flags=re.I)
    return part.strip(" .;:,)(")


_LEAD_IN = re.compile(  # "We want", "I'm interested in", "Papers about", "Also": asking, not naming
    r"^(?:(?:also|and|plus)\s+"
    r"|(?:we|i|our\s+(?:team|group|lab)|the\s+(?:team|group|lab))(?:'re|'m|\s+are|\s+am|\s+is)?\s+"
    r"(?:(?:also|mostly|mainly|especially|really|particularly)\s+)?"
    r"(?:want|like|love|enjoy|follow|study|track|read|need|prefer|interested\s+in|care\s+about|focus\s+on|"
    r"work\s+on|look(?:ing)?\s+for)\s+"
    r"|(?:(?:also|mostly|mainly|especially|really|particularly)\s+)?interested\s+in\s+"  # no subject
    r"|(?:(?:new|recent)\s+)?(?:papers?|work|research|anything|everything|articles?|studies)\s+"
    r"(?:on|about|in|regarding|related\s+to)\s+)", re.I)


def _trailing_no(s: str) -> tuple[str, str, str] | None:
    """'We follow X, robotics is out of scope, but Y' -> ('We follow X', 'robotics', 'but Y'):
    what comes before the clause it rules out, that clause, what follows."""
    m = _NO_PREDICATE.search(s) or _NO_ANSWER.search(s)
    if not m:
        return None
    before = s[:m.start()]
    cuts = list(_CLAUSE_BOUNDARY.finditer(before))
    if not cuts or not before[cuts[-1].end():].strip():  # none, or an aside: "X, while useful, is ..."
        return "", before, s[m.end():]
    return before[:cuts[-1].start()], before[cuts[-1].end():], s[m.end():]


def _scope(ruled_out: str) -> tuple[str, str]:
    """'RL; we focus on X' -> ('RL', 'we focus on X'): what a negation rules out, and what
    follows the end of its scope (wanted)."""
    m = _SCOPE_END.search(ruled_out)
    return (ruled_out, "") if not m else (ruled_out[:m.start()], ruled_out[m.end():])


def _says_nothing(words: str, also=()) -> bool:
    return not set(re.findall(r"[^\W\d_]+", words.lower())) - _GENERIC - set(also)  # any script's words


def _joined(a: str, b: str, sep: str) -> str:
    return sep.join(x for x in (a, b) if x)


def polarity(sentence: str, name: bool = False) -> Polarity:
    """'Diffusion models, but not for medical imaging.' -> wanted 'Diffusion models', unwanted
    'medical imaging'; 'Not interested in federated learning.' -> unwanted only. A name (a list
    item, a topic title) rules out only with explicit words: "- Avoiding X" names topic X."""
    s = sentence.strip().replace("\u2019", "'")
    leading, contrast = _NAME_NEGATION if name else _PROSE_NEGATION
    rest = ""
    if m := _NEG_LABEL_OPENING.match(s):
        wanted, unwanted = "", m.group(2)
    elif m := leading.match(s):
        wanted, unwanted = "", m.group(1)
    elif m := contrast.search(s):
        wanted, unwanted = s[:m.start()], s[m.end():]
    elif trailing := _trailing_no(s):
        wanted, unwanted, rest = trailing
    else:
        return Polarity(wanted=sentence.strip(), task=bool(_NEG_CUE.search(s)))
    if not rest:
        unwanted, rest = _scope(unwanted)
    unwanted = _clean(unwanted)
    if _says_nothing(unwanted):
        return Polarity(wanted=sentence.strip(), task=True)  # "... and filter out irrelevant ones"
    wanted = re.sub(r"[\s,;:(]+$", "", wanted.strip())
    if len(re.sub(r"\b(we|i|please|also|and|but)\b", "", wanted, flags=re.I).strip()) < 3 or \
            _says_nothing(wanted, also=("we", "i", "please", "also", "but", "on", "about", "in")):
        wanted = ""  # "Anything, except X": nothing named as wanted
    if rest := _RESUME.sub("", rest).strip():  # "X is out of scope, but we like Y."
        more = polarity(rest, name)
        wanted, unwanted = _joined(wanted, more.wanted, " "), _joined(unwanted, more.unwanted, ", ")
    return Polarity(wanted=wanted, unwanted=unwanted)


def _clauses(body: str) -> Polarity:
    """A Relevant line read clause by clause: 'A, but not B; C' wants A and C and rules out B
    (read as one, the exclusion would run to the end of the line and swallow C). Its first
    sentence names topics; a sentence after it is prose ("Topics: X. Stay away from Y.")."""
    whole = polarity(body, name=True)
    parts = [(part, n == 0) for n, sentence in enumerate(re.split(r"(?<=[.!?])\s+", body))
             for part in sentence.split(";") if part.strip()]
    reads = [polarity(part, name=first) for part, first in parts] if len(parts) > 1 else []
    if not any(read.unwanted for read in reads):
        return whole
    return Polarity(wanted="; ".join(read.wanted.strip() for read in reads if read.wanted),
                    unwanted=", ".join(read.unwanted for read in reads if read.unwanted))


@dataclass
class _Draft:
    """A topic while its lines are read."""
    title: str  # as written (the query text keeps its punctuation)
    indent: int
    continuation: list[str] = field(default_factory=list)  # a name spread over several lines
    details: list[str] = field(default_factory=list)  # every wanted line under it, in order
    relevant: list[str] = field(default_factory=list)
    irrelevant: list[str] = field(default_factory=list)

    def topic(self) -> Topic:
        name = " ".join([self.title] + self.continuation).rstrip(";").strip()
        return Topic(name=name, relevant=" ".join(self.relevant), irrelevant=" ".join(self.irrelevant))

    def query(self) -> str:
        lines = self.continuation + self.details
        sep = " " if not lines or self.title[-1:] in ".:;,!?" else ": "
        return (self.title + sep + " ".join(lines)).strip()


@dataclass
class _Paragraph:
    wanted: list[str] = field(default_factory=list)
    after_free_topic: bool = False  # follows a topic with no Relevant line: it is a topic too
    written: int = 0  # characters as written: "GNNs, but not chemistry." is a topic, "ok" is not

    def is_topic(self) -> bool:
        return self.written > 10 and len(self.text()) >= 3

    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.wanted)).strip()


@dataclass
class Reading:
    topics: list[_Draft] = field(default_factory=list)
    paragraphs: list[_Paragraph] = field(default_factory=list)  # prose outside topics
    task: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)  # unwanted lines and phrases, in order
    kw_pos: list[str] = field(default_factory=list)  # keyword lines ("- Relevant: a, b"), bodies
    kw_neg: list[str] = field(default_factory=list)


class _Reader:
    """The state of one pass over the lines."""

    def __init__(self):
        self.out = Reading()
        self.mode: str | None = None  # "topic" | "keywords" | "avoid" | "avoid-section"
        self.topic: _Draft | None = None  # the topic labelled lines attach to
        self.paragraph: _Paragraph | None = None
        self.avoid_items = 0

    def read(self, text: str) -> Reading:
        for raw in text.splitlines():
            for part in _labelled_parts(raw):
                self.line(part)
        return self.out

    def line(self, raw: str) -> None:
        line = raw.strip()
        if not line:
            return self.blank()
        if line.startswith("#"):
            return self.heading(line.lstrip("#").strip())
        if _KEYWORDS_HEADING.match(line):
            self.mode, self.topic, self.paragraph = "keywords", None, None
            return None
        if (label := _LABEL_HEADING.match(line)) and not _ITEM.match(line):
            return self.heading(label.group(1).replace("\u2019", "'"), section=False)
        if title := _negative_title(line):
            return self.heading(title, section=False)  # "Exclusions" alone on its line, over a list
        labelled = _LABELLED.match(line)
        label = labelled and labelled.group(1).strip().replace("\u2019", "'")
        if labelled and self.labelled(raw, label, labelled.group(2).strip()):
            return None
        return self.unlabelled(raw, line)

    def unlabelled(self, raw: str, line: str) -> None:
        """A list item or a line of text: what it is depends on the section it is in."""
        item = _ITEM.match(raw)
        if self.mode in ("avoid", "avoid-section"):
            self.out.negatives.append(_clean(item.group(3) if item else line))
            self.avoid_items += 1
            return None
        if self.mode == "keywords":
            self.out.kw_pos.append(item.group(3).strip() if item else line)  # "- MoE" under "Keywords:"
            return None
        sub_item = bool(item and self.topic and self.mode == "topic" and len(item.group(1)) > self.topic.indent)
        if item and not sub_item:
            return self.new_topic(item.group(3).strip(), len(item.group(1)))
        if self.mode == "topic":
            return self.topic_line(item.group(3).strip() if item else line, detail=sub_item)
        return self.prose(line)

    def blank(self) -> None:
        if self.mode == "topic":
            self.mode = None
        if self.mode == "avoid" and self.avoid_items:
            self.mode = None  # a "Not interested in:" list ends at its first blank line
        self.paragraph = None

    def heading(self, title: str, section: bool = True) -> None:
        """A markdown heading, or a line that is only a label ("Topics to avoid:")."""
        self.topic, self.paragraph, self.avoid_items = None, None, 0
        negative = _NEG_HEADING.search(title) or (not section and _NEG_LABEL.match(title))
        self.mode = ("avoid-section" if section else "avoid") if negative else None

    def labelled(self, raw: str, label: str, body: str) -> bool:
        """'- Relevant: ...', 'Irrelevant: ...': False when the label is not one of ours (plain text)."""
        negative = bool(_NEG_LABEL.match(label))
        in_topic = self.topic is not None and (self.mode == "topic" or raw[:1].isspace())
        if _NO_BODY.match(body):  # "Robotics: no": the label is what is ruled out
            self.out.negatives.append(_clean(label))
            return True
        if in_topic:
            if negative:
                self.topic.irrelevant.append(body)
                self.out.negatives.append(body)
            else:
                self.relevant_line(body)
            return True
        if negative:  # an Irrelevant line outside any topic: irrelevant keywords
            self.out.kw_neg.append(body)
            return True
        if self.mode == "keywords" or _WANTED_LABEL.match(label):
            # A keyword line, or a Relevant line outside any topic: read as a topic's Relevant line is.
            read = _clauses(body)
            if read.unwanted:
                self.out.negatives.append(read.unwanted)
            if read.wanted:
                self.out.kw_pos.append(read.wanted)
            return True
        return False

    def relevant_line(self, body: str) -> None:
        """'- Relevant: sampling; robotics is out of scope': each clause where it belongs."""
        read = _clauses(body)
        if read.unwanted:
            self.topic.irrelevant.append(read.unwanted)
            self.out.negatives.append(read.unwanted)
        if read.wanted:
            self.topic.relevant.append(read.wanted)
            self.topic.details.append(read.wanted)

    def new_topic(self, title: str, indent: int) -> None:
        self.paragraph = None
        labelled = _LABELLED.match(title)
        if labelled and _NEG_ITEM_LABEL.fullmatch(labelled.group(1).strip()):  # "2. Not: robotics": what to avoid
            self.topic, self.mode = None, None
            self.out.kw_neg.append(labelled.group(2).strip())
            return
        read = polarity(title, name=True)
        if read.unwanted:
            self.out.negatives.append(read.unwanted)
        if not read.wanted:  # "3. No robotics": nothing wanted, not a topic
            self.topic, self.mode = None, None
            return
        self.topic = _Draft(title=read.wanted if read.unwanted else title, indent=indent)
        self.out.topics.append(self.topic)
        self.mode = "topic"

    def topic_line(self, line: str, detail: bool) -> None:
        """A line under a topic: its name continued, or (a sub-item, after a Relevant line) a detail."""
        read = polarity(line, name=detail)  # a sub-item is a name; a continued line may be prose
        if read.unwanted:
            self.out.negatives.append(read.unwanted)
            self.topic.irrelevant.append(read.unwanted)
        if read.wanted:
            growing_name = not detail and not self.topic.relevant and not self.topic.details
            (self.topic.continuation if growing_name else self.topic.details).append(read.wanted)

    def prose(self, line: str) -> None:
        if self.paragraph is None:
            last = self.out.topics[-1] if self.out.topics else None
            self.paragraph = _Paragraph(after_free_topic=bool(last and not last.relevant and self.topic is last))
            self.out.paragraphs.append(self.paragraph)
        for sentence in re.split(r"(?<=[.!?])\s+", line):
            if len(sentence.strip()) <= 3:
                continue
            self.paragraph.written += len(sentence.strip())
            read = polarity(sentence)
            if read.task:
                self.out.task.append(read.wanted)
                continue
            if read.unwanted:
                self.out.negatives.append(read.unwanted)
            if read.wanted:
                self.paragraph.wanted.append(read.wanted)


def read(text: str) -> Reading:
    return _Reader().read(text)


def _dedupe(items) -> list[str]:
    return list(dict.fromkeys(items))


def parse(text: str) -> Criteria:
    """Topics (what a paper's comment names), keywords and negatives (the terms it names)."""
    reading = read(text)
    crit = Criteria(text=text.strip())
    crit.topics = [draft.topic() for draft in reading.topics]
    crit.topics += [Topic(name=p.text()) for p in reading.paragraphs
                    if p.is_topic() and (p.after_free_topic or not reading.topics)][:20]
    if not crit.topics:
        # Only keyword lines, or only a task sentence: those say what is wanted.
        crit.topics = [Topic(name=line) for line in reading.kw_pos + reading.task if len(line) > 10][:20]
    crit.keywords = [p for line in reading.kw_pos for p in _phrases(line)]
    crit.negatives = reading.negatives + [p for line in reading.kw_neg for p in _phrases(line)]
    return crit


@dataclass
class QueryTexts:
    positive: str  # "" when the criteria only say what to avoid
    negative: str  # "" when the criteria name nothing to avoid


def keyword_phrases(line: str) -> list[str]:
    """'a, b (c, d), or e; f etc.' -> ['a', 'b (c, d)', 'e', 'f']: commas inside brackets stay."""
    parts, depth, buf = [], 0, []
    for ch in line:
        depth += (ch in "([") - (ch in ")]")
        if depth <= 0 and ch in ",;":
            parts.append("".join(buf))
            buf, depth = [], 0
        else:
            buf.append(ch)
    parts.append("".join(buf))
    out = []
    for part in parts:
        part = re.sub(r"^\s*(and|or|as well as|e\.g\.|like|such as)\s+", "", part.strip(), flags=re.I)
        part = re.sub(r"\betc\.?$", "", part).strip(" .:")
        if len(part) >= 2:
            out.append(part)
    return out


def query_texts(text: str) -> QueryTexts:
    """The local scorer's two texts: topics (with their Relevant lines), then prose, then the
    relevant keywords; and the Irrelevant lines, sentences and sections that say what to
    avoid, then the irrelevant keywords."""
    reading = read(text)
    kw_pos = _dedupe(p for line in reading.kw_pos for p in keyword_phrases(line))
    kw_neg = _dedupe(p for line in reading.kw_neg for p in keyword_phrases(line))
    prose = [s for p in reading.paragraphs for s in p.wanted]
    positive = " ".join([t.query() for t in reading.topics] + prose +
                        (["Keywords: " + ", ".join(kw_pos)] if kw_pos else []))
    negative = " ".join(reading.negatives + (["Keywords: " + ", ".join(kw_neg)] if kw_neg else []))
    # "Papers on X; filter out irrelevant ones" is all some teams write: then it is the query.
    positive = positive.strip() or " ".join(reading.task).strip()
    if not positive and not negative.strip():
        positive = text.strip()  # nothing recognisable: the whole text
    return QueryTexts(positive=positive, negative=negative.strip())
