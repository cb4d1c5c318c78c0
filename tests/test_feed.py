"""Parsing arXiv feeds: the real captures, and every kind of broken input we have seen."""
from __future__ import annotations

import codecs
import gzip
from datetime import date
from pathlib import Path

import pytest

from bot.feed import FeedError, PoliteSession, feed_url, fetch_feed, parse_feed, select, split_authors
from tests.servers.arxiv_server import ArxivServer, Reply

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CAPTURES = ROOT / "tests" / "fixtures" / "shared" / "feeds"  # copies of ../shared/data/feeds
RSS_CAPTURE = CAPTURES / "rss-2026-09-24-cs.LG+cs.AI+cs.CL+stat.ML-4items.xml"
DAY = FIXTURES / "rss-2025-02-24-7items.xml"
WEEKEND = FIXTURES / "rss-2025-03-01-weekend-empty.xml"

needs_captures = pytest.mark.skipif(not CAPTURES.is_dir(), reason=f"real captures not found at {CAPTURES}")


# --- the real captures ----------------------------------------------------------------

@needs_captures
def test_rss_capture_items_and_announce_types():
    feed = parse_feed(RSS_CAPTURE.read_bytes(), source="capture")
    assert feed.date == date(2026, 9, 24)  # channel pubDate, Eastern midnight: not shifted to UTC
    assert feed.title == "cs.LG, cs.AI, cs.CL, stat.ML updates on arXiv.org"
    assert feed.skipped == []
    got = [(p.arxiv_id, p.version, p.announce_type) for p in feed.papers]
    assert got == [("2609.26811", 1, "new"), ("2609.26820", 1, "new"),
                   ("2205.06398", 2, "cross"), ("2009.13987", 3, "replace")]


@needs_captures
def test_rss_capture_fields_of_one_item():
    p = parse_feed(RSS_CAPTURE.read_bytes()).papers[2]
    assert p.title == "Outlier Detection for Multi-Network Data"
    assert p.authors == ["Pritam Dey", "Zhengwu Zhang", "David B. Dunson"]
    assert p.categories == ["stat.ME", "stat.AP", "stat.ML"]  # feed order; primary not marked
    assert p.doi == "10.1093/bioinformatics/btac431"
    assert p.license == "http://creativecommons.org/licenses/by-sa/4.0/"
    # The description's "arXiv:... Announce Type: ... Abstract:" prefix is stripped.
    assert p.abstract.startswith("It has become routine in neuroscience")
    assert "Announce Type" not in p.abstract and "Abstract:" not in p.abstract
    assert "\n" not in p.abstract and "  " not in p.abstract
    assert p.abs_url == "https://arxiv.org/abs/2205.06398"


@needs_captures
def test_rss_capture_select_keeps_new_and_cross_never_replacements():
    feed = parse_feed(RSS_CAPTURE.read_bytes())
    assert [p.arxiv_id for p in select(feed, ["new", "cross"])] == ["2609.26811", "2609.26820", "2205.06398"]
    assert [p.arxiv_id for p in select(feed, ["new"])] == ["2609.26811", "2609.26820"]


@needs_captures
@pytest.mark.parametrize("name, n, first_id, first_version, first_authors", [
    ("api-2026-09-24-cat-cs.CL-3results.xml", 3, "2609.28471", 1, ["Peter Kirby"]),
    ("api-2026-02-12-ti-random-5results.xml", 5, "2101.02199", 5, ["Paul Dario", "Matan Harel", "Ron Peled"]),
    ("api-2019-08-10-all-science-10results-legacy.xml", 10, "1501.05039", 1, ["Yangyong Zhu", "Yun Xiong"]),
])
def test_api_atom_captures(name, n, first_id, first_version, first_authors):
    feed = parse_feed((CAPTURES / name).read_bytes(), source=name)
    assert feed.skipped == []
    assert len(feed.papers) == n
    first = feed.papers[0]
    assert (first.arxiv_id, first.version, first.authors) == (first_id, first_version, first_authors)
    for p in feed.papers:
        assert p.title and p.abstract and p.authors and p.categories
        assert "\n" not in p.title and "\r" not in p.abstract  # CRLF capture too
        assert not p.arxiv_id.endswith(f"v{p.version}")


