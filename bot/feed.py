"""The day's arXiv announcements: fetch the rss.arxiv.org feed politely and parse it.

One request covers all categories (`/rss/cs.LG+cs.AI`). arXiv asks for at most one
request every 3 s, one connection at a time; 429/503 get a back-off that honours
Retry-After. An empty feed (weekend, holiday) is a normal day, never an error.
"""
from __future__ import annotations

import email.utils
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

import requests

from .models import Paper

NS = {
    "arxiv": "http://arxiv.org/schemas/atom",
    "dc": "http://purl.org/dc/elements/1.1/",
    "atom": "http://www.w3.org/2005/Atom",
}
USER_AGENT = "arxiv-slack-assistant/1.0 (+https://github.com/; daily digest for a research team)"
_DESC_RE = re.compile(
    r"^\s*arXiv:(?P<id>[\w.\-/]+?)(?:v(?P<v>\d+))?\s+Announce Type:\s*(?P<type>[\w\-]+)\s*(?:Abstract:)?\s*",
    re.S,
)
_ID_RE = re.compile(r"(?:arxiv\.org/abs/|oai:arXiv\.org:)(?P<id>[\w.\-/]+?)(?:v(?P<v>\d+))?$")
# Characters XML 1.0 forbids, raw or as a character reference (&#1; &#x1b;): expat rejects
# the whole document for one of them, so they are removed before parsing.
_XML_ILLEGAL_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
    "|&#(?:x0*(?:[0-8bcef]|1[0-9a-f]|fffe|ffff)|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|65534|65535));",
    re.I)
_XML_ILLEGAL_BYTES = bytes([*range(0x00, 0x09), 0x0b, 0x0c, *range(0x0e, 0x20)])
# Each item (RSS) or entry (Atom) starts a segment, so a repair can be traced to its item.
_ITEM_START_RE = re.compile(rb"(?=<(?:item|entry)[\s>])")
_SEGMENT_ID_RE = re.compile(r"(?:arXiv:|arxiv\.org/abs/|oai:arXiv\.org:)(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})")
_DECLARED_ENCODING_RE = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([\w.\-]+)", re.I)


class FeedError(RuntimeError):
    """The feed could not be fetched or read; the message says what and why."""


@dataclass
class Feed:
    date: date | None  # announcement date (channel pubDate); None only for an unusable header
    papers: list[Paper] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # items we could not read, with reasons
    repaired: list[str] = field(default_factory=list)  # items kept after removing bad bytes, with what was done
    title: str = ""

    @property
    def empty(self) -> bool:
        return not self.papers


def _text(el, path: str) -> str:
    found = el.find(path, NS)
    return (found.text or "").strip() if found is not None and found.text else ""


