"""The digest keeps the format gpt_paper_assistant users know: checked against the seed.

`tests/fixtures/digest_format.py` reads both the seed and our output with the same
regexes; a line that breaks the format fails the parse.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.digest import DayReport, Pick, render_markdown, scored_by, to_json, write
from bot.models import Paper, Score
from bot.scoring.base import Scorer
from bot.text import readable, readable_names
from tests.fixtures.digest_format import FIELD, SECTION, TOC_ENTRY, parse_digest, visible

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "fixtures" / "shared" / "seed" / "000_55ecf5fd6290fc9e.txt"  # copy of ../shared/seed
needs_seed = pytest.mark.skipif(not SEED.is_file(), reason=f"seed digest not found at {SEED}")

SEED_FIELDS_SCORED = {"ArXiv ID", "Authors", "Abstract", "Comment", "Relevance", "Novelty"}
SEED_FIELDS_AUTHOR_MATCH = {"ArXiv ID", "Authors", "Abstract", "Comment"}


def paper(n: int, **kw) -> Paper:
    base = dict(arxiv_id=f"2502.{15000 + n}", title=f"Paper number {n}", authors=[f"Author {n}", "Co Author"],
                abstract=f"We study problem {n}.", categories=["cs.LG", "cs.AI"])
    base.update(kw)
    return Paper(**base)


def pick(n: int, rel: int = 8, nov: int = 6, comment: str = "", match=None, **kw) -> Pick:
    p = paper(n, **kw)
    return Pick(p, Score(p.arxiv_id, rel, nov, comment or f"Close to topic {n}.", raw=0.3, source="local"),
                author_match=match or [])


def report(picks, **kw) -> DayReport:
    base = dict(date="2025-02-24", n_feed=470, n_scanned=365, picks=picks, scorer="local:minilm",
                criteria_text="1. Model compression\n   - Relevant: pruning", criteria_version=3)
    base.update(kw)
    return DayReport(**base)


LLM_USAGE = {"model": "gpt-4o", "prompt_tokens": 37854, "cached_tokens": 1024, "completion_tokens": 5611,
             "prompt_cost": 0.0946, "completion_cost": 0.0561, "cost": 0.1507}


# --- the seed and our output, read with the same regexes --------------------------------

@needs_seed
def test_seed_parses_with_our_regexes():
    seed = parse_digest(SEED.read_text(encoding="utf-8"))
    assert seed.date == "02/24/2025"
    assert seed.totals == {"arxiv": 467, "scanned": 284, "relevant": 29}
    assert seed.table["model"] == "gpt-4o" and seed.table["token_total"] == "43465"
    assert len(seed.toc) == len(seed.sections) == 29
    assert seed.tail_heading == "Paper Selection Prompt"


@pytest.fixture(scope="module")
def seed():
    if not SEED.is_file():
        pytest.skip(f"seed digest not found at {SEED}")
    return parse_digest(SEED.read_text(encoding="utf-8"))


def _report_like_seed(seed) -> DayReport:
    picks = []
    for s in seed.sections:
        f = s.fields
        p = Paper(arxiv_id=f["ArXiv ID"], title=s.title, authors=f["Authors"].split(", "), abstract=f["Abstract"])
        if f["Comment"] == "Author match":
            picks.append(Pick(p, Score(p.arxiv_id, 10, 10, "", source="author"), author_match=["Yoshua Bengio"]))
        else:
            picks.append(Pick(p, Score(p.arxiv_id, int(f["Relevance"]), int(f["Novelty"]), f["Comment"], source="llm")))
    usage = {"model": seed.table["model"], "prompt_tokens": int(seed.table["token_prompt"]),
             "completion_tokens": int(seed.table["token_completion"]), "cached_tokens": 0,
             "prompt_cost": float(seed.table["cost_prompt"][1:]),
             "completion_cost": float(seed.table["cost_completion"][1:]), "cost": float(seed.table["cost_total"][1:])}
    return DayReport(date="2025-02-24", n_feed=seed.totals["arxiv"], n_scanned=seed.totals["scanned"], picks=picks,
                     scorer="openai:gpt-4o", criteria_text="criteria", criteria_version=1, usage=usage,
                     prompt_text="## Relevant Topics\n...")


def _seen_from_raw(name: str, raw: str) -> str:
    """What a reader should see for a raw feed value the seed printed as is."""
    if name == "Authors":
        return ", ".join(readable_names(raw.split(", ")))
    return readable(raw, 10_000)


def test_seed_day_rendered_by_us_reads_back_field_by_field(seed):
    ours = parse_digest(render_markdown(_report_like_seed(seed)))
    assert ours.date == seed.date
    assert ours.totals == seed.totals
    for key, value in seed.table.items():  # every cell of the seed's table, same value
        assert ours.table[key] == value, key
    assert ours.tail_heading == seed.tail_heading
    # The seed printed titles and names raw; ours read as the feed meant them (LaTeX as
    # Unicode), and as the seed's text where it had no LaTeX.
    assert [(t.n, visible(t.title), t.anchor, visible(t.authors)) for t in ours.toc] == \
        [(t.n, _seen_from_raw("Title", t.title), t.anchor, _seen_from_raw("Authors", t.authors)) for t in seed.toc]
    assert len(ours.sections) == len(seed.sections)
    for mine, theirs in zip(ours.sections, seed.sections):
        assert (mine.n, visible(mine.title), mine.url, mine.arxiv_id, mine.anchor) == \
            (theirs.n, _seen_from_raw("Title", theirs.title), theirs.url, theirs.arxiv_id, theirs.anchor)
        for name, value in theirs.fields.items():
            # The seed keeps the abstracts' paragraph breaks as runs of spaces; we fold all
            # whitespace to one space (so no text can start a new Markdown line).
            assert visible(mine.fields.get(name)) == _seen_from_raw(name, value), f"section {theirs.n}, field {name}"


def test_seed_latex_reads_as_unicode_in_our_rendering(seed):
    text = render_markdown(_report_like_seed(seed))
    ours = parse_digest(text)
    assert "Sören Mindermann" in visible(ours.toc[0].authors)
    assert "Sören Mindermann" in visible(ours.sections[0].fields["Authors"])
    assert visible(ours.sections[14].title).startswith("Fréchet Cumulative Covariance Net")
    abstract = visible(ours.sections[14].fields["Abstract"])
    assert "dimension reduction, which constructs" in abstract  # the \citep{...} is dropped
    assert "at the σ-field level" in abstract and "Fréchet Cumulative Covariance (FCCov)" in abstract
    assert "saves 55% memory" in visible(ours.sections[12].fields["Abstract"])
    assert "\\\"o" not in text and "\\'e" not in text and "\\%" not in text


def test_our_field_names_cover_the_seeds(seed):
    ours = parse_digest(render_markdown(report([pick(1, match=["Yoshua Bengio"]), pick(2), pick(3)])))
    seed_sets = {frozenset(s.fields) for s in seed.sections}
    assert seed_sets == {frozenset(SEED_FIELDS_SCORED), frozenset(SEED_FIELDS_AUTHOR_MATCH)}
    for s in ours.sections:
        assert SEED_FIELDS_SCORED <= set(s.fields)  # an author match still shows its scores
    assert ours.sections[0].fields["Comment"] == "Author match"
    assert ours.sections[0].fields["Matched authors"] == "Yoshua Bengio"
    assert "Matched authors" not in ours.sections[1].fields


# --- our own rendering ------------------------------------------------------------------

def test_local_day_shows_the_table_as_local_model_and_no_cost():
    text = render_markdown(report([pick(1), pick(2)]))
    d = parse_digest(text)
    assert d.table == {"model": "local model", "token_prompt": "0", "token_completion": "0", "token_total": "0",
                       "cost_prompt": "$0.00", "cost_completion": "$0.00", "cost_total": "$0.00"}
    assert d.totals == {"arxiv": 470, "scanned": 365, "relevant": 2}
    assert d.tail_heading == "Criteria Used"
    assert "Scorer: the local ranker; criteria version 3" in text
    assert text.rstrip().endswith("- Relevant: pruning\n```")  # the criteria, verbatim in a fence


def test_llm_day_has_the_token_and_cost_table():
    d = parse_digest(render_markdown(report([pick(1)], usage=LLM_USAGE, prompt_text="PROMPT")))
    assert d.table == {"model": "gpt-4o", "token_prompt": "37854", "token_completion": "5611", "token_total": "43465",
                       "cached_cached": "1024", "cached_total": "1024",
                       "cost_prompt": "$0.09", "cost_completion": "$0.06", "cost_total": "$0.15"}
    assert d.tail_heading == "Paper Selection Prompt"


def test_unknown_cost_says_unknown():
    usage = dict(LLM_USAGE, prompt_cost=None, completion_cost=None, cost=None)
    d = parse_digest(render_markdown(report([pick(1)], usage=usage)))
    assert (d.table["cost_prompt"], d.table["cost_total"]) == ("unknown", "unknown")


def test_header_line_uses_month_day_year():
    assert render_markdown(report([], date="2026-09-04")).splitlines()[0] == \
        "# Personalized Daily Arxiv Papers 09/04/2026"


def test_sections_fields_and_links():
    text = render_markdown(report([pick(1, rel=9, nov=7, comment="Prunes KV caches."),
                                   pick(2, announce_type="cross", categories=["stat.ML"])]))
    d = parse_digest(text)
    assert [(t.n, t.anchor, t.title) for t in d.toc] == [(1, 1, "Paper number 1"), (2, 2, "Paper number 2")]
    assert d.toc[0].authors == "Author 1, Co Author"
    s1, s2 = d.sections
    assert (s1.n, s1.anchor, s1.arxiv_id, s1.url) == (1, 1, "2502.15001", "https://arxiv.org/abs/2502.15001")
    assert s1.fields["ArXiv ID"] == "2502.15001"
    assert s1.fields["Abstract"] == "We study problem 1."
    assert s1.fields["Comment"] == "Prunes KV caches."
    assert (s1.fields["Relevance"], s1.fields["Novelty"]) == ("9", "7")
    assert "[PDF](https://arxiv.org/pdf/2502.15001) | Categories: cs.LG, cs.AI" in text
    assert "Announce type: cross" in text and text.count("Announce type:") == 1


def test_empty_day_renders_zero_picks():
    d = parse_digest(render_markdown(report([], n_feed=0, n_scanned=0)))
    assert d.totals == {"arxiv": 0, "scanned": 0, "relevant": 0}
    assert d.toc == [] and d.sections == []


def test_notes_are_quoted():
    text = render_markdown(report([pick(1)], notes=["Scored by the local ranker."]))
    assert "> Scored by the local ranker." in text


def test_outside_text_cannot_break_the_structure():
    evil_title = "Attack]\n## 99. [Fake](https://evil.example) <a id=\"link99\"></a>\n<script>x</script>"
    evil_abstract = "Line one\n\n## 5. [Injected](https://evil.example)\n**Relevance:** 10 <img src=x>"
    picks = [pick(1, title=evil_title, abstract=evil_abstract, authors=["Eve <eve@example.com>", "A [B]"]),
             pick(2, comment="comment\n**Novelty:** 10")]
    text = render_markdown(report(picks))
    d = parse_digest(text)
    assert [s.n for s in d.sections] == [1, 2] and len(d.toc) == 2
    assert all(s.url.startswith("https://arxiv.org/abs/") for s in d.sections)
    assert "<script>" not in text and "<img" not in text and "<eve@" not in text
    assert "&lt;script&gt;" in text
    # Brackets in a title are escaped so the link stays one link; the reader sees them.
    assert visible(d.toc[0].title).startswith("Attack] ## 99. [Fake](https://evil.example)")
    heading_lines = [ln for ln in text.splitlines() if TOC_ENTRY.match(ln) or SECTION.match(ln)]
    assert len(heading_lines) == 4
    assert not any(re.search(r"(?<!\\)\]\(https://evil", ln) for ln in heading_lines)  # no live link elsewhere
    assert visible(d.sections[0].fields["Abstract"]).startswith("Line one ## 5.")
    assert visible(d.sections[1].fields["Comment"]) == "comment **Novelty:** 10"
    assert d.sections[1].fields["Novelty"] == "6"  # the real field, not the injected one
    assert sum(1 for ln in text.splitlines() if SECTION.match(ln)) == 2


def test_every_bold_line_is_a_known_field():
    text = render_markdown(report([pick(1, match=["A"]), pick(2)], usage=LLM_USAGE))
    names = {m.group("name") for ln in text.splitlines() if (m := FIELD.match(ln))}
    assert names - {"Table of contents with paper titles"} <= {"Authors", "ArXiv ID", "Abstract", "Comment", "Matched authors", "Why", "Relevance", "Novelty"}


# --- JSON twin and writing -------------------------------------------------------------

def test_json_twin_matches_the_markdown():
    r = report([pick(1, match=["Yoshua Bengio"]), pick(2, rel=9, nov=4)], usage=LLM_USAGE)
    js = to_json(r)
    assert js["date"] == "2025-02-24"
    assert js["totals"] == {"arxiv_papers": 470, "scanned": 365, "relevant": 2}
    assert js["scorer"] == "local:minilm" and js["criteria_version"] == 3
    assert js["usage"]["prompt_tokens"] == 37854
    first, second = js["papers"]
    assert (first["rank"], first["comment"], first["author_match"]) == (1, "Author match", ["Yoshua Bengio"])
    assert (second["rank"], second["relevance"], second["novelty"]) == (2, 9, 4)
    assert second["url"] == "https://arxiv.org/abs/2502.15002" and second["authors"] == ["Author 2", "Co Author"]
    json.dumps(js)  # serialisable as is


def test_write_is_atomic_and_repeatable(tmp_path):
    r = report([pick(1), pick(2)])
    md, js = write(r, tmp_path / "digests")
    assert (md.name, js.name) == ("2025-02-24.md", "2025-02-24.json")
    first = (md.read_bytes(), js.read_bytes())
    assert parse_digest(md.read_text(encoding="utf-8")).totals["relevant"] == 2
    assert json.loads(js.read_text(encoding="utf-8"))["papers"][1]["arxiv_id"] == "2502.15002"
    write(r, tmp_path / "digests")
    assert (md.read_bytes(), js.read_bytes()) == first
    assert sorted(p.name for p in (tmp_path / "digests").iterdir()) == ["2025-02-24.json", "2025-02-24.md"]


def test_write_keeps_unicode_readable(tmp_path):
    r = report([pick(1, title="Schrödinger bridges", authors=["Sören Mindermann"])])
    md, js = write(r, tmp_path)
    assert "Schrödinger bridges" in md.read_text(encoding="utf-8")
    assert "Sören Mindermann" in js.read_text(encoding="utf-8")


# --- hostile papers: LaTeX, bidi, 10 KB, live links, in Markdown, JSON and Slack ---------

INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\u061c\u2060\ufeff\u00ad\x00-\x08\x0b-\x1f\x7f]")
EVIL_LINKS = ("Click [x](javascript:alert(1)) or ![i](data:image/png;base64,AAAA) <img src=x onerror=alert(1)> "
              "<script>alert(1)</script> <!channel> <https://evil.example|trusted> <javascript:alert(3)> "
              "www.evil.example and https://evil.example/p `code` *bold* _it_ ~~gone~~ | a | b | costs $5 #1")


def hostile_picks() -> list[Pick]:
    return [
        pick(1, title=r"Fr\'echet Nets for S\"oren", authors=[r"S\"oren Mindermann", r"P{\aa}l Halvorsen"],
             abstract=r"We use $\alpha$-divergence and save 55\% memory.", match=["Yoshua Bengio"]),
        pick(2, title="Invoice \u202egpj.exe\u202c review", authors=["Eve\u200b Hidden", "\u2066Mallory\u2069"],
             abstract="Left\u200fright \u202aembedded\u202c text\ufeff.", comment="Bidi \u202etxet\u202c here"),
        pick(3, title="Long title word " * 700, authors=[f"Author {i}" for i in range(300)], abstract="abstract " * 3000),
        pick(4, title="[x](javascript:alert(1)) <img src=x> <!channel>", abstract=EVIL_LINKS,
             comment="see <javascript:alert(1)> [y](javascript:alert(2))", pdf_url="javascript:alert(1)"),
        pick(5, pdf_url="http://arxiv.org/pdf/2502.15005v2"),
    ]


class _Tags(__import__("html.parser").parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _github_html(markdown: str) -> list[tuple[str, dict]]:
    """The digest as GitHub renders it (cmark-gfm with its extensions, raw HTML kept as
    GitHub keeps it before its own sanitiser), as a list of tags."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    parser = _Tags()
    parser.feed(cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE))
    return parser.tags


