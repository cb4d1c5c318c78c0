"""bot.text: outside text as readers see it, in the digest and in Slack.

The LaTeX table covers what the real captures carry (`data/samples/2025-02-24.xml`, the
feeds in tests/fixtures/shared/feeds, the seed digest): `test_every_accent_in_the_sample_feed_converts`
reads the sample day itself, so a form that appears there and is not converted fails.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from bot.feed import parse_feed
from bot.text import (ELLIPSIS, TITLE_CHARS, author_line, clip, latex_to_unicode, one_line,
                      readable, readable_names, shown_title, strip_invisible)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DAY = ROOT / "data" / "samples" / "2025-02-24.xml"

NAMES = [  # as arXiv's feed writes them -> as a reader should see them
    (r"S\"oren Mindermann", "Sören Mindermann"),
    (r"P{\aa}l Halvorsen", "Pål Halvorsen"),
    (r"Salom\'e Lepers", "Salomé Lepers"),
    (r"Dilek Hakkani-T\"ur", "Dilek Hakkani-Tür"),
    (r"Pavel \v{S}uma", "Pavel Šuma"),
    (r"Ji\v{r}\'i Matas", "Jiří Matas"),
    (r"Ond\v{r}ej Chum", "Ondřej Chum"),
    (r"Nicolas Long\'ep\'e", "Nicolas Longépé"),
    (r"\'Eloi Zablocki", "Éloi Zablocki"),
    (r"Kajsa M{\o}llersen", "Kajsa Møllersen"),
    (r"Sophie Kerga{\ss}ner", "Sophie Kergaßner"),
    (r"Erdi Sar{\i}ta\c{s}", "Erdi Sarıtaş"),
    (r"Ziya Ata Yaz{\i}c{\i}", "Ziya Ata Yazıcı"),
    (r"Marcin K\k{a}dzio{\l}ka", "Marcin Kądziołka"),
    (r"Przemys{\l}aw Spurek", "Przemysław Spurek"),
    (r"Sercan \"O Ar{\i}k", "Sercan Ö Arık"),
    (r"Augusto B. Corr\^ea", "Augusto B. Corrêa"),
    (r"\'Alvaro Garc\'ia-Mart\'in", "Álvaro García-Martín"),
    (r"Jos{\"o}", "Jos" + "ö"),
    (r"Ren\'{e} Vidal", "René Vidal"),
    (r"Fran\c{c}ois Fleuret", "François Fleuret"),
    (r"Jos\'{\i}as", "Josías"),
    (r"Mart\'\i n Ruiz", "Martín Ruiz"),  # the space ends the control word \i
    (r"Pe\~na", "Peña"),
    (r"Paul Erd\H{o}s", "Paul Erdős"),
    (r"\L{}ukasz Kaiser", "Łukasz Kaiser"),
    (r"Bj\o rn", "Bjørn"),
    ("Yoshua Bengio", "Yoshua Bengio"),
]

TITLES = [
    (r"Fr\'echet Cumulative Covariance Net", "Fréchet Cumulative Covariance Net"),
    (r"Finding Local Diffusion Schr\"odinger Bridge", "Finding Local Diffusion Schrödinger Bridge"),
    (r"\textsc{FLAG-Trader}: Fusion LLM-Agent", "FLAG-Trader: Fusion LLM-Agent"),
    (r"Mesh Reconstruction with 360$^\circ$ Cameras", "Mesh Reconstruction with 360° Cameras"),
    (r"SalM$2$: An Extremely Lightweight Saliency Mamba", "SalM2: An Extremely Lightweight Saliency Mamba"),
    (r"a novel minimax $p$-th order concave penalty", "a novel minimax p-th order concave penalty"),
    (r"$\alpha$-divergence and $\beta$-VAE", "α-divergence and β-VAE"),
    (r"Bounds for $d\ge3$ when $\epsilon\to 0$", "Bounds for d≥3 when ε→ 0"),
    (r"models ($\leq$3B parameters) at 640$\times$480", "models (≤3B parameters) at 640×480"),
    (r"NATURAL PLAN ($\sim$8\%$\uparrow$)", "NATURAL PLAN (∼8%↑)"),
    (r"An $O(n^2)$ algorithm and $\mathcal{O}(\log n)$ queries", "An O(n²) algorithm and O(log n) queries"),
    (r"saves 55\% memory, input\&output", "saves 55% memory, input&output"),
    (r"\textbf{more than 15\%} of \textit{human-ness}", "more than 15% of human-ness"),
    (r"{\em emphasis} and {\bf bold}", "emphasis and bold"),
    (r"reduction\citep{libing_generalSDR}, which", "reduction, which"),
    (r"code at~\url{https://github.com/x/y}", "code at https://github.com/x/y"),
    (r"see \href{https://example.org/code}{our code}", "see our code (https://example.org/code)"),
    (r"\textbf{\textit{nested}} formatting", "nested formatting"),
    (r"\textcolor{blue}{styled}", "styled"),
    (r"``quoted'' words", "“quoted” words"),
    (r"Q\&A with {BERT}", "Q&A with BERT"),
]

LEFT_AS_WRITTEN = [  # not LaTeX we know: never dropped or mangled
    r"\modelname beats the baseline",
    "costs $5 and $10 per run",
    "50% accuracy, 20% faster",
    "~100 GPUs",
    "Q&A & retrieval",
    r"the \"best\" model",  # not an accent a letter takes: stays
    "C:\\Users\\me",
    "sets {1,2,3} and {a, b}",
    "x_i and y^2",
    "<img src=x> [x](javascript:alert(1))",  # markup is the renderers' job, not this one's
]


@pytest.mark.parametrize("raw, shown", NAMES)
def test_names_read_as_unicode(raw, shown):
    assert readable(raw, 100) == shown


@pytest.mark.parametrize("raw, shown", TITLES)
def test_titles_read_as_unicode(raw, shown):
    assert readable(raw, TITLE_CHARS) == shown


@pytest.mark.parametrize("raw", LEFT_AS_WRITTEN)
def test_unknown_text_is_left_as_written(raw):
    assert latex_to_unicode(raw) == raw


def test_converting_twice_changes_nothing_more():
    for raw, shown in NAMES + TITLES:
        assert readable(shown, TITLE_CHARS) == shown


def test_every_accent_in_the_sample_feed_converts():
    """No accent command or special letter of the real sample day survives in a name or title."""
    feed = parse_feed(SAMPLE_DAY.read_bytes(), source=str(SAMPLE_DAY))
    leftover = re.compile(r"\\(['\"`^~=.]|[vckuHr]\{|aa|ss|[oOlLi](?![A-Za-z]))")
    names = [a for p in feed.papers for a in p.authors]
    assert sum("\\" in n for n in names) >= 20  # the sample really carries LaTeX names
    for text in names + [p.title for p in feed.papers]:
        shown = readable(text, 1000)
        assert not leftover.search(shown), (text, shown)
    assert "Pål Halvorsen" in readable_names(names)


CAPTURES = [SAMPLE_DAY, *sorted((ROOT / "tests" / "fixtures" / "shared" / "feeds").glob("*.xml"))]


def test_no_known_latex_is_left_in_the_real_captures():
    """Titles, abstracts and names of every real capture: only the unknown macros the
    authors wrote (`\\modelname`, `\\vidfor`, a stray `\\e.g.`) keep a backslash, and the
    only `$` left is money ("averaging $0.15 per case")."""
    commands, dollars = set(), []
    for path in CAPTURES:
        for p in parse_feed(path.read_bytes(), source=str(path)).papers:
            for text in [p.title, p.abstract, *p.authors]:
                shown = readable(text, 5000)
                commands |= set(re.findall(r"\\[A-Za-z]+|\\.", shown))
                dollars += re.findall(r"\$\S*", shown)
    assert commands == {"\\modelname", "\\vidfor", "\\e"}
    assert dollars == ["$0.15"]


BIDI_AND_INVISIBLE = ["\u202e", "\u202d", "\u202a", "\u202b", "\u202c", "\u200e", "\u200f", "\u2066",
                      "\u2067", "\u2068", "\u2069", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060",
                      "\ufeff", "\u00ad", "\x00", "\x07", "\x1b", "\x7f", "\x9b", "\U000e0041"]


@pytest.mark.parametrize("ch", BIDI_AND_INVISIBLE, ids=[f"U+{ord(c):04X}" for c in BIDI_AND_INVISIBLE])
def test_bidi_zero_width_and_control_characters_are_dropped(ch):
    assert strip_invisible(f"safe{ch}txt.exe") == "safetxt.exe"
    assert readable(f"Title{ch} here", 100) == "Title here"


def test_whitespace_of_any_kind_becomes_one_space():
    assert one_line("a\nb\r\nc\td\u2028e\u00a0f   g") == "a b c d e f g"
    assert strip_invisible("keeps ü, 中文, emoji 📚") == "keeps ü, 中文, emoji 📚"


def test_long_text_is_capped_with_an_ellipsis():
    title = "word " * 2000  # 10 KB
    shown = readable(title, TITLE_CHARS)
    assert len(shown) <= TITLE_CHARS and shown.endswith(ELLIPSIS)
    assert shown.startswith("word word")
    assert readable("x" * 10_000_000, 50) == "x" * 49 + ELLIPSIS  # bounded work on a huge field
    assert readable("{" * 3000, 20).endswith(ELLIPSIS)


def test_clip_cuts_at_a_word_and_never_to_nothing():
    assert clip("short", 10) == "short"
    assert clip("one two three four", 12) == "one two" + ELLIPSIS
    assert clip("abcdefghij", 5) == "abcd" + ELLIPSIS


def test_author_line_names_the_first_and_counts_the_rest():
    names = [f"Author {i}" for i in range(120)]
    line = author_line(names, keep=3)
    assert line == "Author 0, Author 1, Author 2 et al. (120 authors)"
    assert author_line(names[:3], keep=3) == "Author 0, Author 1, Author 2"


# (title as the feed carries it, what a reader sees): never an empty title or link label.
SHOWN_TITLES = [
    ("\u202e\u200b", "arXiv 2502.15001"),
    ("", "arXiv 2502.15001"),
    ("   \n\t", "arXiv 2502.15001"),
    ("\x1b\x07\ufeff\U000e0041", "arXiv 2502.15001"),
    ("\\cite{smith2020}", "arXiv 2502.15001"),  # LaTeX that shows as nothing
    ("{}", "arXiv 2502.15001"),
    ("Fr\\'echet Nets\u202e", "Fréchet Nets"),
    ("word " * 2000, readable("word " * 2000, TITLE_CHARS)),
]


@pytest.mark.parametrize("title, shown", SHOWN_TITLES, ids=[ascii(t[:12]) for t, _ in SHOWN_TITLES])
def test_a_shown_title_is_never_empty(title, shown):
    assert shown_title(title, "2502.15001") == shown
    assert shown_title(shown_title(title, "2502.15001"), "2502.15001") == shown  # shown twice reads the same


def test_empty_names_are_dropped():
    assert readable_names(["", "\u202e", r"S\"oren", "  "]) == ["Sören"]


# Pieces that mean something to the LaTeX reader, alone or next to each other: escaped and
# bare dollars, braces and backslashes, commands, groups, quotes, ties, digits after math.
_TRICKY = ["\\$", "$", "x", " ", "5", "\\textbackslash{}", "\\textbackslash ", "alpha", "\\alpha", "{", "}",
           "\\{", "\\}", "\\\\", "\\%", "``", "''", "~", "\\'", "e", "\\emph{", "\\cite{", "^", "\\circ", "\\",
           "{\\aa}", "\\'{e}", "\\_", "-"]


def _tricky_strings(count: int = 4000, seed: int = 9) -> list[str]:
    rng = random.Random(seed)
    pairs = [a + b for a in _TRICKY for b in _TRICKY]
    return pairs + ["".join(rng.choice(_TRICKY) for _ in range(rng.randint(3, 9))) for _ in range(count)]


def test_readable_text_never_shows_look_alike_characters():
    """What a reader sees is made of the characters the author wrote (or the Unicode LaTeX
    stands for), never a full-width stand-in for `$`, `{` or `\\` that no one typed."""
    full_width = re.compile("[\uff01-\uff5e]")
    shown = [(raw, readable(raw, TITLE_CHARS)) for raw in _tricky_strings()]
    assert [(raw, text) for raw, text in shown if full_width.search(text)] == []


@pytest.mark.parametrize("raw, shown", [
    ("\\{x\\}", "{x}"),
    ("\\$5", "$5"),
    ("$\\{x_i\\}$ sets", "{x_i} sets"),
    ("\\$x$ and more", "$x$ and more"),
    ("\\textbackslash{}alpha", "\\alpha"),
    ("\\{x\\} and \\{BERT\\}", "{x} and {BERT}"),
    ("\\$\\alpha\\$", "$α$"),
    ("costs \\$5 and \\$10", "costs $5 and $10"),
])
def test_escaped_characters_are_shown_as_written(raw, shown):
    assert readable(raw, TITLE_CHARS) == shown
