"""The day's arXiv announcements: fetch the rss.arxiv.org feed politely and parse it.

One request covers all categories (`/rss/cs.LG+cs.AI`). arXiv asks for at most one
request every 3 s, one connection at a time; 429/503 get a back-off that honours
Retry-After. An empty feed (weekend, holiday) is a normal day, never an error.
"""
from __future__ import annotations

import codecs
import email.utils
import html.entities
import re
import threading
import time
import zlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable, Iterable
from xml.parsers.expat import errors as expat_errors
from xml.sax.saxutils import escape as xml_escape

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
# The end of the last item: what follows it (the closing tags) is kept with every item
# parsed on its own; without it the feed was cut.
_ITEM_END_RE = re.compile(rb"</(?:item|entry)\s*>")
_CONTAINER_END_RE = re.compile(rb"</(?:channel|(?:[\w.\-]+:)?feed)\s*>")
_ITEM_TAGS = ("item", f"{{{NS['atom']}}}entry")
# Markup repair leaves CDATA sections and comments alone: a bare & or < is legal there.
_VERBATIM_RE = re.compile(r"(<!\[CDATA\[.*?\]\]>|<!--.*?-->)", re.S)
_AMP_RE = re.compile(r"&(?:(#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z_][\w.\-]*);)?")
_BARE_LT_RE = re.compile(r"<(?![A-Za-z_:/?]|!--|!\[CDATA\[|!DOCTYPE)")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
# What expat says when the document ends with elements still open: the feed was cut.
_CUT_SHORT = frozenset(expat_errors.codes[e] for e in (
    expat_errors.XML_ERROR_NO_ELEMENTS, expat_errors.XML_ERROR_UNCLOSED_TOKEN,
    expat_errors.XML_ERROR_PARTIAL_CHAR, expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION))


class FeedError(RuntimeError):
    """The feed could not be fetched or read; the message says what and why."""


class _Unusable(FeedError):
    """A document that cannot be read as a feed; parse_feed adds what to do about it, which
    depends on where the document came from."""


@dataclass(frozen=True)
class FeedOrigin:
    """Where a feed came from: it decides what a user can do about one that cannot be read."""
    what: str  # the document, as the user knows it
    remedy: str  # what to do when it cannot be read
    html_page: str  # why an HTML page may have come instead


SAVED_FILE = FeedOrigin(
    "the file",
    "save the feed again as UTF-8 RSS or Atom (open https://rss.arxiv.org/rss/cs.LG, or your "
    "categories, and save the page as-is) and pass that file to --feed",
    "a web page was saved instead of the feed itself")
# Fetching again can help here: arXiv's outages are short.
FROM_NETWORK = FeedOrigin("the response", "try again later or report the feed to arXiv",
                          "arXiv may be down or the URL is wrong")

_GZIP_MAGIC = b"\x1f\x8b"
# A saved day's feed is a few MB; a bound keeps a hostile .gz from filling the memory.
_MAX_UNPACKED_BYTES = 512 * 1024 * 1024
# UTF-32 LE's mark starts with UTF-16 LE's, so the longer marks are tried first.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
              (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"), (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"))
# Without a mark, where the zero bytes of the first (ASCII) characters fall tells the
# encoding (XML 1.0, appendix F); UTF-8 never starts with a zero byte.
_WIDE_BY_ZEROS = {(True, True, True, False): ("utf-32-be", "UTF-32"), (False, True, True, True): ("utf-32-le", "UTF-32"),
                  (True, False, True, False): ("utf-16-be", "UTF-16"), (False, True, False, True): ("utf-16-le", "UTF-16")}
_DECLARATION_ENCODING_RE = re.compile(r"^(<\?xml[^>]*?)\s+encoding\s*=\s*([\"'])[\w.\-]*\2")


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