def test_hostile_text_is_inert_in_the_rendered_markdown():
    picks = hostile_picks()
    tags = _github_html(render_markdown(report(picks)))
    ours = {f"https://arxiv.org/abs/{pk.paper.arxiv_id}" for pk in picks} | \
        {f"https://arxiv.org/pdf/{pk.paper.arxiv_id}" for pk in picks} | \
        {f"#user-content-link{i}" for i in range(1, len(picks) + 1)} | {"https://arxiv.org/pdf/2502.15005v2"}
    hrefs = [a["href"] for t, a in tags if t == "a" and "href" in a]
    assert set(hrefs) <= ours, set(hrefs) - ours
    assert [a for t, a in tags if t == "a" and "href" not in a] == [{"id": f"link{i}"} for i in range(1, 6)]
    names = {t for t, _ in tags}
    assert names <= {"h1", "h2", "p", "a", "strong", "em", "ol", "li", "hr", "blockquote", "pre", "code",
                     "table", "thead", "tbody", "tr", "th", "td"}, names
    assert sum(t == "em" for t, _ in tags) == len(picks) + 1  # only our "Scored by" lines and the table's model
    assert sum(t == "code" for t, _ in tags) == 1  # only the criteria's fence
    assert not any("javascript:" in v or "data:" in v for _, a in tags for v in a.values() if v)


