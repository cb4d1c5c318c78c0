"""Build the shipped offline "sample day" feed: ``data/samples/2025-02-24.xml``.

The main job can run with no network by reading this file instead of
``rss.arxiv.org/rss/cs.LG+cs.AI``. It reproduces Monday 24 Feb 2025, the day of the
seed digest (``../shared/seed/000_55ecf5fd6290fc9e.txt``: 467 papers, 29 picks), in
the exact item format of the real RSS capture
``../shared/data/feeds/rss-2026-09-24-cs.LG+cs.AI+cs.CL+stat.ML-4items.xml``.

Content (titles, authors, abstracts, ids) comes from the public label files in
``../shared/data/labels/``:

* ``new``: the 29 foundations papers labelled 2025-02-24 (the seed's picks, incl. the
  "Author match" paper 2502.15657 by Yoshua Bengio et al.), plus vision-embodied papers
  from that day and the surrounding days;
* ``cross``: more vision-embodied papers from the surrounding days, with a primary
  category outside cs.LG/cs.AI (cs.CV, cs.RO, cs.CL, ...);
* ``replace`` / ``replace-cross``: the oldest vision-embodied papers (announced early
  Feb 2025, ids 2501.* / 2502.0*) as v2..v5 versions.

Categories, versions and ``dc:rights`` licences are NOT in the labels: they are assigned
here, deterministically (a hash of the arXiv id), from plausible values. Papers that any
foundations label ever selected are kept out of the filler so that the feed's only
"foundations" papers are the seed's 29 picks.

Rebuild (byte-identical output for the same label files)::

    python tools/build_sample_day.py             # writes data/samples/2025-02-24.xml
    python tools/build_sample_day.py --check     # exit 1 if the shipped file is out of date
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from lxml import etree

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = REPO_ROOT / "data" / "samples"
SAMPLE_DATE = _dt.date(2025, 2, 24)
SAMPLE_PATH = SAMPLES_DIR / f"{SAMPLE_DATE.isoformat()}.xml"
DEFAULT_LABELS_DIR = REPO_ROOT.parent / "shared" / "data" / "labels"
FOUNDATIONS_FILE = "foundations.2025.jsonl.gz"
VISION_FILE = "vision-embodied.2025.jsonl.gz"

FEED_CATEGORIES = ("cs.LG", "cs.AI")

# Target composition (the seed day had 467 papers in cs.LG+cs.AI).
N_NEW = 285  # 29 seed picks + 256 vision-embodied filler papers
N_CROSS = 80
N_REPLACE = 70
N_REPLACE_CROSS = 35
# Filler "new"/"cross" papers come from vision-embodied days within this many days.
NEAR_DAYS = 7

NS = {
    "arxiv": "http://arxiv.org/schemas/atom",
    "dc": "http://purl.org/dc/elements/1.1/",
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
}

# Real arXiv licence URLs, with rough real-world frequencies (weights sum to 100).
LICENCES = (
    ("http://arxiv.org/licenses/nonexclusive-distrib/1.0/", 52),
    ("http://creativecommons.org/licenses/by/4.0/", 31),
    ("http://creativecommons.org/licenses/by-nc-sa/4.0/", 7),
    ("http://creativecommons.org/licenses/by-nc-nd/4.0/", 5),
    ("http://creativecommons.org/licenses/by-sa/4.0/", 3),
    ("http://creativecommons.org/publicdomain/zero/1.0/", 2),
)


# --------------------------------------------------------------------------- helpers


def _u(*key: str) -> float:
    """Deterministic uniform number in [0, 1) derived from ``key`` (stable everywhere)."""
    digest = hashlib.sha256("\x1f".join(key).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _weighted(key: Sequence[str], options: Sequence[tuple[str, int]]) -> str:
    total = sum(w for _, w in options)
    x = _u(*key) * total
    for value, weight in options:
        x -= weight
        if x < 0:
            return value
    return options[-1][0]


def rss_date(day: _dt.date) -> str:
    """arXiv's item/channel pubDate: midnight US Eastern (EST in winter, EDT in summer)."""
    # US DST: second Sunday of March .. first Sunday of November.
    march = _dt.date(day.year, 3, 8)
    dst_start = march + _dt.timedelta(days=(6 - march.weekday()) % 7)
    nov = _dt.date(day.year, 11, 1)
    dst_end = nov + _dt.timedelta(days=(6 - nov.weekday()) % 7)
    offset = "-0400" if dst_start <= day < dst_end else "-0500"
    return day.strftime("%a, %d %b %Y 00:00:00 ") + offset