def _all_text(el) -> str:
    """All the text of a field, markup inside it included: `.text` alone stops at the first
    child element (`foo <b>bar</b> baz` would read as "foo")."""
    if el is None:
        return ""
    return (el.text or "") if len(el) == 0 else "".join(el.itertext())


def _text(el, path: str) -> str:
    return _all_text(el.find(path, NS)).strip()


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


def parse_feed(body: bytes | str, source: str = "feed", origin: FeedOrigin = SAVED_FILE) -> Feed:
    """Parse an RSS 2.0 (or Atom) arXiv announcement feed, also as a saved file may hold
    it: gzipped, in UTF-16 or UTF-32 with a byte order mark, after blank lines.

    Items that lack an id, title or abstract, or whose XML is broken beyond repair, are
    skipped with a reason (reported, not fatal); a document that is not a feed at all, or
    was cut short, raises FeedError naming the problem and what to do, for `origin`.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        body, unwrapped = _unwrap(body, source)
        if not body.strip():
            raise _Unusable(f"{source}: {origin.what} is empty, not an RSS feed")
        if _looks_like_html(body):
            raise _Unusable(f"{source}: got an HTML page instead of an RSS feed ({origin.html_page})")
        doc = _read_document(body, source)
        feed = _parse_root(doc.root, source, doc.items)
    except _Unusable as exc:
        raise FeedError(f"{exc}; {origin.remedy}") from None
    feed.repaired = unwrapped + doc.repaired
    return feed


def _unwrap(body: bytes, source: str) -> tuple[bytes, list[str]]:
    """The document as the XML parser reads it (UTF-8, starting at `<?xml` or the root),
    and a line per item repaired on the way. A clean feed costs a few byte comparisons."""
    if body[:2] == _GZIP_MAGIC:
        body = _gunzip(body, source)
    repaired: list[str] = []
    wide = _wide_encoding(body)
    if wide is not None:
        body, repaired = _utf8_from_wide(body, *wide)
    if body[:3] == codecs.BOM_UTF8:
        body = body[3:]  # expat would read it, but not with blank lines after it
    if body[:1].isspace():
        body = body.lstrip()  # an XML declaration after a blank line is an error to expat
    return body, repaired


def _gunzip(body: bytes, source: str) -> bytes:
    unpacker = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        unpacked = unpacker.decompress(body, _MAX_UNPACKED_BYTES)
    except zlib.error as exc:
        raise _Unusable(f"{source}: a gzip file that cannot be unpacked ({exc})") from None
    if unpacker.unconsumed_tail:
        raise _Unusable(f"{source}: a gzip file that unpacks to over {_MAX_UNPACKED_BYTES >> 20} MB, "
                        "far more than a day's feed")
    if not unpacker.eof:
        raise _Unusable(f"{source}: a gzip file that was cut short (the download or copy stopped early)")
    return unpacked


def _wide_encoding(body: bytes) -> tuple[int, str, str] | None:
    """(length of the byte order mark, codec, name) of a UTF-16 or UTF-32 document; None for UTF-8."""
    head = body[:4]
    if b"\x00" not in head and head[:2] not in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return None  # the usual case, decided without a loop
    for bom, codec, name in _WIDE_BOMS:
        if head.startswith(bom):
            return len(bom), codec, name
    found = _WIDE_BY_ZEROS.get(tuple(byte == 0 for byte in head))
    return (0, *found) if found else None


def _utf8_from_wide(body: bytes, bom_length: int, codec: str, name: str) -> tuple[bytes, list[str]]:
    """A UTF-16 or UTF-32 document (what PowerShell 5's `>` writes) as UTF-8, its encoding
    declaration dropped; a unit that is not valid becomes U+FFFD, and its item is named."""
    wide = body[bom_length:]
    try:
        text, repaired = wide.decode(codec), []
    except UnicodeDecodeError:
        text = wide.decode(codec, errors="replace")
        repaired = _items_with_replacements(text, name)
    text = _DECLARATION_ENCODING_RE.sub(r"\1", text.lstrip(), count=1)
    return text.encode("utf-8", errors="replace"), repaired


def _items_with_replacements(text: str, encoding: str) -> list[str]:
    repaired = []
    for pos, segment in enumerate(_ITEM_START_RE.split(text.encode("utf-8", errors="replace"))):
        bad = segment.count("\ufffd".encode("utf-8"))
        if bad:
            repaired.append(f"{_segment_name(pos, segment.decode('utf-8'))}: {bad} character{'s' if bad != 1 else ''} that "
                            f"{'are' if bad != 1 else 'is'} not {encoding} replaced")
    return repaired


@dataclass(frozen=True)
class _Unreadable:
    """An item whose XML does not parse even after repair; `reason` names it."""
    reason: str


@dataclass
class _Document:
    root: ET.Element
    repaired: list[str]  # one line per repaired item
    items: list[ET.Element | _Unreadable] | None = None  # every item in feed order, when read one by one


def _read_document(body: bytes, source: str) -> _Document:
    """The feed as parsed XML. A clean feed parses at once (the usual day); else bad bytes
    are repaired item by item, then bare & and <, and what still fails is read item by item."""
    repaired_body, repaired = _repair(body)
    try:
        root = ET.fromstring(repaired_body)
    except ET.ParseError as exc:
        return _read_damaged(body, exc, source)
    return _Document(root, list(repaired.values()))


def _read_damaged(body: bytes, error: ET.ParseError, source: str) -> _Document:
    fixed, repaired = _repair(body, markup=True)
    try:
        return _Document(ET.fromstring(fixed), list(repaired.values()))
    except ET.ParseError:
        return _read_item_by_item(fixed, repaired, error, source)


def _read_item_by_item(body: bytes, repaired: dict[int, str], error: ET.ParseError, source: str) -> _Document:
    """The channel header with each item parsed on its own, so a broken item costs only
    itself. The header must parse with the closing tags: if they are missing, the feed was cut."""
    header, *pieces = _ITEM_START_RE.split(body)
    trailer = b""
    if pieces:
        end = _last_item_end(pieces[-1])
        pieces[-1], trailer = pieces[-1][:end], pieces[-1][end:]
    try:
        root = ET.fromstring(header + trailer)
    except ET.ParseError as exc:
        raise _unreadable_header(source, error, exc) from None
    container = root.find("channel") if root.tag == "rss" else root
    items, lines_before = [], 0
    for pos, piece in enumerate(pieces, 1):
        item = _parse_piece(header + piece + trailer, piece, lines_before)
        lines_before += piece.count(b"\n")
        if isinstance(item, _Unreadable):
            repaired.pop(pos, None)  # named once, as skipped
        elif container is not None:
            container.append(item)
        items.append(item)
    return _Document(root, list(repaired.values()), items)


def _last_item_end(last: bytes) -> int:
    """Where the closing tags after the last item start; the end of `last` when it has none."""
    item_ends = [m.end() for m in _ITEM_END_RE.finditer(last)]
    if item_ends:
        return item_ends[-1]
    closing = _CONTAINER_END_RE.search(last)
    return closing.start() if closing else len(last)


def _unreadable_header(source: str, error: ET.ParseError, header_error: ET.ParseError) -> FeedError:
    if header_error.code in _CUT_SHORT:
        return _Unusable(f"{source}: the feed is not well-formed XML ({error}); it may be truncated")
    return _Unusable(f"{source}: the feed's channel header is not well-formed XML ({header_error}), "
                     "so none of its items can be read")


def _parse_piece(doc: bytes, piece: bytes, lines_before: int) -> ET.Element | _Unreadable:
    """The one item in `doc` (channel header, `piece`, closing tags), or why it cannot be read."""
    try:
        root = ET.fromstring(doc)
    except ET.ParseError as exc:
        found = _SEGMENT_ID_RE.search(piece.decode("utf-8", errors="replace"))
        ident = found.group(1) if found else "no arXiv id found"
        what = re.sub(r"^not well-formed \((.*)\)$", r"\1", str(exc).split(": line")[0])
        line = exc.position[0] + lines_before
        return _Unreadable(f"{ident}: not well-formed XML ({what}, line {line} of the feed)")
    item = next((el for el in root.iter() if el.tag in _ITEM_TAGS), None)
    return item if item is not None else _Unreadable("not an item")


def _repair(body: bytes, markup: bool = False) -> tuple[bytes, dict[int, str]]:
    """Replace bytes that are not UTF-8 and remove characters XML forbids, item by item,
    so one bad byte costs at most a character of one item, never the day; with `markup`,
    escape bare & and < and read HTML entities too. Returns the repaired document and, by
    segment position, one line per repaired item (its arXiv id, or its position)."""
    declared = _DECLARED_ENCODING_RE.match(body)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return body, {}  # another declared encoding: expat decodes it itself
    if not markup and _is_clean(body):
        return body, {}
    parts, repaired = [], {}
    for pos, segment in enumerate(_ITEM_START_RE.split(body)):
        text, what = _repair_segment(segment, markup)
        parts.append(text)
        if what:
            repaired[pos] = f"{_segment_name(pos, text)}: {what}"
    return "".join(parts).encode("utf-8"), repaired


def _segment_name(pos: int, text: str) -> str:
    """How a report names the segment at `pos` (0 is the channel header): its arXiv id, or its position."""
    found = _SEGMENT_ID_RE.search(text)
    return "the channel header" if pos == 0 else (found.group(1) if found else f"item {pos}")


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


def _repair_segment(segment: bytes, markup: bool) -> tuple[str, str]:
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
    if markup:
        fixes = _MarkupFixes()
        text = "".join(piece if verbatim else fixes.repair(piece)
                       for verbatim, piece in _verbatim_split(text))
        what += fixes.described()
    return text, ", ".join(what)


def _verbatim_split(text: str) -> Iterable[tuple[bool, str]]:
    """The text in pieces, each marked True when it is a CDATA section or a comment."""
    for i, piece in enumerate(_VERBATIM_RE.split(text)):
        yield i % 2 == 1, piece


@dataclass
class _MarkupFixes:
    """Escapes what HTML allows and XML does not, and counts it for the report."""
    bare_amps: int = 0
    bare_lts: int = 0
    html_entities: dict[str, None] = field(default_factory=dict)  # distinct names, in order seen
    unknown_entities: dict[str, None] = field(default_factory=dict)

    def repair(self, text: str) -> str:
        text = _AMP_RE.sub(self._reference, text)
        text, escaped = _BARE_LT_RE.subn("&lt;", text)
        self.bare_lts += escaped
        return text

    def _reference(self, m: re.Match) -> str:
        ref = m.group(1)
        if ref is None:
            self.bare_amps += 1
            return "&amp;"
        if ref.startswith("#"):
            return m.group(0) if _is_char(ref) else self._unknown(m.group(0))
        if ref in _XML_ENTITIES:
            return m.group(0)
        char = html.entities.html5.get(ref + ";")
        if char is None:
            return self._unknown(m.group(0))
        self.html_entities[m.group(0)] = None
        return xml_escape(char)  # &AMP; is '&', which must stay escaped

    def _unknown(self, reference: str) -> str:
        self.unknown_entities[reference] = None
        return "&amp;" + reference[1:]  # kept as the text it was

    def described(self) -> list[str]:
        what = []
        if self.bare_amps:
            what.append(f"{self.bare_amps} bare '&' escaped")
        if self.html_entities:
            what.append(_entities_note("HTML", self.html_entities, "read as its character", "read as characters"))
        if self.unknown_entities:
            what.append(_entities_note("unknown", self.unknown_entities, "kept as text", "kept as text"))
        if self.bare_lts:
            what.append(f"{self.bare_lts} bare '<' escaped")
        return what


def _entities_note(kind: str, names: dict[str, None], one: str, many: str) -> str:
    if len(names) == 1:
        return f"{kind} entity {next(iter(names))} {one}"
    return f"{kind} entities {' '.join(names)} {many}"


def _is_char(ref: str) -> bool:
    """A character reference (#233, #xE9) to a character XML allows (the forbidden
    controls are already removed by then)."""
    code = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
    return code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF and code not in (0xFFFE, 0xFFFF)


def _parse_root(root, source: str, items: list | None = None) -> Feed:
    """The feed in `root`; `items`, when given, are its items in feed order (some unreadable)."""
    if root.tag == f"{{{NS['atom']}}}feed":
        return _parse_atom(root, source, items)
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise _Unusable(f"{source}: not an RSS feed (root element <{root.tag}>)")
    title = _text(channel, "title")
    if title.lower().startswith("feed error"):
        raise FeedError(f"{source}: arXiv answered '{title}' (is a category misspelled?)")
    feed = Feed(date=_parse_date(_text(channel, "pubDate")), title=title)
    _read_items(feed, "item", channel.findall("item") if items is None else items, _parse_item)
    if feed.date is None and feed.papers:
        item_date = _parse_date(_text(channel.find("item"), "pubDate"))
        feed.date = item_date
    return feed


def _read_items(feed: Feed, kind: str, items: Iterable, parse: Callable[[ET.Element], Paper]) -> None:
    """Each item as a paper, or skipped with its position in the feed and the reason."""
    for pos, item in enumerate(items, 1):
        try:
            if isinstance(item, _Unreadable):
                raise ValueError(item.reason)
            feed.papers.append(parse(item))
        except ValueError as exc:
            feed.skipped.append(f"{kind} {pos}: {exc}")


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


def _parse_atom(root, source: str, items: list | None = None) -> Feed:
    title = _clean(_text(root, "atom:title"))
    if title.lower().startswith("feed error"):
        raise FeedError(f"{source}: arXiv answered '{title}' (is a category misspelled?)")
    feed = Feed(date=_parse_date(_text(root, "atom:updated")), title=title)
    _read_items(feed, "entry", root.findall("atom:entry", NS) if items is None else items, _parse_entry)
    return feed


def _parse_entry(entry) -> Paper:
    im = _ID_RE.search(_text(entry, "atom:id"))
    if not im:
        raise ValueError("no arXiv id")
    summary = _clean(_text(entry, "atom:summary"))
    m = _DESC_RE.match(summary)
    abstract = summary[m.end():] if m else summary
    title = _clean(_text(entry, "atom:title"))
    if not title or not abstract:
        raise ValueError(f"{im.group('id')}: no title or abstract")
    primary = entry.find("arxiv:primary_category", NS)
    return Paper(
        arxiv_id=im.group("id"), version=int(im.group("v") or 1), title=title,
        authors=[_clean(_text(x, "atom:name")) for x in entry.findall("atom:author", NS)],
        abstract=_clean(abstract),
        categories=[c.get("term", "") for c in entry.findall("atom:category", NS)],
        announce_type=(_text(entry, "arxiv:announce_type") or (m.group("type") if m else "new")).strip(),
        # The API's Atom carries what the RSS feed lacks: keep it for the digest.
        comment=_clean(_text(entry, "arxiv:comment")),
        primary_category=primary.get("term", "") if primary is not None else "",
        doi=_clean(_text(entry, "arxiv:doi")),
        pdf_url=next((ln.get("href", "") for ln in entry.findall("atom:link", NS)
                      if ln.get("title") == "pdf" or ln.get("type") == "application/pdf"), ""),
    )


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
    return parse_feed(resp.content, source=url, origin=FROM_NETWORK)
