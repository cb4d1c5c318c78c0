from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from ..criteria import Criteria
from ..models import Paper, Score
from ..progress import Progress

#: Stores scores as they become final (an LLM scorer calls it per batch, so an interrupted
#: run re-bills nothing); the pipeline stores the whole result afterwards anyway.
SaveScores = Callable[[list[Score]], None]
#: Score sources of a judgement by an LLM; every other source is the local ranker's (or an
#: author match's).
LLM_SOURCES = ("llm", "llm-flagged")


@dataclass
class ScoringResult:
    scores: dict[str, Score]  # arxiv_id -> score
    notes: list[str] = field(default_factory=list)  # what the digest should tell the reader
    usage: dict = field(default_factory=dict)  # tokens and cost when an LLM was used
    warnings: list[str] = field(default_factory=list)  # for the run's output (an LLM that failed)


class Scorer(Protocol):
    """What the pipeline asks of a scorer. Scorers subclass it, so the members they do not
    need keep these defaults."""

    #: Stored with every score, e.g. "local:minilm" or "openai:gpt-5.4-nano".
    name: str
    #: Score sources shown in the digest but never stored (an LLM that failed, a budget that
    #: ran out): a re-run of the day scores those papers again.
    provisional_sources: tuple[str, ...] = ()
    #: The prompt prefix of the last score() call, printed in the digest ("" without an LLM).
    last_prefix: str = ""

    def score(self, papers: list[Paper], criteria: Criteria, date: str, progress: Progress | None = None,
              save: SaveScores | None = None) -> ScoringResult:
        ...

    def label(self, picks: list[Score], day: list[Score]) -> str:
        """What scored the day's picks (`day`: every score of the day), for the reader (the
        run's output, the digest's header): `name` unless a stand-in (an LLM scorer's local
        ranker) scored some of them."""
        return self.name

    def explain(self, papers: list[Paper]) -> dict[str, str]:
        """Why each of these picks was made beyond its score's comment (arxiv_id -> text)."""
        return {}
