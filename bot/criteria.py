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
