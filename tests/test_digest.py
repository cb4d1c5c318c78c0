"""The digest keeps the format gpt_paper_assistant users know: checked against the seed.

`tests/fixtures/digest_format.py` reads both the seed and our output with the same
regexes; a line that breaks the format fails the parse.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.digest import DayReport, Pick, render_markdown, to_json, write
from bot.models import Paper, Score
from tests.fixtures.digest_format import FIELD, SECTION, TOC_ENTRY, parse_digest

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


def test_seed_day_rendered_by_us_reads_back_field_by_field(seed):
    ours = parse_digest(render_markdown(_report_like_seed(seed)))
    assert ours.date == seed.date
    assert ours.totals == seed.totals
    for key, value in seed.table.items():  # every cell of the seed's table, same value
        assert ours.table[key] == value, key
    assert ours.tail_heading == seed.tail_heading
    assert [(t.n, t.title, t.anchor, t.authors) for t in ours.toc] == \
        [(t.n, t.title, t.anchor, t.authors) for t in seed.toc]
    assert len(ours.sections) == len(seed.sections)
    for mine, theirs in zip(ours.sections, seed.sections):
        assert (mine.n, mine.title, mine.url, mine.arxiv_id, mine.anchor) == \
            (theirs.n, theirs.title, theirs.url, theirs.arxiv_id, theirs.anchor)
        for name, value in theirs.fields.items():
            # The seed keeps the abstracts' paragraph breaks as runs of spaces; we fold all
            # whitespace to one space (so no text can start a new Markdown line).
            assert mine.fields.get(name) == " ".join(value.split()), f"section {theirs.n}, field {name}"


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

def test_local_day_has_no_token_table_but_all_totals():
    text = render_markdown(report([pick(1), pick(2)]))
    d = parse_digest(text)
    assert d.table is None
    assert "| Prompt" not in text
    assert d.totals == {"arxiv": 470, "scanned": 365, "relevant": 2}
    assert d.tail_heading == "Criteria Used"
    assert "Scorer: local:minilm; criteria version 3" in text
    assert text.rstrip().endswith("- Relevant: pruning")


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
    # Brackets in a title are escaped so the link stays one link.
    assert d.toc[0].title.startswith("Attack\\] ## 99. \\[Fake\\]")
    heading_lines = [ln for ln in text.splitlines() if TOC_ENTRY.match(ln) or SECTION.match(ln)]
    assert len(heading_lines) == 4
    assert not any(re.search(r"(?<!\\)\]\(https://evil", ln) for ln in heading_lines)  # no live link elsewhere
    assert d.sections[0].fields["Abstract"].startswith("Line one ## 5.")
    assert d.sections[1].fields["Comment"] == "comment **Novelty:** 10"
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