def test_hostile_text_reads_right_in_markdown_and_json():
    r = report(hostile_picks())
    text = render_markdown(r)
    blob = json.dumps(to_json(r), ensure_ascii=False)
    d, js = parse_digest(text), to_json(r)["papers"]
    assert not INVISIBLE.search(text) and not INVISIBLE.search(blob)
    assert visible(d.sections[0].title) == js[0]["title"] == "Fréchet Nets for Sören"
    assert visible(d.sections[0].fields["Authors"]) == "Sören Mindermann, Pål Halvorsen"
    assert js[0]["authors"] == ["Sören Mindermann", "Pål Halvorsen"]
    assert visible(d.sections[0].fields["Abstract"]) == js[0]["abstract"] == "We use α-divergence and save 55% memory."
    assert js[1]["title"] == "Invoice gpj.exe review" and js[1]["authors"] == ["Eve Hidden", "Mallory"]
    assert js[1]["comment"] == "Bidi txet here"
    long_title = visible(d.sections[2].title)
    assert long_title == js[2]["title"] and len(long_title) <= 300 and long_title.endswith("…")
    assert len(js[2]["abstract"]) <= 2500 and js[2]["abstract"].endswith("…")
    authors_line = visible(d.sections[2].fields["Authors"])
    assert authors_line.endswith("et al. (300 authors)") and len(authors_line) < 1000
    assert len(js[2]["authors"]) == 300  # the machine twin keeps every name
    assert visible(d.sections[3].fields["Abstract"]) == js[3]["abstract"] == EVIL_LINKS
    assert len(text) < 20_000
    assert [pk.shown() for pk in r.picks] == [pk.shown().shown() for pk in r.picks]  # safe to apply twice


