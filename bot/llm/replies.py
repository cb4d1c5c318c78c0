"""Reading a model's reply: JSON (or what is left of it when the reply was cut off),
checked item by item against the papers that were sent.

Models write raw newlines and tabs inside JSON strings (`"comment":"a\n["`, seen from a
small local model): strict JSON refuses those, so the whole reply would be lost for one
character; they are read as the whitespace they are (comments are flattened anyway).

Nothing in a reply is trusted: ids not in the call are dropped (and reported), items that
do not match the reply's schema (a required field missing or of the wrong type) are refused
as "not in the expected shape", scores must be whole numbers from 1 to 10, comments are
flattened and cut to one line, a refusal is kept on one line of visible characters.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..text import one_line

COMMENT_CHARS = 300
REFUSAL_CHARS = 80  # of a model's refusal, in the digest's notes
# The fields an item cannot be scored without, under the names the prompt asks for or the seed's.
REQUIRED_FIELDS = (("id", "ARXIVID"), ("relevance", "RELEVANCE"), ("novelty", "NOVELTY"))

# JSON schema for servers with structured output (response_format json_schema, strict).
REPLY_SCHEMA = {
    "type": "object",
    "properties": {
        "scores": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "relevance": {"type": "integer"},
                    "novelty": {"type": "integer"},
                    "comment": {"type": "string"},
                    "flag": {"type": "string", "enum": ["", "injection"]},
                },
                "required": ["id", "relevance", "novelty", "comment", "flag"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["scores"],
    "additionalProperties": False,
}


@dataclass
class Item:
    arxiv_id: str
    relevance: int
    novelty: int
    comment: str
    flagged: bool = False


@dataclass
class ParsedReply:
    items: dict[str, Item] = field(default_factory=dict)  # valid items for papers that were sent
    unknown_ids: list[str] = field(default_factory=list)  # ids the call did not carry (dropped)
    rejected: dict[str, str] = field(default_factory=dict)  # id -> why its item was refused
    not_json: bool = False  # nothing usable could be read
    salvaged: bool = False  # the JSON was cut off; complete items were kept
    misshapen: list[str] = field(default_factory=list)  # what was wrong with items naming no paper
    refusal: str = ""  # the model declined (its refusal, on one line and cut)

    def missing(self, sent_ids: list[str]) -> list[str]:
        return [i for i in sent_ids if i not in self.items]

    def why_unscored(self, pid: str) -> str:
        """Why a paper of the call got no score from this reply."""
        if self.refusal:
            return f"the model refused: {self.refusal}"
        if self.not_json:
            return "the reply was not JSON"
        if pid in self.rejected:
            return self.rejected[pid]
        if self.misshapen:
            # Items that name no paper may have meant this one: the reply did not leave it out.
            return f"the reply's items were not in the expected shape ({'; '.join(dict.fromkeys(self.misshapen))})"
        return "the reply left it out"


_ID = re.compile(r"^(?:arxiv:)?\s*(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$", re.I)


def normalize_id(raw) -> str:
    s = str(raw or "").strip()
    m = _ID.match(s)
    return m.group(1) if m else s


def _whole(v) -> int | None:
    """A whole number as models write one (9, 9.0, "9"); None for anything else."""
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, str) and v.strip().isdigit():
        v = int(v.strip())
    return v if isinstance(v, int) else None


def _field(obj: dict, names: tuple[str, ...]):
    return next((obj[n] for n in names if n in obj), None)


def shape_problems(obj: dict) -> str:
    """What keeps an item from matching the reply schema ("" when nothing): the required
    fields it lacks, and those of the wrong type."""
    missing = [names[0] for names in REQUIRED_FIELDS if _field(obj, names) is None]
    if missing:
        return "missing " + ", ".join(missing)
    wrong = [] if _item_id(obj) else ["id is not text"]
    wrong += [f"{names[0]} is not a whole number" for names in REQUIRED_FIELDS[1:] if _whole(_field(obj, names)) is None]
    return ", ".join(wrong)


def _strip_fences(text: str) -> str:
    text = text.strip()
    m = re.match(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", text, re.S)
    return m.group(1).strip() if m else text


def _complete_objects(text: str, start: int) -> list:
    """Decode the complete JSON objects of an array from `start` on, stopping at the cut."""
    dec = json.JSONDecoder(strict=False)
    out, i = [], start
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] != "{":
            return out
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            return out
        out.append(obj)


def _raw_items(text: str) -> tuple[list | None, bool]:
    """(items, salvaged): the list of item objects in a reply, or None if there is none."""
    text = _strip_fences(text or "")
    try:
        doc = json.loads(text, strict=False)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        for key in ("scores", "papers", "results", "items"):
            if isinstance(doc.get(key), list):
                return doc[key], False
        if "id" in doc:
            return [doc], False
        return None, False
    if isinstance(doc, list):
        return doc, False
    # JSON Lines (the seed's format) or a reply cut off mid-array.
    lines = [ln for ln in text.splitlines() if ln.strip().startswith("{")]
    objs = []
    for ln in lines:
        try:
            objs.append(json.loads(ln, strict=False))
        except json.JSONDecodeError:
            break
    if objs and all("id" in o or "ARXIVID" in o for o in objs if isinstance(o, dict)) and len(objs) > 1:
        return objs, False
    m = re.search(r"\[", text)
    if m:
        objs = _complete_objects(text, m.end())
        if objs:
            return objs, True
    return None, False


def parse_reply(content: str | None, sent_ids: list[str], refusal: str | None = None) -> ParsedReply:
    out = ParsedReply()
    if refusal and not (content or "").strip():
        out.refusal = _short_line(refusal, REFUSAL_CHARS)
        return out
    items, out.salvaged = _raw_items(content or "")
    if items is None:
        out.not_json = True
        return out
    sent = set(sent_ids)
    for obj in items:
        _read_item(out, obj, sent)
    return out


def _read_item(out: ParsedReply, obj, sent: set[str]) -> None:
    """One item of a reply into `out`: a score, or why it was refused or dropped."""
    if not isinstance(obj, dict):
        out.misshapen.append("items that are not objects")
        return
    problem, pid = shape_problems(obj), _item_id(obj)
    if problem and (not pid or pid in sent):
        _refuse_misshapen(out, pid, problem)
    elif pid not in sent:
        out.unknown_ids.append(pid)
    elif pid not in out.items:  # a repeated id: the first answer stands
        _read_scores(out, obj, pid)


def _read_scores(out: ParsedReply, obj: dict, pid: str) -> None:
    rel, nov = _score(obj.get("relevance", obj.get("RELEVANCE"))), _score(obj.get("novelty", obj.get("NOVELTY")))
    if rel is None or nov is None:
        out.rejected[pid] = (f"scores must be whole numbers 1-10, got relevance={obj.get('relevance')!r} "
                             f"novelty={obj.get('novelty')!r}")
        return
    comment = re.sub(r"\s+", " ", str(obj.get("comment", obj.get("COMMENT", "")) or "")).strip()
    if len(comment) > COMMENT_CHARS:
        comment = comment[:COMMENT_CHARS - 1].rstrip() + "…"
    flagged = "injection" in str(obj.get("flag", "")).lower()
    out.items[pid] = Item(pid, rel, nov, comment, flagged)

def _item_id(obj: dict) -> str:
    """The paper an item names ("" when it names none: no id, or one that is not text)."""
    raw = _field(obj, REQUIRED_FIELDS[0])
    return normalize_id(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""


def _score(v) -> int | None:
    v = _whole(v)
    return v if v is not None and 1 <= v <= 10 else None


def _refuse_misshapen(out: ParsedReply, pid: str, problem: str) -> None:
    """An item not in the reply's shape: refused for its paper, or, naming none, kept as a
    reason for the call's unanswered papers."""
    if pid:
        out.rejected.setdefault(pid, f"not in the expected shape ({problem})")
    else:
        out.misshapen.append(problem)


def _short_line(text: str, limit: int) -> str:
    """Untrusted text for a note: visible characters on one line, at most `limit` of them."""
    text = one_line(text)
    return text if len(text) <= limit else text[:limit] + "…"