def _clean(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def split_authors(creator: str) -> list[str]:
    """`dc:creator` is comma-separated, sometimes with a final "and"."""
    creator = _clean(creator)
    if not creator:
        return []
    # ", and" (the serial comma) is one separator, not a comma and an author named "and C".
    parts = re.split(r",\s*(?:and\s+)?|\s+and\s+", creator)
    return [p.strip() for p in parts if p.strip() and p.strip().lower() != "and"]


def _parse_date(value: str) -> date | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


def parse_feed(body: bytes | str, source: str = "feed") -> Feed:
    """Parse an RSS 2.0 (or Atom) arXiv announcement feed.

    Items that lack an id, title or abstract are skipped with a reason (reported, not
    fatal); a document that is not a feed at all raises FeedError naming the problem.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not body.strip():
        raise FeedError(f"{source}: the response is empty, not an RSS feed")
    if _looks_like_html(body):
        raise FeedError(f"{source}: got an HTML page instead of an RSS feed (arXiv may be down or the URL is wrong)")
    body, repaired = _repair(body)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise FeedError(f"{source}: the feed is not well-formed XML ({exc}); it may be truncated") from None
    feed = _parse_root(root, source)
    feed.repaired = repaired
    return feed


def _repair(body: bytes) -> tuple[bytes, list[str]]:
    """Replace bytes that are not UTF-8 and remove characters XML forbids, item by item,
    so one bad byte costs at most a character of one item, never the day. Returns the
    repaired document and one line per repaired item (its arXiv id, or its position)."""
    declared = _DECLARED_ENCODING_RE.match(body)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return body, []  # another declared encoding: expat decodes it itself
    if _is_clean(body):
        return body, []
    parts, repaired = [], []
    for pos, segment in enumerate(_ITEM_START_RE.split(body)):
        text, what = _repair_segment(segment)
        parts.append(text)
        if what:
            found = _SEGMENT_ID_RE.search(text)
            where = "the channel header" if pos == 0 else (found.group(1) if found else f"item {pos}")
            repaired.append(f"{where}: {what}")
    return "".join(parts).encode("utf-8"), repaired


def _is_clean(body: bytes) -> bool:
    """UTF-8 with nothing XML forbids: the usual case. Byte-level checks first, since a
    regular expression over a whole day's feed costs more than parsing it."""
    if len(body.translate(None, _XML_ILLEGAL_BYTES)) != len(body):
        return False
    if b"\xef\xbf\xbe" in body or b"\xef\xbf\xbf" in body:  # U+FFFE, U+FFFF
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "&#" not in text or _XML_ILLEGAL_RE.search(text) is None


def _repair_segment(segment: bytes) -> tuple[str, str]:
    """The segment as text, and what was repaired in it ("" when nothing)."""
    what = []
    try:
        text = segment.decode("utf-8")
    except UnicodeDecodeError:
        text = segment.decode("utf-8", errors="replace")
        bad = text.count("\ufffd") - segment.count("\ufffd".encode("utf-8"))
        what.append(f"{bad} byte{'s' if bad != 1 else ''} that {'are' if bad != 1 else 'is'} not UTF-8 replaced")
    text, removed = _XML_ILLEGAL_RE.subn("", text)
    if removed:
        what.append(f"{removed} control character{'s' if removed != 1 else ''} removed (not allowed in XML)")
    return text, ", ".join(what)


def _parse_root(root, source: str) -> Feed:
    if root.tag == f"{{{NS['atom']}}}feed":
        return _parse_atom(root, source)
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise FeedError(f"{source}: not an RSS feed (root element <{root.tag}>)")
    title = _text(channel, "title")
    if title.lower().startswith("feed error"):
        raise FeedError(f"{source}: arXiv answered '{title}' (is a category misspelled?)")
    feed = Feed(date=_parse_date(_text(channel, "pubDate")), title=title)
    for pos, item in enumerate(channel.findall("item")):
        try:
            feed.papers.append(_parse_item(item))
        except ValueError as exc:
            feed.skipped.append(f"item {pos + 1}: {exc}")
    if feed.date is None and feed.papers:
        item_date = _parse_date(_text(channel.find("item"), "pubDate"))
        feed.date = item_date
    return feed


def _parse_item(item) -> Paper:
    title = _clean(_text(item, "title"))
    desc = _text(item, "description")
    m = _DESC_RE.match(desc)
    if m:
        arxiv_id, version, ann = m.group("id"), int(m.group("v") or 1), m.group("type")
        abstract = desc[m.end():]
    else:
        ident = _text(item, "guid") or _text(item, "link")
        im = _ID_RE.search(ident)
        if not im:
            raise ValueError(f"no arXiv id in guid, link or description (title {title[:60]!r})")
        arxiv_id, version = im.group("id"), int(im.group("v") or 1)
        ann = _text(item, "arxiv:announce_type") or "new"
        abstract = desc
    ann = (_text(item, "arxiv:announce_type") or ann).strip()
    abstract = _clean(abstract)
    if not title:
        raise ValueError(f"{arxiv_id}: no title")
    if not abstract:
        raise ValueError(f"{arxiv_id}: no abstract")
    return Paper(
        arxiv_id=arxiv_id, version=version, title=title,
        authors=split_authors(_text(item, "dc:creator")), abstract=abstract,
        categories=[_clean(c.text or "") for c in item.findall("category") if c.text],
        announce_type=ann, license=_text(item, "dc:rights"), doi=_text(item, "arxiv:DOI"),
    )


def _parse_atom(root, source: str) -> Feed:
    a = "{%s}" % NS["atom"]
    title = _clean(root.findtext(f"{a}title") or "")
    if title.lower().startswith("feed error"):
        raise FeedError(f"{source}: arXiv answered '{title}' (is a category misspelled?)")
    feed = Feed(date=_parse_date(root.findtext(f"{a}updated") or ""), title=title)
    for pos, entry in enumerate(root.findall(f"{a}entry")):
        try:
            ident = entry.findtext(f"{a}id") or ""
            im = _ID_RE.search(ident.strip())
            if not im:
                raise ValueError("no arXiv id")
            summary = _clean(entry.findtext(f"{a}summary") or "")
            m = _DESC_RE.match(summary)
            abstract = summary[m.end():] if m else summary
            t = _clean(entry.findtext(f"{a}title") or "")
            if not t or not abstract:
                raise ValueError(f"{im.group('id')}: no title or abstract")
            feed.papers.append(Paper(
                arxiv_id=im.group("id"), version=int(im.group("v") or 1), title=t,
                authors=[_clean(x.findtext(f"{a}name") or "") for x in entry.findall(f"{a}author")],
                abstract=_clean(abstract),
                categories=[c.get("term", "") for c in entry.findall(f"{a}category")],
                announce_type=(entry.findtext("arxiv:announce_type", namespaces=NS) or
                               (m.group("type") if m else "new")).strip(),
                # The API's Atom carries what the RSS feed lacks: keep it for the digest.
                comment=_clean(entry.findtext("arxiv:comment", namespaces=NS) or ""),
                primary_category=(entry.find("arxiv:primary_category", NS).get("term", "")
                                  if entry.find("arxiv:primary_category", NS) is not None else ""),
                doi=_clean(entry.findtext("arxiv:doi", namespaces=NS) or ""),
                pdf_url=next((ln.get("href", "") for ln in entry.findall(f"{a}link")
                              if ln.get("title") == "pdf" or ln.get("type") == "application/pdf"), ""),
            ))
        except ValueError as exc:
            feed.skipped.append(f"entry {pos + 1}: {exc}")
    return feed


def select(feed: Feed, announce_types: list[str]) -> list[Paper]:
    """Keep the configured announce types (never replacements), de-duplicated by id."""
    seen, kept = set(), []
    for p in feed.papers:
        if p.announce_type not in announce_types or p.arxiv_id in seen:
            continue
        seen.add(p.arxiv_id)
        kept.append(p)
    return kept


class PoliteSession:
    """HTTP GETs to arXiv: one at a time, spaced `min_interval` apart, with back-off on
    429/503/connection errors honouring Retry-After, and a timeout on every call."""

    def __init__(self, min_interval: float = 3.0, timeout: float = 30.0, max_tries: int = 4,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None):
        self.min_interval = min_interval
        self.timeout = timeout
        self.max_tries = max_tries
        self.sleep = sleep
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self._lock = threading.Lock()
        self._last = 0.0

    def get(self, url: str) -> requests.Response:
        with self._lock:
            last_error = ""
            for attempt in range(1, self.max_tries + 1):
                wait = self._last + self.min_interval - time.monotonic()
                if wait > 0:
                    self.sleep(wait)
                self._last = time.monotonic()
                try:
                    resp = self.session.get(url, timeout=self.timeout)
                except requests.RequestException as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                    delay = min(60.0, 2.0 ** attempt)
                else:
                    if resp.status_code not in (429, 500, 502, 503, 504):
                        return resp
                    last_error = f"HTTP {resp.status_code}"
                    delay = _retry_after(resp.headers.get("Retry-After"), default=min(60.0, 2.0 ** attempt * 2))
                if attempt < self.max_tries:
                    self.sleep(delay)
            raise FeedError(f"{url}: gave up after {self.max_tries} tries ({last_error})")


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return min(300.0, max(0.0, float(value)))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            return min(300.0, max(0.0, when.timestamp() - time.time()))
        except (TypeError, ValueError):
            return default


def feed_url(base: str, categories: list[str]) -> str:
    return base.rstrip("/") + "/" + "+".join(categories)


def fetch_feed(categories: list[str], http: PoliteSession, base: str = "https://rss.arxiv.org/rss/") -> Feed:
    url = feed_url(base, categories)
    resp = http.get(url)
    if resp.status_code == 400:
        raise FeedError(f"arXiv rejected the feed request for categories {'+'.join(categories)} "
                        "(HTTP 400: at least one category is unknown; check `arxiv.categories`)")
    if resp.status_code != 200:
        raise FeedError(f"{url}: HTTP {resp.status_code}")
    return parse_feed(resp.content, source=url)