ESCAPED_LATEX = [r"\$x$ and more", r"\textbackslash{}alpha", r"\{x\} and \{BERT\}", r"\$\alpha\$ at 5\%",
                 r"\cite{a\textbackslash{}}5 costs \$5 and \$10", r"S\"oren \_\$\\{\}"]


def test_a_pick_shown_twice_is_the_pick_shown_once():
    """Slack may be handed picks the digest already showed: their text is not read again, so
    escaped dollars, braces and backslashes shown as written never become LaTeX."""
    picks = [pick(i, title=t, authors=[t], abstract=t, comment=t) for i, t in enumerate(ESCAPED_LATEX, 1)]
    once = [pk.shown() for pk in picks]
    assert [pk.shown() for pk in once] == once
    assert once[0].paper.title == "$x$ and more"
    assert once[2].paper.abstract == "{x} and {BERT}"
    assert once[4].score.comment == "5 costs $5 and $10"
    assert once[5].paper.authors == ["Sören _$ {}"]  # the `\\` is a LaTeX line break


def test_pdf_url_has_one_source_of_truth():
    r = report(hostile_picks())
    text = render_markdown(r)
    papers = to_json(r)["papers"]
    expected = ["https://arxiv.org/pdf/2502.15001", "https://arxiv.org/pdf/2502.15002",
                "https://arxiv.org/pdf/2502.15003", "https://arxiv.org/pdf/2502.15004",  # javascript: refused
                "https://arxiv.org/pdf/2502.15005v2"]  # the feed's versioned link, as https
    assert [p["pdf_url"] for p in papers] == expected
    assert re.findall(r"\[PDF\]\(([^)]+)\)", text) == expected
    assert [pk.paper.pdf_link for pk in r.picks] == expected