@needs_captures
def test_api_atom_keeps_comment_primary_category_doi_and_pdf_link():
    feed = parse_feed((CAPTURES / "api-2026-09-24-cat-cs.CL-3results.xml").read_bytes())
    first, second = feed.papers[0], feed.papers[1]
    assert first.comment.startswith("Published in the proceedings of CLEF 2026. Code: https://github.com/")
    assert (first.primary_category, first.doi) == ("cs.CL", "10.1007/978-3-032-39150-6_7")
    assert first.pdf_url == "https://arxiv.org/pdf/2609.28471v1"
    assert second.primary_category == "cs.SE" and second.doi == ""  # absent fields stay empty


@needs_captures
def test_api_legacy_old_style_ids_keep_their_archive():
    feed = parse_feed((CAPTURES / "api-2019-08-10-all-science-10results-legacy.xml").read_bytes())
    ids = [p.arxiv_id for p in feed.papers]
    assert "quant-ph/0210005" in ids and "physics/0507092" in ids
    assert next(p for p in feed.papers if p.arxiv_id == "quant-ph/0210005").abs_url == \
        "https://arxiv.org/abs/quant-ph/0210005"


@needs_captures
def test_api_atom_multiline_title_is_one_line():
    feed = parse_feed((CAPTURES / "api-2019-08-10-all-science-10results-legacy.xml").read_bytes())
    report = next(p for p in feed.papers if p.arxiv_id == "1503.01162")
    assert report.title.startswith("Report on a Boston University Conference December 7-8, 2012 on 'How Can the History")


# --- the small day fixture (items copied from the sample day) ---------------------------

def test_fixture_day_authors_with_latex_escapes_are_kept_verbatim():
    feed = parse_feed(DAY.read_bytes())
    bengio = next(p for p in feed.papers if p.arxiv_id == "2502.15657")
    assert bengio.authors[0] == "Yoshua Bengio"
    assert 'S\\"oren Mindermann' in bengio.authors  # matching folds it; storage keeps the source
    assert len(bengio.authors) == 13


def test_fixture_day_select_drops_replace_and_replace_cross():
    feed = parse_feed(DAY.read_bytes())
    assert len(feed.papers) == 7
    kept = select(feed, ["new", "cross"])
    assert [p.announce_type for p in kept] == ["new", "new", "cross", "new", "new"]


def test_select_drops_duplicate_ids_keeping_the_first():
    body = DAY.read_text(encoding="utf-8")
    first_item = body[body.index("    <item>"):body.index("</item>") + len("</item>\n")]
    doubled = body.replace("  </channel>", first_item + "  </channel>")
    feed = parse_feed(doubled)
    assert len(feed.papers) == 8
    kept = select(feed, ["new", "cross"])
    assert [p.arxiv_id for p in kept].count("2502.15657") == 1


# --- empty and broken input -------------------------------------------------------------

def test_weekend_feed_is_empty_not_an_error():
    feed = parse_feed(WEEKEND.read_bytes(), source="weekend")
    assert feed.empty and feed.papers == [] and feed.skipped == []
    assert feed.date == date(2025, 3, 1)


def test_truncated_xml_says_it_may_be_truncated():
    body = DAY.read_bytes()
    with pytest.raises(FeedError, match=r"cut\.xml: the feed is not well-formed XML .*truncated"):
        parse_feed(body[: len(body) // 2], source="cut.xml")


def test_html_error_page_is_named_as_such():
    with pytest.raises(FeedError, match="HTML page instead of an RSS feed"):
        parse_feed((FIXTURES / "arxiv-error-page.html").read_bytes(), source="x")


def test_feed_error_title_names_the_query():
    with pytest.raises(FeedError, match=r"Feed error for query: cs\.XX.*category misspelled"):
        parse_feed((FIXTURES / "rss-feed-error-400.xml").read_bytes())


@pytest.mark.parametrize("body, message", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"<?xml version='1.0'?><opml version='2.0'><body/></opml>", "root element <opml>"),
    (b"<rss version='2.0'></rss>", "not an RSS feed"),
])
def test_other_non_feeds_are_rejected_with_the_reason(body, message):
    with pytest.raises(FeedError, match=message):
        parse_feed(body, source="body")


