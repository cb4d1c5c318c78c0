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
or a free-form numbered list ("1. New methods for spatial intelligence ...").
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .config import ConfigError

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


_NUM = re.compile(r"^\s*(\d+)[.)]\s+(.*)$")
_FIELD = re.compile(r"^\s*[-*]\s*(Relevant|Irrelevant|Application Work)\s*:\s*(.*)$", re.I)


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


def parse(text: str) -> Criteria:
    crit = Criteria(text=text.strip())
    in_keywords = False
    current: Topic | None = None
    after_blank = False
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            after_blank = True
            continue
        blank_before, after_blank = after_blank, False
        if re.match(r"^\s*\**\s*keywords\s*:?\s*\**\s*:?\s*$", line, re.I):
            in_keywords, current = True, None
            continue
        fm = _FIELD.match(line)
        if fm:
            kind, body = fm.group(1).lower(), fm.group(2).strip()
            if in_keywords:
                (crit.keywords if kind == "relevant" else crit.negatives).extend(_phrases(body))
            elif current is not None:
                if kind == "relevant":
                    current.relevant = (current.relevant + " " + body).strip()
                else:
                    current.irrelevant = (current.irrelevant + " " + body).strip()
                    crit.negatives.append(body)
            continue
        nm = _NUM.match(line)
        if nm and not in_keywords:
            current = Topic(name=nm.group(2).strip().rstrip(";"))
            crit.topics.append(current)
            continue
        if in_keywords or line.lstrip().startswith("#"):
            continue
        if current is not None and not blank_before and not current.relevant:
            # Continuation of a free-form topic line.
            current.name = f"{current.name} {line.strip()}"
        elif crit.topics and blank_before and current is not None and not current.relevant:
            # A free-form paragraph after the numbered list ("your friend also likes ...").
            current = Topic(name=line.strip())
            crit.topics.append(current)
    if not crit.topics:
        # Unstructured text: its paragraphs are the topics.
        paras = [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) > 10]
        crit.topics = [Topic(name=re.sub(r"\s+", " ", p)) for p in paras[:20]]
    return crit


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
        raise ConfigError(f"criteria file {path} (setting {SETTING}): {exc}. Fix the file, or point {SETTING} "
                          "in your settings file at your criteria file (prompts/criteria.txt is an example)") from None


def _latest(db) -> dict | None:
    return next(db.query("select * from criteria_versions order by id desc limit 1"), None)


def _last_adopted_from_file(db) -> dict | None:
    return next(db.query("select * from criteria_versions where file_sha256 is not null "
                         "order by id desc limit 1"), None)


def _display(path: Path) -> str:
    from .config import ROOT

    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _edited_after(path: Path, row: dict) -> bool:
    """Whether the file was saved after the version `row` was made (the latest edit wins)."""
    made = datetime.fromisoformat(row["created_at"])
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) >= made.replace(microsecond=0)


def file_status(db, path: str | Path) -> str:
    """How the criteria file stands against the store: "adopted" (its text was last adopted,
    or no file), "changed" (the next run adopts it), "older" (changed, but saved before the
    current version was made elsewhere: the current version stays)."""
    path = Path(path)
    latest = _latest(db)
    if latest is None or not path.is_file():
        return "adopted"
    adopted = _last_adopted_from_file(db)
    if adopted is not None and adopted["file_sha256"] == _file_sha(path):
        return "adopted"
    return "changed" if _edited_after(path, latest) else "older"


def _file_sha(path: Path) -> str | None:
    """The sha256 of the file's criteria text; None when it is not usable text (the run says why)."""
    try:
        return _text_sha(read_text_file(path))
    except ValueError:
        return None


def adopt_file(db, path: str | Path) -> str | None:
    """Make the criteria file the current version when it changed since it was last adopted
    and was saved after the current version was made (an edit in Slack or `criteria set`
    after that wins again). Seeds version 1 when the store has none. Returns what to tell
    the run's reader, or None when nothing changed."""
    path = Path(path)
    latest = _latest(db)
    if latest is not None and not path.exists():
        return f"criteria file {path} ({SETTING}) does not exist: scoring with the stored version {latest['id']}"
    status = "changed" if latest is None else file_status(db, path)
    if status != "changed":
        return None
    text = load_file(path)
    version = save_version(db, text, created_by="settings", note=f"from file {_display(path)}")
    db["criteria_versions"].update(version, {"file_path": str(path), "file_sha256": _text_sha(text)})
    if latest is None or version == latest["id"]:
        return None  # the first version, or the file now says what the current version says
    return (f"criteria file {_display(path)} changed since it was last adopted: it is now criteria version "
            f"{version} (an edit in Slack or `python -m bot criteria set` after this wins again)")