SOURCES = [  # Score.source, author match?, the day's scorer -> what the digest says
    ("local", False, "local:minilm", "Scored by the local ranker"),
    ("local", False, "local:minilm+taste", "Scored by the local ranker + the team's taste model"),
    ("local", True, "local:minilm", "Picked: author match (Yoshua Bengio)"),
    ("author", True, "openai:gpt-5.4-nano", "Picked: author match (Yoshua Bengio)"),
    ("llm", False, "openai:gpt-5.4-nano", "Scored by gpt-5.4-nano"),
    ("local-fallback", False, "openai:gpt-5.4-nano", "Scored by the local ranker (the LLM call failed)"),
    ("local-budget", False, "openai:gpt-5.4-nano", "Scored by the local ranker (the daily LLM budget was reached)"),
    ("local-below-cut", False, "openai:gpt-5.4-nano", "Scored by the local ranker (below the cut sent to gpt-5.4-nano)"),
]


@pytest.mark.parametrize("source, matched, scorer, words", SOURCES)
def test_scored_by_line_says_it_in_words(source, matched, scorer, words):
    pk = pick(1, match=["Yoshua Bengio"] if matched else None)
    pk.score.source = source
    r = report([pk], scorer=scorer)
    assert scored_by(pk, r) == words
    text = render_markdown(r)
    assert f"*{words}*" in text
    assert not re.search(r"\*Scored by (local|author|llm|local-fallback)\*", text)
    assert to_json(r)["papers"][0]["scored_by"] == words