def _day_with(edit) -> bytes:
    return edit(DAY.read_text(encoding="utf-8")).encode("utf-8")


def test_item_without_title_is_skipped_with_a_reason_others_kept():
    body = _day_with(lambda s: s.replace(
        "<title>Tight Clusters Make Specialized Experts</title>", "<title></title>"))
    feed = parse_feed(body)
    assert len(feed.papers) == 6
    assert "2502.15315" not in [p.arxiv_id for p in feed.papers]
    assert len(feed.skipped) == 1 and "2502.15315: no title" in feed.skipped[0]
    assert feed.skipped[0].startswith("item 2:")


def test_item_without_any_id_is_skipped():
    def strip_ids(s: str) -> str:
        start = s.index("<link>https://arxiv.org/abs/2502.15118</link>")
        item_end = s.index("</item>", start)
        item = s[start:item_end]
        bare = (item.replace("<link>https://arxiv.org/abs/2502.15118</link>", "")
                .replace('<guid isPermaLink="false">oai:arXiv.org:2502.15118v1</guid>', "")
                .replace("arXiv:2502.15118v1 Announce Type: new \nAbstract: ", ""))
        return s[:start] + bare + s[item_end:]

    feed = parse_feed(_day_with(strip_ids))
    assert len(feed.papers) == 6
    assert len(feed.skipped) == 1 and "no arXiv id" in feed.skipped[0]
    assert "Do we really need the Rademacher" in feed.skipped[0]  # says which item


def test_item_without_abstract_is_skipped():
    def empty_desc(s: str) -> str:
        start = s.index("arXiv:2502.15451v1 Announce Type: new")
        end = s.index("</description>", start)
        return s[:start] + "arXiv:2502.15451v1 Announce Type: new \nAbstract: " + s[end:]

    feed = parse_feed(_day_with(empty_desc))
    assert [s for s in feed.skipped if "2502.15451: no abstract" in s]
    assert len(feed.papers) == 6


def test_item_without_creator_has_no_authors_but_is_kept():
    body = _day_with(lambda s: s.replace("<dc:creator>Yuan Sun</dc:creator>", ""))
    paper = next(p for p in parse_feed(body).papers if p.arxiv_id == "2502.15451")
    assert paper.authors == []


def test_description_without_prefix_falls_back_to_guid_and_announce_type_tag():
    body = _day_with(lambda s: s.replace("arXiv:2502.10603v1 Announce Type: cross \nAbstract: ", ""))
    paper = next(p for p in parse_feed(body).papers if p.arxiv_id == "2502.10603")
    assert paper.announce_type == "cross" and paper.version == 1
    assert paper.abstract.startswith("Advances in machine learning methods")


def test_channel_without_pubdate_takes_the_items_date():
    body = _day_with(lambda s: s.replace("    <pubDate>Mon, 24 Feb 2025 00:00:00 -0500</pubDate>\n    <skipDays>",
                                         "    <skipDays>", 1))
    feed = parse_feed(body)
    assert feed.date == date(2025, 2, 24)


def test_str_and_bytes_parse_alike():
    assert parse_feed(DAY.read_text(encoding="utf-8")).papers == parse_feed(DAY.read_bytes()).papers


# --- helpers ----------------------------------------------------------------------------

@pytest.mark.parametrize("creator, names", [
    ("Yuan Sun", ["Yuan Sun"]),
    ("A. One, B. Two, C. Three", ["A. One", "B. Two", "C. Three"]),
    ("A. One, B. Two and C. Three", ["A. One", "B. Two", "C. Three"]),
    ("A. One, B. Two, and C. Three", ["A. One", "B. Two", "C. Three"]),
    ("Alexander Anderson", ["Alexander Anderson"]),  # "and" inside a word is not a separator
    ("  Yi\n  Ma ,  Li Fei-Fei ", ["Yi Ma", "Li Fei-Fei"]),
    ("", []),
])
def test_split_authors(creator, names):
    assert split_authors(creator) == names


