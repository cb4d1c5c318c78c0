from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..criteria import Criteria
from ..models import Paper, Score


@dataclass
class ScoringResult:
    scores: dict[str, Score]  # arxiv_id -> score
    notes: list[str] = field(default_factory=list)  # what the digest should tell the reader
    usage: dict = field(default_factory=dict)  # tokens and cost when an LLM was used
    warnings: list[str] = field(default_factory=list)  # for the run's output (an LLM that failed)


class Scorer(Protocol):
    #: Stored with every score, e.g. "local:minilm" or "openai:gpt-5.4-nano".
    name: str

    def score(self, papers: list[Paper], criteria: Criteria, date: str) -> ScoringResult:
        ...
