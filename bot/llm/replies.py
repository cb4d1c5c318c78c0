"""Reading a model's reply: JSON (or what is left of it when the reply was cut off),
checked item by item against the papers that were sent.

Models write raw newlines and tabs inside JSON strings (`"comment":"a\n["`, seen from a
small local model): strict JSON refuses those, so the whole reply would be lost for one
character; they are read as the whitespace they are (comments are flattened anyway).

Nothing in a reply is trusted: ids (or paper numbers) not in the call are dropped (and
reported), items that
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
REQUIRED_FIELDS = (("i", "id", "ARXIVID"), ("r", "relevance", "RELEVANCE"), ("n", "novelty", "NOVELTY"))
ID_FIELDS = ("id", "ARXIVID")

# The reply's shape (prompts/output.md): papers named by their number in the call ("i"),
# scores as [i, r, n], and comments in a list of their own, only for the papers at or above the pick
# cutoff, so a paper below it costs about a dozen completion tokens. Strict structured output
# requires every property, hence the separate lists (a required empty comment costs tokens).
# JSON schema for servers with structured output (response_format json_schema, strict).
REPLY_SCHEMA = {
    "type": "object",
    "properties": {
        # [i, r, n] per paper: its number, relevance and novelty (a list costs 9 tokens where
        # {"i": 1, "r": 7, "n": 5} costs 15; checked to be exactly three whole numbers).
        "scores": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
        "comments": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"i": {"type": "integer"}, "c": {"type": "string"}},
                "required": ["i", "c"],
                "additionalProperties": False,
            },
        },
        "flagged": {"type": "array", "items": {"type": "integer"}},
        # A title screen's answer (bot/llm/screen.py): the papers worth reading; [] in a scoring reply.
        "read": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["scores", "comments", "flagged", "read"],
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
    read: list[str] = field(default_factory=list)  # a title screen's papers worth reading

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


def shape_problems(obj: dict, sent_ids: list[str] = ()) -> str:
    """What keeps an item from matching the reply schema ("" when nothing): the required
    fields it lacks, and those of the wrong type."""
    missing = [names[1] for names in REQUIRED_FIELDS if _field(obj, names) is None]
    if missing:
        return "missing " + ", ".join(missing)
    wrong = [] if _item_id(obj, sent_ids) else ["i is not a paper's number" if _by_number(obj) else "id is not text"]
    wrong += [f"{names[1]} is not a whole number" for names in REQUIRED_FIELDS[1:] if _whole(_field(obj, names)) is None]
    return ", ".join(wrong)


def _strip_fences(text: str) -> str:
    text = text.strip()
    m = re.match(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", text, re.S)
    return m.group(1).strip() if m else text


def _complete_objects(text: str, start: int) -> list:
    """Decode the complete items of an array from `start` on, stopping at the cut: objects
    (id-keyed items) or arrays ([i, r, n] scores)."""
    dec = json.JSONDecoder(strict=False)
    out, i = [], start
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] not in "{[":
            return out
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            return out
        out.append(obj)


def _document(text: str):
    """The reply as one JSON document (None when it is not one)."""
    try:
        return json.loads(_strip_fences(text or ""), strict=False)
    except json.JSONDecodeError:
        return None


def _raw_items(text: str) -> tuple[list | None, bool]:
    """(items, salvaged): the list of item objects in a reply, or None if there is none."""
    text = _strip_fences(text or "")
    doc = _document(text)
    if isinstance(doc, dict):
        for key in ("scores", "papers", "results", "items"):
            if isinstance(doc.get(key), list):
                return doc[key], False
        if "id" in doc or "i" in doc:
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
    if objs and all("id" in o or "ARXIVID" in o or "i" in o for o in objs if isinstance(o, dict)) and len(objs) > 1:
        return objs, False
    m = re.search(r"\[", text)
    if m:
        objs = _complete_objects(text, m.end())
        if objs:
            return objs, True
    return None, False


def parse_reply(content: str | None, sent_ids: list[str], refusal: str | None = None) -> ParsedReply:
    """The reply's valid scores for the call's papers (`sent_ids`, in the order they were
    numbered), with its comments and flags."""
    out = ParsedReply()
    if refusal and not (content or "").strip():
        out.refusal = _short_line(refusal, REFUSAL_CHARS)
        return out
    items, out.salvaged = _raw_items(content or "")
    doc = _document(content or "")
    if items is None and not (isinstance(doc, dict) and isinstance(doc.get("read"), list)):
        out.not_json = True
        return out
    sent_ids = list(sent_ids)
    for obj in items or []:
        _read_item(out, obj, sent_ids)
    _read_extras(out, doc, sent_ids)
    return out


def _read_item(out: ParsedReply, obj, sent_ids: list[str]) -> None:
    """One item of a reply into `out`: a score, or why it was refused or dropped."""
    if isinstance(obj, list):
        if len(obj) != 3:
            out.misshapen.append("score entries that are not [i, r, n]")
            return
        obj = dict(zip(("i", "r", "n"), obj))
    if not isinstance(obj, dict):
        out.misshapen.append("items that are not objects")
        return
    problem, pid = shape_problems(obj, sent_ids), _item_id(obj, sent_ids)
    if problem and (not pid or pid in sent_ids):
        _refuse_misshapen(out, pid, problem)
    elif pid not in sent_ids:
        out.unknown_ids.append(pid)
    elif pid not in out.items:  # a repeated id: the first answer stands
        _read_scores(out, obj, pid)


def _read_scores(out: ParsedReply, obj: dict, pid: str) -> None:
    rel, nov = _score(_field(obj, REQUIRED_FIELDS[1])), _score(_field(obj, REQUIRED_FIELDS[2]))
    if rel is None or nov is None:
        out.rejected[pid] = (f"scores must be whole numbers 1-10, got relevance={_field(obj, REQUIRED_FIELDS[1])!r} "
                             f"novelty={_field(obj, REQUIRED_FIELDS[2])!r}")
        return
    flagged = "injection" in str(obj.get("flag", "")).lower()
    out.items[pid] = Item(pid, rel, nov, _comment(obj.get("comment", obj.get("COMMENT", ""))), flagged)


def _comment(raw) -> str:
    """A comment on one line, cut to COMMENT_CHARS ("" for anything that is not text)."""
    comment = re.sub(r"\s+", " ", raw if isinstance(raw, str) else "").strip()
    if len(comment) > COMMENT_CHARS:
        comment = comment[:COMMENT_CHARS - 1].rstrip() + "…"
    return comment


def _read_extras(out: ParsedReply, doc, sent_ids: list[str]) -> None:
    """The reply's "comments" and "flagged" lists onto the scored items. A number that names
    no paper of the call is dropped (and reported, as an unknown id)."""
    if not isinstance(doc, dict):
        return
    for entry in doc.get("comments") if isinstance(doc.get("comments"), list) else []:
        pid = _item_id(entry, sent_ids) if isinstance(entry, dict) else ""
        if pid in out.items and isinstance(entry.get("c"), str):
            out.items[pid].comment = _comment(entry["c"])
        elif pid and pid not in sent_ids:
            out.unknown_ids.append(pid)
    for number in doc.get("flagged") if isinstance(doc.get("flagged"), list) else []:
        pid = _item_id({"i": number}, sent_ids)
        if pid in out.items:
            out.items[pid].flagged = True
    for number in doc.get("read") if isinstance(doc.get("read"), list) else []:
        pid = _item_id({"i": number}, sent_ids)
        if pid in sent_ids and pid not in out.read:
            out.read.append(pid)
        elif pid:
            out.unknown_ids.append(pid)


def _by_number(obj: dict) -> bool:
    """The item names its paper by its number in the call ("i"), not by its id."""
    return "i" in obj and not any(name in obj for name in ID_FIELDS)


def _item_id(obj: dict, sent_ids: list[str] = ()) -> str:
    """The paper an item names ("" when it names none: no id, or one that is not text; "#N"
    for a number that is no paper of the call)."""
    if _by_number(obj):
        n = _whole(obj["i"])
        if n is None:
            return ""
        return sent_ids[n - 1] if 1 <= n <= len(sent_ids) else f"#{n}"
    raw = _field(obj, ID_FIELDS)
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