def test_feed_url_joins_categories_with_plus():
    assert feed_url("https://rss.arxiv.org/rss/", ["cs.LG", "cs.AI"]) == "https://rss.arxiv.org/rss/cs.LG+cs.AI"
    assert feed_url("http://127.0.0.1:9/rss", ["stat.ML"]) == "http://127.0.0.1:9/rss/stat.ML"


# --- one bad byte or control character: repair that item, keep the day -------------------

def _inside(body: bytes, after: bytes, insert: bytes) -> bytes:
    """The capture with `insert` placed right after the first `after`."""
    at = body.index(after) + len(after)
    return body[:at] + insert + body[at:]


def test_a_non_utf8_byte_in_one_description_is_repaired_and_that_item_named():
    body = _inside(DAY.read_bytes(), b"arXiv:2502.15315v1 Announce Type: new \nAbstract: ", b"Caf\xc6 ")
    feed = parse_feed(body, source="day.xml")
    assert [p.arxiv_id for p in feed.papers] == [p.arxiv_id for p in parse_feed(DAY.read_bytes()).papers]
    assert feed.skipped == []
    assert len(feed.repaired) == 1 and feed.repaired[0].startswith("2502.15315:")
    assert "UTF-8" in feed.repaired[0]
    paper = next(p for p in feed.papers if p.arxiv_id == "2502.15315")
    assert paper.abstract.startswith("Caf\ufffd ")


@needs_captures
def test_a_control_character_in_one_title_is_removed_and_that_item_named():
    body = _inside(RSS_CAPTURE.read_bytes(), b"<title>Outlier Detection", b"\x01")
    feed = parse_feed(body, source="capture")
    assert len(feed.papers) == 4 and feed.skipped == []
    assert feed.papers[2].title == "Outlier Detection for Multi-Network Data"
    assert feed.repaired == ["2205.06398: 1 control character removed (not allowed in XML)"]


@needs_captures
def test_an_invalid_character_reference_in_an_atom_entry_is_removed():
    capture = CAPTURES / "api-2026-09-24-cat-cs.CL-3results.xml"
    body = capture.read_bytes()
    first_summary = body.index(b"<summary>") + len(b"<summary>")
    body = body[:first_summary] + b"&#x1b;[0m" + body[first_summary:]
    feed = parse_feed(body, source="api")
    assert len(feed.papers) == len(parse_feed(capture.read_bytes()).papers)
    assert len(feed.repaired) == 1 and feed.repaired[0].startswith(feed.papers[0].arxiv_id + ":")


def test_bad_bytes_in_the_channel_header_are_repaired_and_named():
    body = _inside(DAY.read_bytes(), b"<title>cs.LG, cs.AI", b"\x02\xff")
    feed = parse_feed(body)
    assert len(feed.papers) == 7
    assert feed.repaired == ["the channel header: 1 byte that is not UTF-8 replaced, "
                             "1 control character removed (not allowed in XML)"]


