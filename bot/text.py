"""Outside text (arXiv titles, names, abstracts, LLM comments) as a reader should see it.

One home for what the Markdown digest, its JSON twin and the Slack messages all need:
invisible and direction-changing characters removed (a U+202E in a title reverses what
follows it on screen), the LaTeX arXiv passes through (`S\\"oren`, `Fr\\'echet`,
`P{\\aa}l`, `$\\alpha$`) shown as Unicode, whitespace folded to one line, and a visible
length cap with an ellipsis. Escaping for a given format (Markdown, Slack mrkdwn) is
left to that format's renderer, after this.

The LaTeX table is our own rather than pylatexenc's: that library drops unknown macros
(`\\modelname`) and eats `&` (a LaTeX tab), both common in plain-text abstracts, and
fails on `\\href` and on deeply nested braces. Here only known commands change; anything
else stays as written.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable

ELLIPSIS = "…"

# Visible lengths, in characters. Real arXiv titles stay under 300 and abstracts under
# 1,920; the caps only stop a hostile or broken item from flooding the digest.
TITLE_CHARS = 300
NAME_CHARS = 100
ABSTRACT_CHARS = 2500
COMMENT_CHARS = 1000
SHOWN_AUTHORS = 50

# --- invisible characters ---------------------------------------------------------------

_SUSPECT = re.compile(r"[^\x20-\x7e]")  # printable ASCII never needs a look


def _visible(match: re.Match) -> str:
    ch = match.group()
    if ch.isspace():
        return " "  # newlines, tabs, U+2028: folded later, never glued words together
    # Cc controls, Cf format characters (bidi embeddings/overrides/isolates, marks,
    # zero-width space/joiners, BOM, soft hyphen, tag characters), lone surrogates.
    return "" if unicodedata.category(ch) in ("Cc", "Cf", "Cs") else ch


def strip_invisible(text: str | None) -> str:
    """Drop control, format and bidi characters; whitespace of any kind becomes a space."""
    return _SUSPECT.sub(_visible, text or "")


def one_line(text: str | None) -> str:
    """Visible characters only, on one line with single spaces."""
    return " ".join(strip_invisible(text).split())


# --- LaTeX -------------------------------------------------------------------------------

# A character written escaped (`\$`, `\{`, `\textbackslash`) is a literal: while the text is
# read it stands as a Unicode noncharacter, so no later step takes it for LaTeX, and at the end
# it is shown as written. Shown text is therefore not LaTeX-safe to read again: it is read once,
# from the raw field, and Pick.shown() hands an already-shown pick back unchanged.
_LITERALS = "%&$#_{}\\"
_STAND_IN = {c: chr(0xFDD0 + i) for i, c in enumerate(_LITERALS)}  # noncharacters, never text
_STAND_INS = re.compile(f"[{chr(0xFDD0)}-{chr(0xFDEF)}]")
_AS_WRITTEN = {v: c for c, v in _STAND_IN.items()}
_MAX_PASSES = 4

_ACCENTS = {  # accent command -> combining character
    "'": "\u0301", '"': "\u0308", "`": "\u0300", "^": "\u0302", "~": "\u0303", "=": "\u0304",
    ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328",
    "r": "\u030a", "d": "\u0323",
}
_LETTERS = {"aa": "å", "AA": "Å", "o": "ø", "O": "Ø", "l": "ł", "L": "Ł", "ss": "ß", "i": "ı",
            "j": "ȷ", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ"}
_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ",
    "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ",
    "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    "pm": "±", "mp": "∓", "times": "×", "cdot": "·", "div": "÷", "le": "≤", "leq": "≤",
    "ge": "≥", "geq": "≥", "neq": "≠", "ne": "≠", "approx": "≈", "sim": "∼", "simeq": "≃",
    "equiv": "≡", "propto": "∝", "ll": "≪", "gg": "≫", "infty": "∞", "nabla": "∇",
    "partial": "∂", "sum": "∑", "prod": "∏", "int": "∫", "sqrt": "√", "in": "∈",
    "notin": "∉", "subset": "⊂", "subseteq": "⊆", "cup": "∪", "cap": "∩", "forall": "∀",
    "exists": "∃", "emptyset": "∅", "to": "→", "rightarrow": "→", "leftarrow": "←",
    "Rightarrow": "⇒", "Leftarrow": "⇐", "leftrightarrow": "↔", "mapsto": "↦",
    "uparrow": "↑", "downarrow": "↓", "circ": "∘", "deg": "°", "ell": "ℓ", "cdots": "⋯",
    "ldots": "…", "dots": "…", "star": "⋆", "dagger": "†", "checkmark": "✓",
    "textdegree": "°", "textasciitilde": "~", "textbackslash": _STAND_IN["\\"],
    "log": "log", "exp": "exp", "sin": "sin", "cos": "cos", "max": "max", "min": "min",
    "arg": "arg", "lim": "lim", "sup": "sup", "inf": "inf",
}
_SUPERSCRIPTS = str.maketrans("0123456789+-n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿ")
# Commands whose one argument is shown as it is (the formatting is dropped).
_KEEP_ARGUMENT = ("textbf", "textit", "emph", "textsc", "texttt", "textrm", "textsf", "textup",
                  "textnormal", "underline", "text", "mbox", "mathrm", "mathbf", "mathit",
                  "mathsf", "mathtt", "mathcal", "mathbb", "mathfrak", "mathscr", "boldsymbol",
                  "bm", "operatorname", "url", "footnote")
_DROP_WITH_ARGUMENT = ("cite", "citep", "citet", "citealp", "ref", "eqref", "label")
_SWITCHES = ("em", "bf", "it", "rm", "sc", "tt", "sf", "bfseries", "itshape", "scshape")

_BASE = r"(?:\\[ij](?![A-Za-z])|[A-Za-z])"  # an accent's letter; \i and \j are dotless
_ACCENT = re.compile(
    r"(?P<open>\{)?\\(?P<acc>['\"`^~=.]|[uvHckrd](?=\s*\{|\s+[A-Za-z]))\s*"
    rf"(?:\{{\s*(?P<braced>{_BASE})\s*\}}|(?P<dotless>\\[ij])(?![A-Za-z]) ?|(?P<bare>[A-Za-z]))(?(open)\}})")
_LETTER = re.compile(r"\{\\(?P<b>aa|AA|ss|ae|AE|oe|OE|[oOlLij])\}|"
                     r"\\(?P<n>aa|AA|ss|ae|AE|oe|OE|[oOlLij])(?![A-Za-z])(?:\{\}| (?=[A-Za-z]))?")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?")
_SUPERSCRIPT = re.compile(r"\^\{?([0-9]{1,3}|[+-]|n)\}?(?![0-9])")
# Pandoc's rule for inline math: no space just inside either `$`, and no digit right after
# the closing one ("costs $5 and $10" stays as written) unless a command inside says it is
# TeX (`512$\times$512`, `($\leq$3B`).
_MATH = re.compile(r"(?<![\\$])\$(?=[^\s$])(?P<m>[^$]{1,300}?)(?<=[^\s\\])\$(?P<digit>(?=[0-9]))?(?!\$)")
_COMMAND_ARG = re.compile(r"\\(?P<cmd>[A-Za-z]+)\*?\s*\{(?P<arg>[^{}]*)\}")
_HREF = re.compile(r"\\href\s*\{(?P<url>[^{}]*)\}\s*\{(?P<label>[^{}]*)\}")
_TEXTCOLOR = re.compile(r"\\(?:textcolor|colorbox)\s*\{[^{}]*\}\s*\{(?P<arg>[^{}]*)\}")
_SWITCH = re.compile(r"\{\\(?:" + "|".join(_SWITCHES) + r")(?![A-Za-z])\s*(?P<arg>[^{}]*)\}")
_SYMBOL = re.compile(r"\\(?P<name>[A-Za-z]+)(?![A-Za-z])")
_ESCAPED = re.compile(r"\\(?P<c>[%&$#_{}])")
_SPACING = re.compile(r"\\[,;:! ]|\\\\|\\-")
_TOKEN_GROUP = re.compile(r"\{(?P<t>[^\s{},\\]*)\}")  # `{BERT}`, `{å}`, `{}`: grouping only
_QUOTES = re.compile(r"``(?P<q>[^`']{1,300}?)''")
_TIE = re.compile(r"(?<=\S)~(?=\\[A-Za-z])")  # `at~\url{...}`: a non-breaking space


def _compose(letter: str, accent: str, written: str) -> str:
    """The accented letter, if Unicode has it as one character; else `written` unchanged
    (so a JSON-style `\\"quoted\\"` word never turns into "q̈uoted")."""
    letter = {"\\i": "i", "\\j": "j"}.get(letter, letter)
    composed = unicodedata.normalize("NFC", letter + _ACCENTS[accent])
    return composed if len(composed) == 1 else written


def _accent(m: re.Match) -> str:
    # `\'\i n`: the space ends the control word \i, as in TeX, and is not shown.
    return _compose(m.group("braced") or m.group("dotless") or m.group("bare"), m.group("acc"), m.group())


def _letter(m: re.Match) -> str:
    return _LETTERS[m.group("b") or m.group("n")]


def _command_with_argument(m: re.Match) -> str:
    cmd, arg = m.group("cmd"), m.group("arg")
    if cmd in _KEEP_ARGUMENT:
        return arg
    if cmd in _DROP_WITH_ARGUMENT:
        return ""
    return m.group()  # unknown: left as written


def _href(m: re.Match) -> str:
    url, label = m.group("url").strip(), m.group("label").strip()
    return label if label in ("", url) else f"{label} ({url})"


def _symbol(m: re.Match) -> str:
    return _SYMBOLS.get(m.group("name"), m.group())


def _math(m: re.Match) -> str:
    if m.group("digit") is not None and "\\" not in m.group("m"):
        return m.group()  # "$5 and $10": money, not math
    inner = _DEGREES.sub("°", m.group("m"))
    return _SUPERSCRIPT.sub(lambda s: s.group(1).translate(_SUPERSCRIPTS), inner)


def _arguments(text: str) -> str:
    """Commands with a braced argument, innermost first (a few levels of nesting)."""
    for _ in range(4):
        before = text
        text = _HREF.sub(_href, text)
        text = _TEXTCOLOR.sub(lambda m: m.group("arg"), text)
        text = _SWITCH.sub(lambda m: m.group("arg"), text)
        text = _COMMAND_ARG.sub(_command_with_argument, text)
        if text == before:
            break
    return text


def _may_be_latex(text: str) -> bool:
    return "\\" in text or "$" in text or "{" in text or "``" in text


def latex_to_unicode(text: str) -> str:
    """The LaTeX that arXiv metadata carries, as readable Unicode; the rest unchanged. Read
    until nothing more changes (a step can uncover what an earlier one needed: `\\cite{a\\'{e}}`);
    escaped characters are then shown as written (`\\$5` as `$5`), so read raw text only."""
    if not _may_be_latex(text):
        return text
    read = _STAND_INS.sub("", text)
    for _ in range(_MAX_PASSES):
        before, read = read, _convert(read)
        if read == before or not _may_be_latex(read):
            break
    return _STAND_INS.sub(lambda m: _AS_WRITTEN[m.group()], read)


def _convert(text: str) -> str:
    """One reading of the LaTeX, escaped characters kept as their stand-ins."""
    text = _TIE.sub(" ", text)
    text = _ACCENT.sub(_accent, text)
    text = _LETTER.sub(_letter, text)
    text = _MATH.sub(_math, text)
    text = _DEGREES.sub("°", text)
    text = _arguments(text)
    text = _SYMBOL.sub(_symbol, text)
    text = _SPACING.sub(lambda m: "" if m.group() == "\\-" else " ", text)
    text = _ESCAPED.sub(lambda m: _STAND_IN[m.group("c")], text)
    text = _TOKEN_GROUP.sub(lambda m: m.group("t"), text)
    return _QUOTES.sub(lambda m: f"“{m.group('q')}”", text)


# --- length ------------------------------------------------------------------------------

def _one_unit(ch: str) -> int:
    return 1


def cut(text: str, limit: int, width: Callable[[str], int] = _one_unit) -> str:
    """`text` in at most `limit` units as `width` measures each character: unchanged when
    it fits, else its longest prefix that fits beside the ellipsis, backed up to a word
    boundary when one is not too far back. Never empty for non-empty text and limit >= 1."""
    if (len(text) if width is _one_unit else sum(map(width, text))) <= limit:
        return text
    if limit < len(ELLIPSIS):
        return ""
    room, used, n = limit - len(ELLIPSIS), 0, 0
    for ch in text:
        used += width(ch)
        if used > room:
            break
        n += 1
    kept = text[:n]
    if text[n:n + 1] != " ":  # the cut fell inside a word
        space = kept.rfind(" ")
        if space >= n // 2:  # a word boundary not too far back; else cut mid-word
            kept = kept[:space]
    return (kept.rstrip(" ,;:.-") or kept) + ELLIPSIS


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when cut."""
    return cut(text, limit)


