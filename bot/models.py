"""Plain data objects passed between fetch, score, learn and render."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

# A feed's PDF link is outside text: only an arXiv PDF URL is used as given.
_ARXIV_PDF = re.compile(r"https?://(?:export\.)?arxiv\.org/pdf/[\w.\-/]+")


@dataclass
class Paper:
    arxiv_id: str  # without version, e.g. "2502.15315"
    title: str
    authors: list[str]
    abstract: str
    categories: list[str] = field(default_factory=list)
    announce_type: str = "new"
    version: int = 1
    license: str = ""
    doi: str = ""
    primary_category: str = ""
    comment: str = ""
    pdf_url: str = ""

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    @property
    def pdf_link(self) -> str:
        """The one PDF URL the digest, its JSON and Slack show: the feed's own when it is an
        arXiv PDF link (it may name a version), else derived from the id."""
        if _ARXIV_PDF.fullmatch(self.pdf_url or ""):
            return "https://" + self.pdf_url.split("://", 1)[1]
        return f"https://arxiv.org/pdf/{self.arxiv_id}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Score:
    arxiv_id: str
    relevance: int
    novelty: int
    comment: str
    raw: float = 0.0  # the scorer's continuous score, for ordering ties
    source: str = "local"  # local | llm | local-fallback | author

    def to_dict(self) -> dict:
        return asdict(self)