def test_a_truncated_feed_with_a_bad_byte_is_still_rejected():
    body = _inside(DAY.read_bytes(), b"Abstract: ", b"\xc6")
    with pytest.raises(FeedError, match=r"cut\.xml: the feed is not well-formed XML .*truncated"):
        parse_feed(body[: len(body) // 2], source="cut.xml")


def test_a_clean_feed_reports_no_repairs():
    assert parse_feed(DAY.read_bytes()).repaired == []


def _digest_exit_code(tmp_path: Path, monkeypatch, feed_body: bytes) -> int:
    """`python -m bot digest --feed` on a day feed with `feed_body`, in a fresh team folder."""
    from bot.cli import main

    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    settings = tmp_path / "team.toml"
    settings.write_text(f'[storage]\ndigest_dir = "{tmp_path / "digests"}"\n[arxiv]\nenrich = false\n')
    feed = tmp_path / "day.xml"
    feed.write_bytes(feed_body)
    return main(["--settings", str(settings), "digest", "--feed", str(feed), "--db", str(tmp_path / "d.sqlite"),
                 "--quiet"])


def test_the_digest_of_a_day_with_one_bad_byte_keeps_every_paper_and_names_the_repair(tmp_path, capsys,
                                                                                       monkeypatch):
    body = _inside(DAY.read_bytes(), b"arXiv:2502.15315v1 Announce Type: new \nAbstract: ", b"\xc6")
    assert _digest_exit_code(tmp_path, monkeypatch, body) == 0
    out = capsys.readouterr()
    assert "warning: repaired the feed at 2502.15315: 1 byte that is not UTF-8 replaced" in out.err
    assert "papers picked for 2025-02-24" in out.out and "arXiv papers 7" in out.out


# --- one bare &, < or undefined entity: repair that item, or leave out only that item ------

def _replaced(body: bytes, old: bytes, new: bytes) -> bytes:
    assert body.count(old) == 1, f"{old!r} must occur once in the capture"
    return body.replace(old, new)


def _ids(feed) -> list[str]:
    return [p.arxiv_id for p in feed.papers]


def test_bare_ampersands_in_one_title_are_escaped_and_that_item_named():
    body = _replaced(DAY.read_bytes(), b"<title>Tight Clusters Make", b"<title>AT&T and R&D: Tight Clusters Make")
    feed = parse_feed(body, source="day.xml")
    assert _ids(feed) == _ids(parse_feed(DAY.read_bytes())) and feed.skipped == []
    assert feed.papers[1].title == "AT&T and R&D: Tight Clusters Make Specialized Experts"
    assert feed.repaired == ["2502.15315: 2 bare '&' escaped"]


@needs_captures
def test_a_bare_less_than_in_one_abstract_is_escaped_and_that_item_named():
    body = _replaced(RSS_CAPTURE.read_bytes(), b"It has become routine in neuroscience",
                     b"When a < b, it has become routine in neuroscience")
    feed = parse_feed(body, source="capture")
    assert len(feed.papers) == 4 and feed.skipped == []
    assert feed.papers[2].abstract.startswith("When a < b, it has become routine in neuroscience")
    assert feed.repaired == ["2205.06398: 1 bare '<' escaped"]


@needs_captures
def test_html_entities_become_characters_and_an_unknown_entity_stays_as_text():
    capture = CAPTURES / "api-2026-09-24-cat-cs.CL-3results.xml"
    body = _replaced(capture.read_bytes(), b"<summary>Our results show",
                     b"<summary>Caf&eacute;&nbsp;study &foo; &amp; &#233;: our results show")
    feed = parse_feed(body, source="api")
    assert _ids(feed) == _ids(parse_feed(capture.read_bytes())) and feed.skipped == []
    assert feed.papers[0].abstract.startswith("Caf\u00e9 study &foo; & \u00e9: our results show")
    assert feed.repaired == ["2609.28471: HTML entities &eacute; &nbsp; read as characters, "
                             "unknown entity &foo; kept as text"]


def test_ampersands_inside_cdata_are_left_as_they_are():
    body = _replaced(DAY.read_bytes(), b"<title>Tight Clusters Make Specialized Experts</title>",
                     b"<title><![CDATA[Tight & Clusters]]> & Experts</title>")
    feed = parse_feed(body)
    assert feed.papers[1].title == "Tight & Clusters & Experts"
    assert feed.repaired == ["2502.15315: 1 bare '&' escaped"]


def test_a_bare_ampersand_in_the_channel_header_is_repaired_and_named():
    body = _replaced(DAY.read_bytes(), b"<title>cs.LG, cs.AI updates", b"<title>cs.LG & cs.AI updates")
    feed = parse_feed(body)
    assert len(feed.papers) == 7 and feed.title.startswith("cs.LG & cs.AI updates")
    assert feed.repaired == ["the channel header: 1 bare '&' escaped"]


def _line_of(body: bytes, text: bytes) -> int:
    return body[:body.index(text)].count(b"\n") + 1


def test_an_item_broken_beyond_repair_is_left_out_and_named_the_rest_kept():
    # "n<m" reads as the start of a tag <m ...>: no repair can know what was meant.
    body = _replaced(DAY.read_bytes(), b"Abstract: Advances in machine learning",
                     b"Abstract: For n<m experts, advances in machine learning")
    feed = parse_feed(body, source="day.xml")
    assert _ids(feed) == [i for i in _ids(parse_feed(DAY.read_bytes())) if i != "2502.10603"]
    assert len(feed.skipped) == 1
    line = _line_of(body, b"For n<m")
    assert feed.skipped[0].startswith(f"item 3: 2502.10603: not well-formed XML (")
    assert f"line {line} of the feed" in feed.skipped[0]
    assert feed.repaired == []


def test_items_after_a_left_out_item_keep_their_position_in_the_feed():
    body = _replaced(DAY.read_bytes(), b"</title>\n      <link>https://arxiv.org/abs/2502.15315",
                     b"</titel>\n      <link>https://arxiv.org/abs/2502.15315")
    body = _replaced(body, b"<title>Do we really need the Rademacher complexities?</title>", b"<title></title>")
    feed = parse_feed(body)
    assert len(feed.papers) == 5
    assert feed.skipped[0].startswith("item 2: 2502.15315: not well-formed XML (mismatched tag")
    assert feed.skipped[1].startswith("item 6:") and "no title" in feed.skipped[1]


def test_repairs_and_a_left_out_item_in_the_same_feed_are_each_named_once():
    body = _replaced(DAY.read_bytes(), b"<title>Tight Clusters Make", b"<title>R&D: Tight Clusters Make")
    body = _replaced(body, b"Abstract: Advances in machine learning", b"Abstract: <i>Advances in machine learning")
    feed = parse_feed(body)
    assert len(feed.papers) == 6 and feed.papers[1].title.startswith("R&D: Tight")
    assert feed.repaired == ["2502.15315: 1 bare '&' escaped"]
    assert len(feed.skipped) == 1 and feed.skipped[0].startswith("item 3: 2502.10603: not well-formed XML")


@needs_captures
def test_an_atom_entry_broken_beyond_repair_is_left_out_and_named():
    capture = CAPTURES / "api-2026-09-24-cat-cs.CL-3results.xml"
    body = _replaced(capture.read_bytes(), b"<name>Peter Kirby</name>", b"<name>Peter Kirby</nam>")
    feed = parse_feed(body, source="api")
    assert _ids(feed) == _ids(parse_feed(capture.read_bytes()))[1:]
    assert len(feed.skipped) == 1 and feed.skipped[0].startswith("entry 1: 2609.28471: not well-formed XML")


def test_a_truncated_feed_with_a_bare_ampersand_is_still_rejected_as_truncated():
    body = _replaced(DAY.read_bytes(), b"<title>Tight Clusters Make", b"<title>R&D: Tight Clusters Make")
    with pytest.raises(FeedError, match=r"cut\.xml: the feed is not well-formed XML .*truncated"):
        parse_feed(body[: len(body) // 2], source="cut.xml")


def test_a_feed_cut_right_after_an_item_is_rejected_as_truncated():
    body = DAY.read_bytes()
    cut = body.index(b"</item>") + len(b"</item>")
    with pytest.raises(FeedError, match=r"cut\.xml: the feed is not well-formed XML .*truncated"):
        parse_feed(body[:cut], source="cut.xml")


def test_a_broken_channel_header_is_named_and_rejects_the_day():
    body = _replaced(DAY.read_bytes(), b"</language>", b"</lang>")
    with pytest.raises(FeedError, match=r"day\.xml: the feed's channel header is not well-formed XML \(mismatched tag"):
        parse_feed(body, source="day.xml")


# --- markup inside a text field ----------------------------------------------------------

def test_markup_inside_a_description_keeps_all_of_its_text():
    body = _replaced(DAY.read_bytes(), b"Abstract: Advances in machine learning methods",
                     b"Abstract: Advances in <b>machine</b> learning <i>methods</i>")
    paper = next(p for p in parse_feed(body).papers if p.arxiv_id == "2502.10603")
    assert paper.abstract == next(p for p in parse_feed(DAY.read_bytes()).papers
                                  if p.arxiv_id == "2502.10603").abstract


@needs_captures
def test_markup_inside_an_atom_title_and_summary_keeps_all_of_its_text():
    capture = CAPTURES / "api-2026-09-24-cat-cs.CL-3results.xml"
    body = _replaced(capture.read_bytes(), b"<title>Contrastive Learning for", b"<title><i>Contrastive</i> Learning for")
    body = _replaced(body, b"<summary>Our results show", b"<summary><p>Our</p> results show")
    first, clean = parse_feed(body).papers[0], parse_feed(capture.read_bytes()).papers[0]
    assert (first.title, first.abstract) == (clean.title, clean.abstract)


def test_the_digest_of_a_day_with_one_broken_item_keeps_every_other_paper_and_names_it_once(tmp_path, capsys,
                                                                                          monkeypatch):
    body = _replaced(DAY.read_bytes(), b"<title>Tight Clusters Make", b"<title>AT&T &nbsp;Tight Clusters Make")
    body = _replaced(body, b"Abstract: Advances in machine learning",
                     b"Abstract: For n<m experts, advances in machine learning")
    assert _digest_exit_code(tmp_path, monkeypatch, body) == 0
    out = capsys.readouterr()
    assert out.err.count("2502.10603") == 1 and out.err.count("2502.15315") == 1
    assert "skipped unreadable feed item: item 3: 2502.10603: not well-formed XML" in out.err
    assert "repaired the feed at 2502.15315: 1 bare '&' escaped, HTML entity &nbsp; read as its character" in out.err
    assert "papers picked for 2025-02-24" in out.out and "arXiv papers 6" in out.out


# --- a saved file as Windows, a browser or gzip wrote it -------------------------------------

def _as_written(body: bytes, how: str) -> bytes:
    """The capture as a tool writes it: PowerShell 5's `>` (UTF-16 LE with a BOM), other
    UTF-16/UTF-32 editors, gzip, or an editor that left blank lines before `<?xml`."""
    text = body.decode("utf-8")
    return {
        "utf-16-le-bom": codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        "utf-16-be-bom": codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        "utf-16-le-without-bom": ("\n" + text).encode("utf-16-le"),
        "utf-32-bom": text.encode("utf-32"),  # the platform's order, with its BOM
        "gzip": gzip.compress(body),
        "blank-lines": b"\n\n  \r\n\t" + body,
        "utf-8-bom-then-blank-line": codecs.BOM_UTF8 + b"\r\n" + body,
        "gzip-of-utf-16": gzip.compress(codecs.BOM_UTF16_LE + text.encode("utf-16-le")),
    }[how]


_WRITTEN = ["utf-16-le-bom", "utf-16-be-bom", "utf-16-le-without-bom", "utf-32-bom", "gzip", "blank-lines", "utf-8-bom-then-blank-line",
            "gzip-of-utf-16"]


def _summary(feed) -> list[tuple]:
    return [(p.arxiv_id, p.version, p.title, p.authors, p.abstract, p.announce_type) for p in feed.papers]


@needs_captures
@pytest.mark.parametrize("how", _WRITTEN)
def test_a_saved_rss_capture_reads_alike_however_it_was_written(how):
    clean = parse_feed(RSS_CAPTURE.read_bytes())
    feed = parse_feed(_as_written(RSS_CAPTURE.read_bytes(), how), source="saved.xml")
    assert (feed.date, feed.title, feed.skipped, feed.repaired) == (clean.date, clean.title, [], [])
    assert _summary(feed) == _summary(clean) and len(feed.papers) == 4


@needs_captures
@pytest.mark.parametrize("how", ["utf-16-le-bom", "gzip", "blank-lines"])
def test_a_saved_atom_capture_reads_alike_however_it_was_written(how):
    capture = (CAPTURES / "api-2026-09-24-cat-cs.CL-3results.xml").read_bytes()
    feed = parse_feed(_as_written(capture, how), source="saved.xml")
    assert _summary(feed) == _summary(parse_feed(capture)) and len(feed.papers) == 3


@needs_captures
def test_a_bad_byte_in_one_item_of_a_utf16_file_is_repaired_and_named_the_rest_kept():
    text = RSS_CAPTURE.read_bytes().decode("utf-8")
    utf16 = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    at = utf16.index("<title>Outlier Detection".encode("utf-16-le")) + len("<title>".encode("utf-16-le"))
    body = utf16[:at] + b"\x00\xdc" + utf16[at:]  # a lone low surrogate: not UTF-16
    feed = parse_feed(body, source="saved.xml")
    assert len(feed.papers) == 4 and feed.skipped == []
    assert feed.papers[2].title == "\ufffdOutlier Detection for Multi-Network Data"
    assert feed.repaired == ["2205.06398: 1 character that is not UTF-16 replaced"]


_FILE_ADVICE = "save the feed again as UTF-8 RSS or Atom"


@pytest.mark.parametrize("body, problem", [
    (_replaced(DAY.read_bytes(), b"</language>", b"</lang>"), "channel header is not well-formed XML"),
    (gzip.compress(DAY.read_bytes())[:400], "cut short"),
    (b"\x1f\x8b" + b"not gzip at all" * 10, "cannot be unpacked"),
    (DAY.read_bytes()[:4000], "truncated"),
    ((FIXTURES / "arxiv-error-page.html").read_bytes(), "HTML page"),
    (b"", "empty"),
])
def test_a_saved_file_that_cannot_be_read_is_named_with_what_to_do_for_a_file(body, problem):
    with pytest.raises(FeedError) as raised:
        parse_feed(body, source="/tmp/saved.xml")
    message = str(raised.value)
    assert message.startswith("/tmp/saved.xml: ") and problem in message and _FILE_ADVICE in message
    assert "try again later" not in message and "report the feed to arXiv" not in message


def _fetched(body: bytes):
    """fetch_feed over real HTTP from the local stand-in for rss.arxiv.org answering `body`."""
    with ArxivServer() as server:
        server.script("/rss/cs.LG", Reply(200, body))
        return fetch_feed(["cs.LG"], PoliteSession(min_interval=0, timeout=5, max_tries=1),
                          base=server.url + "/rss/")


def test_a_feed_from_the_network_that_cannot_be_read_keeps_the_network_advice():
    with pytest.raises(FeedError, match="try again later or report the feed to arXiv") as raised:
        _fetched(_replaced(DAY.read_bytes(), b"</language>", b"</lang>"))
    assert "/rss/cs.LG: the feed's channel header" in str(raised.value) and _FILE_ADVICE not in str(raised.value)


def test_a_gzipped_body_from_the_network_without_content_encoding_is_read():
    assert _summary(_fetched(gzip.compress(DAY.read_bytes()))) == _summary(parse_feed(DAY.read_bytes()))


def test_the_digest_of_a_utf16_feed_file_scores_the_day(tmp_path, capsys, monkeypatch):
    assert _digest_exit_code(tmp_path, monkeypatch, _as_written(DAY.read_bytes(), "utf-16-le-bom")) == 0
    out = capsys.readouterr()
    assert "papers picked for 2025-02-24" in out.out and "arXiv papers 7" in out.out
    assert "warning" not in out.err


def test_the_digest_of_an_unreadable_feed_file_names_it_and_says_what_to_do(tmp_path, capsys, monkeypatch):
    body = _replaced(DAY.read_bytes(), b"</language>", b"</lang>")
    assert _digest_exit_code(tmp_path, monkeypatch, body) != 0
    err = capsys.readouterr().err
    assert str(tmp_path / "day.xml") in err and _FILE_ADVICE in err and "try again later" not in err
