"""The shipped offline sample day (data/samples/2025-02-24.xml) and its builder, tools/build_sample_day.py."""
from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # plain `pytest`: tools/ is no installed package
    sys.path.insert(0, str(ROOT))

from tools import build_sample_day as samples  # noqa: E402

SHARED = ROOT.parent / "shared"
SEED = SHARED / "seed" / "000_55ecf5fd6290fc9e.txt"
LABELS = SHARED / "data" / "labels"
CAPTURE = SHARED / "data" / "feeds" / "rss-2026-09-24-cs.LG+cs.AI+cs.CL+stat.ML-4items.xml"
SAMPLE = ROOT / "data" / "samples" / "2025-02-24.xml"
ARXIV = "{http://arxiv.org/schemas/atom}"
DC = "{http://purl.org/dc/elements/1.1/}"

# The seed's 29 picks, in case ../shared is absent (checked against the seed when present).
SEED_IDS = {
    "2502.14888", "2502.14910", "2502.14924", "2502.15007", "2502.15013", "2502.15051",
    "2502.15075", "2502.15090", "2502.15118", "2502.15120", "2502.15124", "2502.15189",
    "2502.15294", "2502.15304", "2502.15315", "2502.15349", "2502.15374", "2502.15443",
    "2502.15451", "2502.15522", "2502.15540", "2502.15543", "2502.15589", "2502.15609",
    "2502.15618", "2502.15631", "2502.15634", "2502.15654", "2502.15657",
}


@pytest.fixture(scope="module")
def items():
    root = ET.parse(SAMPLE).getroot()
    assert root.tag == "rss" and root.get("version") == "2.0"
    return root.find("channel").findall("item")


def _id(item) -> str:
    return item.findtext("link").rsplit("/", 1)[-1]


def _type(item) -> str:
    return item.findtext(f"{ARXIV}announce_type")


def seed_ids() -> set[str]:
    if not SEED.exists():
        return SEED_IDS
    found = set(re.findall(r"arxiv\.org/abs/(\d+\.\d+)", SEED.read_text(encoding="utf-8")))
    assert found == SEED_IDS
    return found


def test_channel_header():
    ch = ET.parse(SAMPLE).getroot().find("channel")
    assert ch.findtext("link") == "http://rss.arxiv.org/rss/cs.LG+cs.AI"
    assert ch.findtext("pubDate") == "Mon, 24 Feb 2025 00:00:00 -0500"
    assert ch.findtext("lastBuildDate").startswith("Mon, 24 Feb 2025 ")
    assert [d.text for d in ch.find("skipDays")] == ["Sunday", "Saturday"]


def test_many_items(items):
    assert len(items) >= 300


def test_seed_picks_are_new_items(items):
    types = {_id(it): _type(it) for it in items}
    ids = seed_ids()
    assert len(ids) == 29
    missing = ids - types.keys()
    assert not missing, f"seed picks missing: {sorted(missing)}"
    assert {types[i] for i in ids} == {"new"}


def test_author_match_paper_keeps_bengio(items):
    (it,) = [it for it in items if _id(it) == "2502.15657"]
    assert "Yoshua Bengio" in it.findtext(f"{DC}creator").split(", ")


def test_has_every_announce_type_in_arxiv_order(items):
    types = [_type(it) for it in items]
    counts = Counter(types)
    assert counts["new"] and counts["cross"] and counts["replace"] + counts["replace-cross"]
    order = {"new": 0, "cross": 1, "replace": 2, "replace-cross": 3}
    assert [order[t] for t in types] == sorted(order[t] for t in types)


def test_no_duplicate_ids(items):
    ids = [_id(it) for it in items]
    dups = [i for i, n in Counter(ids).items() if n > 1]
    assert not dups, dups


def test_item_format(items):
    for it in items:
        aid, t = _id(it), _type(it)
        guid = it.findtext("guid")
        m = re.fullmatch(rf"oai:arXiv\.org:{re.escape(aid)}v(\d+)", guid)
        assert m, guid
        version = int(m.group(1))
        assert it.find("guid").get("isPermaLink") == "false"
        assert it.findtext("description").startswith(f"arXiv:{aid}v{version} Announce Type: {t} \nAbstract: ")
        cats = [c.text for c in it.findall("category")]
        assert cats and len(cats) == len(set(cats))
        in_feed = cats[0] in samples.FEED_CATEGORIES
        assert in_feed == (t in ("new", "replace")), (aid, t, cats)
        assert set(cats) & set(samples.FEED_CATEGORIES)
        if t == "new":
            assert version == 1
        elif t.startswith("replace"):
            assert version >= 2
        assert it.findtext(f"{DC}rights") in dict(samples.LICENCES)
        creators = it.findtext(f"{DC}creator")
        assert creators and "(" not in creators and ")" not in creators, creators
        assert it.findtext("pubDate") == "Mon, 24 Feb 2025 00:00:00 -0500"


def test_repair_authors():
    split = ["Name A (Univ", "Dept)", "Name B (Lab)", "Name C", "D (X", "Y", "Z)"]
    assert samples.repair_authors(split) == ["Name A", "Name B", "Name C", "D"]


@pytest.mark.skipif(not CAPTURE.exists(), reason="../shared/data/feeds capture absent")
def test_renderer_reproduces_real_capture_byte_for_byte():
    data = CAPTURE.read_bytes()
    assert samples.render(samples.parse(data)) == data


@pytest.mark.skipif(
    not (LABELS / samples.FOUNDATIONS_FILE).exists(),
    reason="../shared/data/labels absent: cannot rebuild the sample day from its sources",
)
def test_rebuild_is_byte_identical():
    assert samples.build(LABELS) == SAMPLE.read_bytes()