def _slack_strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _slack_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _slack_strings(v)]
    return [node] if isinstance(node, str) else []


def test_hostile_papers_in_slack_are_readable_valid_and_inert():
    from slack_sdk.models.blocks import Block

    from bot.slack.blocks import paper_text, parent_blocks, render_paper_blocks

    r = report(hostile_picks())
    messages = [parent_blocks(r)] + [render_paper_blocks(pk, rank=i) for i, pk in enumerate(r.picks, 1)]
    for blocks in messages:
        for b in blocks:
            Block.parse(b).validate_json()  # Slack's own limits (header, section, button)
    strings = [s for m in messages for s in _slack_strings(m)] + [paper_text(pk) for pk in r.picks]
    assert not any(INVISIBLE.search(s) for s in strings)
    joined = "\n".join(strings)
    assert "Fréchet Nets for Sören" in joined and "Sören Mindermann, Pål Halvorsen" in joined
    assert "Invoice gpj.exe review" in joined and "\\'" not in joined and '\\"' not in joined
    assert "<!channel>" not in joined and "&lt;!channel&gt;" in joined
    # Every `<` left in mrkdwn opens a link we made, to arXiv.
    assert set(re.findall(r"<([^|>]*)", joined)) <= {f"https://arxiv.org/abs/{pk.paper.arxiv_id}" for pk in r.picks}
    buttons = [e["url"] for m in messages for b in m if b["type"] == "actions" for e in b["elements"] if "url" in e]
    assert buttons == [p["pdf_url"] for p in to_json(r)["papers"]]