def repair_authors(authors: Iterable[str]) -> list[str]:
    """Drop parenthesised affiliations, including ones the labels split on commas.

    ``["Name (Univ", "Dept)", "Other (Lab)"]`` -> ``["Name", "Other"]``.
    """
    out: list[str] = []
    depth = 0
    for frag in authors:
        kept = []
        for ch in frag:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth = max(depth - 1, 0)
            elif depth == 0:
                kept.append(ch)
        name = " ".join("".join(kept).split())
        if name:
            out.append(name)
    return out


# ------------------------------------------------------------------------ data model


@dataclass
class Item:
    arxiv_id: str
    version: int
    announce_type: str  # new | cross | replace | replace-cross
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    rights: str
    pub_date: str
    doi: str | None = None

    @property
    def versioned_id(self) -> str:
        return f"{self.arxiv_id}v{self.version}"


@dataclass
class Channel:
    categories: Sequence[str]
    last_build_date: str
    pub_date: str
    items: list[Item] = field(default_factory=list)


# ------------------------------------------------------------------------ rendering


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str):
    if ":" in tag:
        prefix, local = tag.split(":", 1)
        tag = f"{{{NS[prefix]}}}{local}"
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def render(channel: Channel) -> bytes:
    """Serialise ``channel`` exactly like rss.arxiv.org does (namespaces, layout, escaping)."""
    label = ", ".join(channel.categories)
    slug = "+".join(channel.categories)
    feed_url = f"http://rss.arxiv.org/rss/{slug}"

    rss = etree.Element("rss", nsmap=NS)
    rss.set("version", "2.0")
    ch = _sub(rss, "channel")
    _sub(ch, "title", f"{label} updates on arXiv.org")
    _sub(ch, "link", feed_url)
    _sub(ch, "description", f"{label} updates on the arXiv.org e-print archive.")
    _sub(ch, "atom:link", href=feed_url, rel="self", type="application/rss+xml")
    _sub(ch, "docs", "http://www.rssboard.org/rss-specification")
    _sub(ch, "language", "en-us")
    _sub(ch, "lastBuildDate", channel.last_build_date)
    _sub(ch, "managingEditor", "rss-help@arxiv.org")
    _sub(ch, "pubDate", channel.pub_date)
    skip = _sub(ch, "skipDays")
    _sub(skip, "day", "Sunday")
    _sub(skip, "day", "Saturday")
    for it in channel.items:
        el = _sub(ch, "item")
        _sub(el, "title", it.title)
        _sub(el, "link", f"https://arxiv.org/abs/{it.arxiv_id}")
        _sub(
            el,
            "description",
            f"arXiv:{it.versioned_id} Announce Type: {it.announce_type} \nAbstract: {it.abstract}",
        )
        _sub(el, "guid", f"oai:arXiv.org:{it.versioned_id}", isPermaLink="false")
        for cat in it.categories:
            _sub(el, "category", cat)
        _sub(el, "pubDate", it.pub_date)
        _sub(el, "arxiv:announce_type", it.announce_type)
        _sub(el, "dc:rights", it.rights)
        if it.doi:
            _sub(el, "arxiv:DOI", it.doi)
        _sub(el, "dc:creator", ", ".join(it.authors))
    return etree.tostring(rss, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def parse(data: bytes) -> Channel:
    """Read a feed written by :func:`render` (or by arXiv) back into a :class:`Channel`."""
    root = etree.fromstring(data)
    ch = root.find("channel")
    slug = ch.findtext("link").rsplit("/", 1)[-1]
    out = Channel(
        categories=slug.split("+"),
        last_build_date=ch.findtext("lastBuildDate"),
        pub_date=ch.findtext("pubDate"),
    )
    for el in ch.findall("item"):
        guid = el.findtext("guid").rsplit(":", 1)[-1]
        arxiv_id, version = guid.rsplit("v", 1)
        desc = el.findtext("description")
        abstract = desc.split("\nAbstract: ", 1)[1]
        creators = el.findtext(f"{{{NS['dc']}}}creator") or ""
        out.items.append(
            Item(
                arxiv_id=arxiv_id,
                version=int(version),
                announce_type=el.findtext(f"{{{NS['arxiv']}}}announce_type"),
                title=el.findtext("title"),
                abstract=abstract,
                authors=creators.split(", ") if creators else [],
                categories=[c.text for c in el.findall("category")],
                rights=el.findtext(f"{{{NS['dc']}}}rights"),
                pub_date=el.findtext("pubDate"),
                doi=el.findtext(f"{{{NS['arxiv']}}}DOI"),
            )
        )
    return out


# ----------------------------------------------------------------- sample-day content

_ROBOT = re.compile(
    r"\b(robot\w*|embodied|manipulat\w*|grasp\w*|locomotion|navigation|humanoid|"
    r"autonomous driving|driving|vehicle\w*|drone\w*|UAV\w*)\b",
    re.I,
)
_LANG = re.compile(
    r"\b(language models?|LLMs?|VLMs?|MLLMs?|LVLMs?|vision-language|multimodal large|"
    r"text|question answering|VQA|captioning|instruction)\b",
    re.I,
)
_THEORY = re.compile(
    r"\b(theorem|bound[s]?|convergence|generalization|statistical|Bayesian|"
    r"kernel|estimat\w+|complexity|sample complexity|minimax)\b",
    re.I,
)


def _topic_cats(row: dict) -> list[str]:
    """Secondary categories suggested by a vision-embodied paper's text."""
    text = f"{row['title']} {row['abstract']}"
    cats = ["cs.CV"]
    if _ROBOT.search(text):
        cats.append("cs.RO")
    if _LANG.search(text):
        cats.append("cs.CL")
    return cats


def _pick_categories(row: dict, kind: str) -> list[str]:
    aid = row["arxiv_id"]
    if kind == "seed":
        # Foundations picks: cs.LG and/or cs.AI, plus cs.CL / stat.ML where fitting.
        text = f"{row['title']} {row['abstract']}"
        primary = "cs.AI" if _u(aid, "primary") < 0.25 else "cs.LG"
        other = "cs.LG" if primary == "cs.AI" else "cs.AI"
        cats = [primary]
        if _u(aid, "other") < 0.55:
            cats.append(other)
        if _LANG.search(text) and _u(aid, "cl") < 0.8:
            cats.append("cs.CL")
        if _THEORY.search(text) and _u(aid, "stat") < 0.6:
            cats.append("stat.ML")
        return cats
    topic = _topic_cats(row)
    if kind in ("new", "replace"):
        # Primary in the feed (cs.AI or cs.LG); the topic categories are cross-lists.
        primary = "cs.AI" if _u(aid, "primary") < 0.55 else "cs.LG"
        cats = [primary] + topic
        if _u(aid, "both") < 0.3:
            cats.insert(1, "cs.LG" if primary == "cs.AI" else "cs.AI")
        return cats
    # cross / replace-cross: primary outside the feed, then cs.AI and/or cs.LG.
    if "cs.RO" in topic and _u(aid, "ro") < 0.6:
        primary = "cs.RO"
    elif "cs.CL" in topic and _u(aid, "cl") < 0.3:
        primary = "cs.CL"
    else:
        primary = _weighted((aid, "xprimary"), (("cs.CV", 88), ("eess.IV", 7), ("cs.HC", 5)))
    cats = [primary] + [c for c in topic if c != primary]
    feed = _weighted((aid, "feedcats"), (("cs.AI", 50), ("cs.LG", 30), ("both", 20)))
    cats += ["cs.AI", "cs.LG"] if feed == "both" else [feed]
    return cats


def _version(aid: str, kind: str) -> int:
    if kind in ("replace", "replace-cross"):
        return int(_weighted((aid, "version"), (("2", 70), ("3", 20), ("4", 8), ("5", 2))))
    if kind == "cross":
        return 2 if _u(aid, "version") < 0.05 else 1
    return 1


def load_labels(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _make_item(row: dict, kind: str, pub_date: str) -> Item:
    aid = row["arxiv_id"]
    announce = "new" if kind == "seed" else kind
    return Item(
        arxiv_id=aid,
        version=_version(aid, announce),
        announce_type=announce,
        title=row["title"],
        abstract=row["abstract"],
        authors=repair_authors(row["authors"]),
        categories=_pick_categories(row, kind),
        rights=_weighted((aid, "rights"), LICENCES),
        pub_date=pub_date,
    )


def build_channel(labels_dir: Path = DEFAULT_LABELS_DIR) -> Channel:
    labels_dir = Path(labels_dir)
    foundations = load_labels(labels_dir / FOUNDATIONS_FILE)
    vision = load_labels(labels_dir / VISION_FILE)
    day = SAMPLE_DATE.isoformat()
    pub = rss_date(SAMPLE_DATE)

    # 1. The seed's 29 picks: every foundations paper labelled on the sample day.
    seed_rows: dict[str, dict] = {}
    for row in foundations:
        if row["date"] == day:
            seed_rows.setdefault(row["arxiv_id"], row)
    # Filler must be papers the seed criteria would not pick: exclude anything the
    # foundations deployment ever selected (on any day), and the picks themselves.
    excluded = {row["arxiv_id"] for row in foundations}

    # One row per vision paper id: its first labelled date (the labels repeat some ids
    # on consecutive days).
    first: dict[str, dict] = {}
    for row in sorted(vision, key=lambda r: (r["date"], r["arxiv_id"])):
        if row["arxiv_id"] not in excluded:
            first.setdefault(row["arxiv_id"], row)

    def distance(row: dict) -> int:
        return abs((_dt.date.fromisoformat(row["date"]) - SAMPLE_DATE).days)

    # 2. new + cross filler: 2502.* papers from the sample day outwards.
    near = sorted(
        (r for r in first.values() if r["arxiv_id"].startswith("2502.") and distance(r) <= NEAR_DAYS),
        key=lambda r: (distance(r), r["date"], r["arxiv_id"]),
    )
    n_fill = N_NEW - len(seed_rows) + N_CROSS
    if len(near) < n_fill:
        raise RuntimeError(f"only {len(near)} vision papers near {day}, need {n_fill}")
    near = near[:n_fill]
    used = {r["arxiv_id"] for r in near}
    by_hash = sorted(near, key=lambda r: _u(r["arxiv_id"], "cross?"))
    cross_rows = by_hash[:N_CROSS]
    new_rows = by_hash[N_CROSS:]

    # 3. replace / replace-cross: the oldest papers (earliest label dates, lowest ids).
    old = sorted(
        (r for r in first.values() if r["arxiv_id"] not in used and r["date"] < day),
        key=lambda r: (r["date"], r["arxiv_id"]),
    )[: N_REPLACE + N_REPLACE_CROSS]
    if len(old) < N_REPLACE + N_REPLACE_CROSS:
        raise RuntimeError("not enough older vision papers for replace items")
    old_by_hash = sorted(old, key=lambda r: _u(r["arxiv_id"], "replace-cross?"))
    replace_rows = old_by_hash[:N_REPLACE]
    replace_cross_rows = old_by_hash[N_REPLACE:]

    def items(rows: Iterable[dict], kind: str) -> list[Item]:
        return sorted((_make_item(r, kind, pub) for r in rows), key=lambda i: i.arxiv_id)

    # arXiv's order: new (by id), cross, replace, replace-cross.
    new_items = sorted(
        items(seed_rows.values(), "seed") + items(new_rows, "new"), key=lambda i: i.arxiv_id
    )
    channel = Channel(
        categories=FEED_CATEGORIES,
        # arXiv rebuilds the feed around 05:00 US Eastern (capture: 08:58:05 +0000 in EDT).
        last_build_date=SAMPLE_DATE.strftime("%a, %d %b %Y 09:58:05 +0000"),
        pub_date=pub,
        items=new_items
        + items(cross_rows, "cross")
        + items(replace_rows, "replace")
        + items(replace_cross_rows, "replace-cross"),
    )
    ids = [i.arxiv_id for i in channel.items]
    assert len(ids) == len(set(ids)), "duplicate arXiv ids in sample feed"
    return channel


def build(labels_dir: Path = DEFAULT_LABELS_DIR) -> bytes:
    """The sample-day feed as bytes (deterministic for the same label files)."""
    return render(build_channel(labels_dir))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/build_sample_day.py", description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS_DIR, help="labels directory")
    ap.add_argument("--out", type=Path, default=SAMPLE_PATH, help="output file")
    ap.add_argument("--check", action="store_true", help="only compare with --out; exit 1 if different")
    args = ap.parse_args(argv)
    if not (args.labels / FOUNDATIONS_FILE).exists():
        print(f"labels not found in {args.labels}", file=sys.stderr)
        return 2
    data = build(args.labels)
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == data
        print(f"{args.out}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    counts: dict[str, int] = {}
    for it in parse(data).items:
        counts[it.announce_type] = counts.get(it.announce_type, 0) + 1
    print(f"wrote {args.out} ({len(data)} bytes): {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
