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
from pathlib import Path

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


def load_file(path: str | Path) -> str:
    text = Path(path).read_text(encoding="utf-8")
    err = validate_text(text)
    if err:
        raise ValueError(f"criteria file {path}: {err}")
    return text


def current(db, default_path: str | Path) -> Criteria:
    """The newest stored criteria version; seeded from the default file on first use.

    The file seeds version 1 only when the store has none: edits made from Slack are
    versions in the database and are never overwritten by the file.
    """
    row = next(db.query("select * from criteria_versions order by id desc limit 1"), None)
    if row is None:
        text = load_file(default_path)
        version = save_version(db, text, created_by="settings", note=f"seeded from {Path(default_path).name}")
        row = {"text": text, "id": version}
    crit = parse(row["text"])
    crit.version = row["id"]
    return crit


def save_version(db, text: str, created_by: str, note: str = "") -> int:
    err = validate_text(text)
    if err:
        raise ValueError(err)
    from .db import now

    text = text.strip()
    last = next(db.query("select id, sha256 from criteria_versions order by id desc limit 1"), None)
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
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