def test_a_title_of_invisible_characters_is_shown_as_its_arxiv_id_everywhere():
    """Markdown, JSON and Slack show the same non-empty title: no empty link label."""
    from bot.slack.blocks import paper_text, parent_blocks, render_paper_blocks

    r = report([pick(1, title="\u202e\u200b"), pick(2, title="\\cite{x} \ufeff")])
    md, papers = render_markdown(r), to_json(r)["papers"]
    slack = _slack_strings([parent_blocks(r)] + [render_paper_blocks(pk, rank=i) for i, pk in enumerate(r.picks, 1)])
    for pk, shown in zip(r.picks, papers):
        expected = f"arXiv {pk.paper.arxiv_id}"
        assert pk.shown().paper.title == shown["title"] == expected
        assert f"[{expected}]({pk.paper.abs_url})" in md
        assert any(f"<{pk.paper.abs_url}|{expected}>" in s for s in slack)
        assert paper_text(pk).startswith(expected)
    assert not any(f"{p.paper.abs_url}|>" in s for p in r.picks for s in slack)


def test_other_slack_texts_with_titles_read_the_same():
    """Everywhere else Slack shows outside text: no bidi controls (mrkdwn.safe), and titles
    read as in the thread (the vote confirmation, /stats)."""
    from bot.feedback import VoteChange
    from bot.slack.listeners.actions.vote_buttons import confirmation
    from bot.slack.mrkdwn import safe
    from bot.slack.stats import DayFigures, TeamStats, stats_lines

    assert safe("user\u202e name\u200b <!here>", 100) == "user name &lt;!here&gt;"
    title = r"Fr\'echet Nets for S\"oren" + " \u202e"
    said = confirmation(title, "2502.15001", VoteChange("2502.15001", "U1", 0, 1))
    assert "Fréchet Nets for Sören" in said and not INVISIBLE.search(said)
    lines = stats_lines(TeamStats(days=[DayFigures("2025-02-24", 3, 1, 0)], up=1, voters=1,
                                  top_papers=[("2502.15001", title, 1)]))
    assert any("|Fréchet Nets for Sören>" in ln for ln in lines)


def test_a_title_of_invisible_characters_is_named_by_its_id_in_stats_and_vote_confirmations():
    from bot.feedback import VoteChange
    from bot.slack.listeners.actions.vote_buttons import confirmation
    from bot.slack.stats import DayFigures, TeamStats, stats_lines

    blank = "\u202e\u200b"
    said = confirmation(blank, "2502.15001", VoteChange("2502.15001", "U1", 0, 1))
    assert "*arXiv 2502.15001*" in said
    lines = stats_lines(TeamStats(days=[DayFigures("2025-02-24", 3, 1, 0)], up=1, voters=1,
                                  top_papers=[("2502.15001", blank, 1)]))
    assert any("<https://arxiv.org/abs/2502.15001|arXiv 2502.15001>" in ln for ln in lines)
    assert not any("|>" in ln for ln in lines)