def current(db, default_path: str | Path) -> Criteria:
    """The newest stored criteria version; seeded from the criteria file on first use.

    Later edits of the file are adopted by a run (`adopt_file`), not here: the Slack views
    show what is stored."""
    row = _latest(db)
    if row is None:
        adopt_file(db, default_path)
        row = _latest(db)
    crit = parse(row["text"])
    crit.version = row["id"]
    return crit


def for_run(db, path: str | Path) -> tuple[Criteria, list[str]]:
    """The criteria a run scores with, after adopting an edited criteria file, and what to tell
    the reader about it."""
    said = adopt_file(db, path)
    return current(db, path), [said] if said else []


def _text_sha(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def save_version(db, text: str, created_by: str, note: str = "") -> int:
    """Store the text as the newest version (the one runs score with); the text of the newest
    version already: nothing stored, its id returned."""
    err = validate_text(text)
    if err:
        raise ValueError(err)
    from .db import now

    text = text.strip()
    last = next(db.query("select id, sha256 from criteria_versions order by id desc limit 1"), None)
    sha = _text_sha(text)
    if last and last["sha256"] == sha:
        return last["id"]
    table = db["criteria_versions"]
    table.insert({"text": text, "sha256": sha, "created_by": created_by, "created_at": now(), "note": note})
    return table.last_pk


# --- Query texts for the local scorer -------------------------------------------------
# The local scorer embeds the criteria as two texts: what the team wants (topics with their
# Relevant lines, free prose, relevant keywords) and what it does not (Irrelevant lines,
# "Avoid ..." sentences, Irrelevant / Application Work keywords). Measured on the labelled
# streams (bench/zero_shot_study.py), mixing the two in one text ranks much worse: the
# irrelevant words pull the query towards the papers they describe.

_NEG_LABEL = re.compile(r"^(irrelevant|not relevant|exclude|avoid|application)", re.I)
_NEG_CUE = re.compile(r"\b(irrelevant|filter out|not interested|exclude|avoid)\b", re.I)
_LABELLED_LINE = re.compile(r"^[-*\u2022]\s*\**([A-Za-z][A-Za-z /]*?)\**\s*:\s*(.*)$")
_KEYWORDS_HEADING = re.compile(r"^\**\s*keywords?\s*:?\s*\**\s*:?\s*$", re.I)
_AVOID_SENTENCE = re.compile(r"^(avoid|exclude|ignore|skip)\s+(.*)$", re.I)


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
    topics: list[str] = []
    prose: list[str] = []
    task: list[str] = []  # sentences about the task ("filter out irrelevant ones")
    negatives: list[str] = []
    kw_pos: list[str] = []
    kw_neg: list[str] = []
    mode = None  # "topic" | "keywords" | None
    title, pos_lines, neg_lines = "", [], []

    def close_topic():
        nonlocal title, pos_lines, neg_lines
        if title:
            sep = " " if not pos_lines or title[-1:] in ".:;,!?" else ": "
            topics.append((title + sep + " ".join(pos_lines)).strip())
            negatives.extend(neg_lines)
        title, pos_lines, neg_lines = "", [], []

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            if mode == "topic" or line.startswith("#"):
                close_topic()
                mode = None
            continue
        if _KEYWORDS_HEADING.match(line):
            close_topic()
            mode = "keywords"
            continue
        numbered = _NUM.match(line)
        if numbered:
            close_topic()
            title, mode = numbered.group(2).strip(), "topic"
            continue
        labelled = _LABELLED_LINE.match(line)
        if labelled and mode in ("topic", "keywords"):
            negative = bool(_NEG_LABEL.match(labelled.group(1).strip()))
            body = labelled.group(2).strip()
            if mode == "topic":
                (neg_lines if negative else pos_lines).append(body)
            else:
                (kw_neg if negative else kw_pos).extend(keyword_phrases(body))
            continue
        if mode == "topic":
            pos_lines.append(line)
            continue
        # Free prose, one sentence at a time: "Avoid X." is a negative; other sentences
        # with a negative cue ("filter out irrelevant ones") describe the task, not a topic.
        for sentence in re.split(r"(?<=[.!?])\s+", line):
            sentence = sentence.strip()
            avoid = _AVOID_SENTENCE.match(sentence)
            if avoid:
                negatives.append(avoid.group(2).strip(" ."))
            elif len(sentence) > 3:
                (task if _NEG_CUE.search(sentence) else prose).append(sentence)
    close_topic()
    kw_pos, kw_neg = list(dict.fromkeys(kw_pos)), list(dict.fromkeys(kw_neg))
    positive = " ".join(topics + prose + (["Keywords: " + ", ".join(kw_pos)] if kw_pos else []))
    negative = " ".join(negatives + (["Keywords: " + ", ".join(kw_neg)] if kw_neg else []))
    # "Papers on X; filter out irrelevant ones" is all some teams write: then it is the query.
    positive = positive.strip() or " ".join(task).strip()
    if not positive and not negative.strip():
        positive = text.strip()  # nothing recognisable: the whole text
    return QueryTexts(positive=positive, negative=negative.strip())