def readable(text: str | None, limit: int) -> str:
    """Outside text for display: visible characters, LaTeX as Unicode, one line, capped."""
    # LaTeX only ever shortens text, so a generous head of it is enough to fill `limit`:
    # a 10 MB field costs no more than a normal one.
    head = (text or "")[:limit * 8 + 64]
    return clip(one_line(latex_to_unicode(one_line(head))), limit)


def shown_title(title: str | None, arxiv_id: str) -> str:
    """A paper's title for display; one that shows as nothing (only invisible characters, or
    LaTeX that reads as nothing) is named by its id, so no link label or heading is empty."""
    return readable(title, TITLE_CHARS) or f"arXiv {one_line(arxiv_id)}"


def readable_names(names: list[str]) -> list[str]:
    """Author names for display, empty ones dropped."""
    return [n for n in (readable(a, NAME_CHARS) for a in names) if n]


def counted(n: int, one: str, many: str | None = None) -> str:
    """"1 paper", "3 papers", "1 author match", "2 author matches": a count with its noun."""
    return f"{n} {one}" if n == 1 else f"{n} {many or one + 's'}"


def author_line(names: list[str], keep: int = SHOWN_AUTHORS) -> str:
    """"A, B, C" — or the first `keep` and "et al. (N authors)" for a long list."""
    if len(names) <= keep:
        return ", ".join(names)
    return ", ".join(names[:keep]) + f" et al. ({len(names)} authors)"