def _hostile_feed(path: Path) -> Path:
    """An arXiv RSS day of hostile items, as the feed would carry them."""
    from xml.sax.saxutils import escape

    items = []
    for pk in hostile_picks()[:4]:
        p = pk.paper
        items.append(f"""<item><title>{escape(p.title)}</title><link>https://arxiv.org/abs/{p.arxiv_id}</link>
<description>arXiv:{p.arxiv_id}v1 Announce Type: new
Abstract: {escape(p.abstract)}</description><guid isPermaLink="false">oai:arXiv.org:{p.arxiv_id}v1</guid>
<category>cs.LG</category><pubDate>Mon, 24 Feb 2025 00:00:00 -0500</pubDate>
<arxiv:announce_type>new</arxiv:announce_type><dc:creator>{escape(", ".join(p.authors))}</dc:creator></item>""")
    path.write_text(f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
<channel><title>cs.LG updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG</link>
<description>cs.LG updates</description><pubDate>Mon, 24 Feb 2025 00:00:00 -0500</pubDate>
{"".join(items)}</channel></rss>""", encoding="utf-8")
    return path


class _EveryPaperRelevant(Scorer):
    """A scorer that keeps every paper, so each hostile item reaches the digest."""

    name = "local:test"

    def score(self, papers, criteria, date, progress=None, save=None):
        from bot.scoring.base import ScoringResult

        return ScoringResult({p.arxiv_id: Score(p.arxiv_id, 9, 5, f"Close to {p.title}", raw=0.5) for p in papers})


def test_sample_pipeline_with_hostile_feed_writes_readable_inert_digests(tmp_path, monkeypatch):
    from bot.config import load_settings
    from bot.db import open_db
    from bot.pipeline import run_day
    from bot.slack.blocks import render_paper_blocks
    from slack_sdk.models.blocks import Block

    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    settings = load_settings().override(
        storage__digest_dir=str(tmp_path / "digests"), storage__database=str(tmp_path / "day.sqlite"),
        ranking__authors=["Yoshua Bengio"], ranking__min_relevance=7, ranking__min_novelty=1,
        ranking__max_papers=30, ranking__criteria_file="prompts/criteria.txt", arxiv__enrich=False,
        arxiv__announce_types=["new"])
    outcome = run_day(settings, open_db(settings["storage.database"]), feed_file=_hostile_feed(tmp_path / "feed.xml"),
                      scorer=_EveryPaperRelevant())
    md_path, js_path = outcome.paths
    text, js = md_path.read_text(encoding="utf-8"), json.loads(js_path.read_text(encoding="utf-8"))
    assert len(js["papers"]) == 4 and not INVISIBLE.search(text + json.dumps(js, ensure_ascii=False))
    by_id = {p["arxiv_id"]: p for p in js["papers"]}
    assert by_id["2502.15001"]["title"] == "Fréchet Nets for Sören"
    assert by_id["2502.15001"]["authors"] == ["Sören Mindermann", "Pål Halvorsen"]
    assert by_id["2502.15002"]["title"] == "Invoice gpj.exe review"
    assert len(by_id["2502.15003"]["title"]) <= 300
    assert all(p["pdf_url"] == f"https://arxiv.org/pdf/{p['arxiv_id']}" for p in js["papers"])
    assert all(p["scored_by"] == "Scored by the local ranker" for p in js["papers"])
    hrefs = {a["href"] for t, a in _github_html(text) if t == "a" and "href" in a}
    assert all(h.startswith(("https://arxiv.org/", "#user-content-link")) for h in hrefs), hrefs
    assert parse_digest(text).table["model"] == "local model"
    for pk in outcome.report.picks:
        for b in render_paper_blocks(pk):
            Block.parse(b).validate_json()


def test_cli_digest_prints_hostile_titles_readable_and_inert(tmp_path, monkeypatch, capsys):
    from bot import cli

    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    team = tmp_path / "team.toml"
    team.write_text(f'[storage]\ndatabase = "{tmp_path / "day.sqlite"}"\ndigest_dir = "{tmp_path / "digests"}"\n'
                    '[ranking]\nmin_relevance = 1\nmin_novelty = 1\n[arxiv]\nenrich = false\n', encoding="utf-8")
    feed = _hostile_feed(tmp_path / "feed.xml")
    assert cli.main(["--settings", str(team), "digest", "--rss", str(feed), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Fréchet Nets for Sören" in out and "Invoice gpj.exe review" in out
    assert not INVISIBLE.search(out)
    assert max(len(ln) for ln in out.splitlines() if ". [" in ln) < 130  # the 10 KB title is cut


@pytest.mark.parametrize("scorer, words", [
    ("local:minilm", "the local ranker"),
    ("local:minilm+taste", "the local ranker + the team's taste model"),
    ("openai:gpt-5.4-nano", "gpt-5.4-nano"),
    ("local:minilm (the LLM calls failed)", "the local ranker (the LLM calls failed)"),
    ("openai:gpt-5.4-nano and local:minilm (2 of 9 picks ranked locally: the LLM calls failed)",
     "gpt-5.4-nano and the local ranker (2 of 9 picks ranked locally: the LLM calls failed)"),
])
def test_the_digest_names_the_scorer_in_words_and_the_json_keeps_the_id(scorer, words):
    r = report([pick(1)], scorer=scorer)
    header = next(line for line in render_markdown(r).splitlines() if line.startswith("Scorer: "))
    assert header == f"Scorer: {words}; criteria version 3"
    assert "local:" not in header and "openai:" not in header
    js = to_json(r)
    assert (js["scorer"], js["scorer_words"]) == (scorer, words)
