"""Reading a model's reply: JSON (or what is left of it when the reply was cut off),
checked item by item against the papers that were sent.

Nothing in a reply is trusted: ids not in the call are dropped (and reported), scores must
be whole numbers from 1 to 10, comments are flattened and cut to one line.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

COMMENT_CHARS = 300

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

    def missing(self, sent_ids: list[str]) -> list[str]:
        return [i for i in sent_ids if i not in self.items]


_ID = re.compile(r"^(?:arxiv:)?\s*(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$", re.I)


def normalize_id(raw) -> str:
    s = str(raw or "").strip()
    m = _ID.match(s)
    return m.group(1) if m else s


def _score(v) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, str) and v.strip().isdigit():
        v = int(v.strip())
    return v if isinstance(v, int) and 1 <= v <= 10 else None


def _strip_fences(text: str) -> str:
    text = text.strip()
    m = re.match(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", text, re.S)
    return m.group(1).strip() if m else text


def _complete_objects(text: str, start: int) -> list:
    """Decode the complete JSON objects of an array from `start` on, stopping at the cut."""
    dec = json.JSONDecoder()
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
        doc = json.loads(text)
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
            objs.append(json.loads(ln))
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


def parse_reply(content: str | None, sent_ids: list[str]) -> ParsedReply:
    out = ParsedReply()
    items, out.salvaged = _raw_items(content or "")
    if items is None:
        out.not_json = True
        return out
    sent = set(sent_ids)
    for obj in items:
        if not isinstance(obj, dict):
            continue
        pid = normalize_id(obj.get("id", obj.get("ARXIVID", "")))
        if pid not in sent:
            out.unknown_ids.append(pid)
            continue
        if pid in out.items:
            continue  # a repeated id: the first answer stands
        rel = _score(obj.get("relevance", obj.get("RELEVANCE")))
        nov = _score(obj.get("novelty", obj.get("NOVELTY")))
        if rel is None or nov is None:
            out.rejected[pid] = (f"scores must be whole numbers 1-10, got relevance={obj.get('relevance')!r} "
                                 f"novelty={obj.get('novelty')!r}")
            continue
        comment = re.sub(r"\s+", " ", str(obj.get("comment", obj.get("COMMENT", "")) or "")).strip()
        if len(comment) > COMMENT_CHARS:
            comment = comment[:COMMENT_CHARS - 1].rstrip() + "…"
        flagged = "injection" in str(obj.get("flag", "")).lower()
        out.items[pid] = Item(pid, rel, nov, comment, flagged)
    return out
