"""Author matching that survives accents, LaTeX escapes, initials, case and name order.

"Y. Bengio", "yoshua bengio", "Bengio, Yoshua" all match "Yoshua Bengio";
"S\\"oren Mindermann" matches "Sören Mindermann" and "Soren Mindermann".
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .text import latex_to_unicode

_PARTICLES = {"van", "von", "der", "den", "de", "da", "di", "del", "la", "le", "du", "dos", "das"}


def _ascii_fold(s: str) -> str:
    # LaTeX as the digest shows it (`S\"oren` -> Sören, `Mart\'{\i}n` -> Martín), then plain ASCII.
    s = latex_to_unicode(s).replace("{", "").replace("}", "")
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return (s.replace("ß", "ss").replace("ø", "o").replace("Ø", "O").replace("ł", "l").replace("Ł", "L")
            .replace("ı", "i"))


@dataclass(frozen=True)
class Name:
    given: tuple[str, ...]  # lowercase tokens (may be single letters for initials)
    family: str  # lowercase family name, particles joined ("van der berg" -> "vanderberg")

    @classmethod
    def parse(cls, raw: str) -> "Name | None":
        s = _ascii_fold(raw).strip()
        s = re.sub(r"\(.*?\)", " ", s)  # affiliations in parentheses
        if "," in s:  # "Family, Given"
            family, _, given = s.partition(",")
            s = f"{given} {family}"
        words = re.split(r"[\s.]+", re.sub(r"[^A-Za-z\s.\-']", " ", s))
        words = [w for w in (w.replace("'", "").strip("-").lower() for w in words) if w]
        if not words:
            return None
        # Family name: the last word plus any particles right before it. A hyphenated
        # family name is one name ("Williams-King" is not "King"); hyphenated given names
        # are several ("Jean-Luc", "J.-L.").
        fam = [words[-1].replace("-", "")]
        i = len(words) - 2
        while i >= 1 and words[i] in _PARTICLES:
            fam.insert(0, words[i])
            i -= 1
        given = tuple(t for w in words[: i + 1] for t in w.split("-") if t)
        return cls(given=given, family="".join(fam))


def same_person(a: Name, b: Name) -> bool:
    if a.family != b.family:
        return False
    if not a.given or not b.given:
        return True
    # First given names must agree: equal, or one is the other's initial.
    x, y = a.given[0], b.given[0]
    if len(x) == 1 or len(y) == 1:
        return x[0] == y[0]
    return x == y


class AuthorMatcher:
    def __init__(self, watched: list[str]):
        self.watched = [(w, n) for w in watched if (n := Name.parse(w)) is not None]

    def match(self, authors: list[str]) -> list[str]:
        """The watched names (as configured) found among a paper's authors."""
        hits = []
        parsed = [n for a in authors if (n := Name.parse(a)) is not None]
        for label, want in self.watched:
            if any(same_person(want, got) for got in parsed):
                hits.append(label)
        return hits
