"""Scoring with an LLM (OpenAI or any OpenAI-compatible server), at a fraction of the seed's cost.

One run:
  1. The local ranker scores every paper of the day (cheap, cached embeddings).
  2. Author matches skip the LLM. Of the rest, the papers the local ranker puts near or
     above the pick cutoff (a margin below it, with a floor and a ceiling in papers:
     bot/llm/prefilter.py) go to the LLM; the others keep their local score, labelled
     "local-below-cut". The cut is taken over the whole stored day, so a resumed run sends
     exactly the papers the first one had not finished. Those sent below the local pick
     cutoff go as titles first (bot/llm/screen.py): only the titles the LLM keeps are sent
     with their abstracts, the others keep their local score too.
  3. The prompt prefix (instructions, criteria, rubric, few-shot examples from the team's
     thumbs) is built once and is identical for every call (prompt caching); the papers
     follow, fenced as JSON data, numbered; the reply names them by number, scores every
     paper and comments only those at or above the pick cutoff (bot/llm/replies.py). A
     paper whose text looks addressed to an AI goes alone in its own call, so it cannot
     sway any other paper, and is flagged.
  4. Batches go out concurrently (the first alone, to warm the prompt cache). Each reply is
     validated; its scores are saved as they arrive (through `save`), so an interrupted run
     re-bills nothing. Missing or refused papers are re-batched a bounded number of times;
     what still fails keeps its local score ("local-fallback") and the digest says so.
  5. Every call is recorded with its tokens and cost; a daily budget stops new calls
     before they would exceed it ("local-budget").
"""
from __future__ import annotations

import logging
import math
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import store
from ..criteria import Criteria
from ..llm import usage as usage_mod
from ..llm.batch_api import BatchReply
from ..llm.fewshot import choose_examples
from ..llm.injection import suspicious
from ..llm.prefilter import Prefilter, local_relevance
from ..llm.prices import Price, PriceTable
from ..llm.prompt import PROMPTS_DIR, build_prefix, messages, papers_block
from ..llm.provider import CallOutcome, ChatProvider
from ..llm.replies import ParsedReply, parse_reply
from ..llm.screen import ScreenResult, screen_max_tokens, screen_messages, screen_prefix, titles_kept
from ..models import Paper, Score
from ..text import counted
from .base import LLM_SOURCES, Scorer, ScoringResult

log = logging.getLogger(__name__)

# Scores with these sources are not final: the pipeline does not store them, so re-running
# the day tries those papers again (after an outage, or with tomorrow's budget).
PROVISIONAL_SOURCES = ("local-fallback", "local-budget")
CHARS_PER_TOKEN = 3.5  # conservative for o200k on English + JSON: over-estimates, never under
COMPLETION_TOKENS_PER_PAPER = 60  # estimate for the budget, on the high side: a pick's [i, r, n] and 12-word comment take ~35
# The output cap of a call (max tokens): room for each item, the reply's frame, and a
# reasoning model's hidden tokens. On llama.cpp the cap counts against the context.
OUTPUT_TOKENS_PER_PAPER = 150
OUTPUT_TOKENS_BASE = 300
REASONING_TOKENS = 4000
# Share of a known context left free for the chat template's tokens and tokenizers that cut
# finer than CHARS_PER_TOKEN. Measured on the sample day: SmolLM2's tokenizer gives 4.25
# characters a token on the prompt's prefix and 5.05 on the papers, so the estimate is high.
CONTEXT_MARGIN = 0.10
# Where the server's flags that size its context are named (notes, settings, docs).
CONTEXT_FLAGS = ("llama.cpp -c/--ctx-size, llama-cpp-python --n_ctx, vLLM --max-model-len, "
                 "Ollama num_ctx or OLLAMA_CONTEXT_LENGTH")
# The LLM phase's time limit when llm.time_limit_seconds is 0: by the kind of server. A CPU
# server takes about 2 minutes for one call of 20 papers.
TIME_LIMIT_SECONDS = {"openai": 240.0}
SELF_HOSTED_TIME_LIMIT_SECONDS = 900.0
# Calls still open at the time limit get this long to return before they are abandoned. The
# provider ends every try by the limit (a hard per-request deadline, bot/llm/deadline.py); this
# covers a ChatProvider that does not, which then ends by itself after the run returns.
ABANDON_GRACE_SECONDS = 5.0
# Why a paper of an LLM run kept its local score, by source (the scorer's label says it).
LOCAL_BECAUSE = {"local-fallback": "the LLM calls failed", "local-budget": "the daily LLM budget was reached",
                 "local-below-cut": "below the cut sent to the LLM"}
FLAG_NOTE = "Flagged: its text addresses the AI scorer (possible prompt injection); scores capped at the local ranker's."


@dataclass
class LLMConfig:
    model: str = "gpt-5.4-nano"
    base_url: str = ""
    batch_size: int = 40
    concurrency: int = 4
    prefilter_margin: float = 4.5  # local relevance points below the pick cutoff still sent (bot.llm.prefilter)
    prefilter_share: float = 1.0
    prefilter_floor: int = 30
    prefilter_ceiling: int = 150
    pick_cutoff: int = 7  # ranking.min_relevance: comments are asked for papers at or above it
    title_screen: bool | str = "auto"  # the papers sent below the local pick cutoff: titles first (bot.llm.screen)
    screen_batch_size: int = 200
    fewshot_examples: int = 8
    daily_budget_usd: float = 1.0  # 0 = no limit
    timeout_seconds: float = 0.0  # one try; 0 = by the kind of server (the provider's choice)
    max_tries: int = 4  # HTTP attempts per call (429/5xx/timeouts)
    max_rounds: int = 3  # calls a paper may be part of before it falls back to its local score
    time_limit_seconds: float = 0.0  # the whole direct-call phase of a run; 0 = by the kind of server
    give_up_after_failed_calls: int = 2  # calls in a row that failed every try: the LLM is down
    abstract_chars: int = 400
    server: str = "auto"  # the kind of endpoint (provider.SERVER_KINDS)
    context_tokens: int = 0  # the endpoint's context window; 0 = ask the server
    price: dict = field(default_factory=dict)  # {input, cached_input, output} for model; {} = data/prices.toml
    response_format: str = "auto"
    reasoning_effort: str = ""
    batch_api: bool = False
    batch_deadline_minutes: float = 120.0
    batch_poll_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings) -> "LLMConfig":
        kw = {}
        for name in cls.__dataclass_fields__:
            key = f"llm.{name}"
            if settings.get(key) is not None:
                kw[name] = settings.get(key)
        if settings.get("ranking.min_relevance") is not None:
            kw["pick_cutoff"] = settings.get("ranking.min_relevance")
        return cls(**kw)

    def prefilter(self) -> Prefilter:
        return Prefilter(cutoff=self.pick_cutoff, margin=self.prefilter_margin, share=self.prefilter_share,
                         floor=self.prefilter_floor, ceiling=self.prefilter_ceiling)


def time_limit_seconds(cfg: LLMConfig, kind: str) -> float:
    """The LLM phase's time limit: the setting, or by the kind of server when it is 0."""
    return cfg.time_limit_seconds or TIME_LIMIT_SECONDS.get(kind, SELF_HOSTED_TIME_LIMIT_SECONDS)


def priced(prices: PriceTable, cfg: LLMConfig) -> PriceTable:
    """The price table with llm.price, when set, as the price of llm.model."""
    return prices.with_price(cfg.model, Price(**cfg.price)) if cfg.price else prices


@dataclass
class _Cut:
    """Which papers of the day go to the LLM: the top `size` of `candidates` by local score
    (author matches are no candidates: they skip the LLM)."""
    authored: set[str]
    above: set[str]
    candidates: int
    size: int

    def kept_local(self, papers: list[Paper], local: dict[str, Score]) -> tuple[dict[str, Score], list[Paper]]:
        """The scores of the papers that skip the LLM, and the papers to send."""
        out: dict[str, Score] = {}
        send: list[Paper] = []
        for p in papers:
            ls = local[p.arxiv_id]
            if p.arxiv_id in self.authored:
                out[p.arxiv_id] = Score(p.arxiv_id, ls.relevance, ls.novelty, "Author match", ls.raw, "author")
            elif p.arxiv_id not in self.above:
                out[p.arxiv_id] = _below_cut(ls)
            else:
                send.append(p)
        return out, send


class OpenAIScorer(Scorer):
    provisional_sources = PROVISIONAL_SOURCES

    def __init__(self, config: LLMConfig, db, provider: ChatProvider, prefilter, *, feed: str, authors=None,
                 prices: PriceTable | None = None, prompts_dir: Path = PROMPTS_DIR, batch_runner=None,
                 day_papers: Callable[[str], list[Paper]] | None = None):
        self.config = config
        self.db = db
        self.feed = feed  # whose run this is: its calls, budget and few-shot examples are the feed's
        # The feed's stored day (its own papers of the day's fetch): the cut is taken over it.
        self.day_papers = day_papers or (lambda date: store.load_papers(db, date))
        self.provider = provider
        self.prefilter = prefilter  # the local scorer: pre-filter and fallback
        self.authors = authors  # AuthorMatcher or None
        self.prices = priced(prices or PriceTable.load(), config)
        self.prompts_dir = prompts_dir
        self.batch_runner = batch_runner
        self.name = f"openai:{config.model}"
        self.last_prefix = ""  # the run's prompt prefix (the digest prints it)

    # -- the run ---------------------------------------------------------------------------
    def score(self, papers: list[Paper], criteria: Criteria, date: str, progress=None,
              save: Callable[[list[Score]], None] | None = None) -> ScoringResult:
        if not papers:
            return ScoringResult(scores={})
        day_papers = self._whole_day(papers, date)
        local = self.prefilter.score(day_papers, criteria, date, progress=progress).scores
        cut = self._cut(day_papers, local)
        out, send = cut.kept_local(papers, local)
        started = time.monotonic()  # the title screen and the scoring calls share one time limit
        screened = self._screen_titles(send, criteria, local, date, started) if self._screens_titles() else None
        if screened:
            send = screened.read
            out.update({p.arxiv_id: _below_cut(local[p.arxiv_id]) for p in screened.skipped})
        examples = choose_examples(self.db, self.config.fewshot_examples, exclude={p.arxiv_id for p in day_papers},
                                   feed=self.feed)
        self.last_prefix = build_prefix(criteria.text, examples, self.prompts_dir, self.config.pick_cutoff)
        earlier = self._stored_llm_scores(day_papers, criteria.version)
        run = _Run(self, self.last_prefix, date, local, save or (lambda scores: None), earlier)
        # The Batch API's wait comes between them: then the direct calls get their own limit.
        run.started = started if screened and not self.config.batch_api else None
        if send:
            run.score_all(send, criteria.version)
        out.update(run.scores)
        return ScoringResult(scores=out, notes=self._notes(run, cut, len(examples), screened),
                             usage=self._usage(run, date), warnings=run.warnings())

    def _whole_day(self, papers: list[Paper], date: str) -> list[Paper]:
        """The stored day plus `papers` (newest text wins): the cut is taken over all of it."""
        day = {p.arxiv_id: p for p in self.day_papers(date)}
        day.update({p.arxiv_id: p for p in papers})
        return list(day.values())

    def _stored_llm_scores(self, day_papers: list[Paper], criteria_version: int | None) -> dict[str, Score]:
        """The day's scores from the LLM stored by earlier runs (a resumed day): the notes count them."""
        if criteria_version is None:
            return {}
        stored = store.load_scores(self.db, self.name, criteria_version, [p.arxiv_id for p in day_papers])
        return {i: sc for i, sc in stored.items() if sc.source in LLM_SOURCES}

    def _cut(self, day_papers: list[Paper], local: dict[str, Score]) -> _Cut:
        authored = {p.arxiv_id for p in day_papers if self.authors and self.authors.match(p.authors)}
        ranked = sorted((p for p in day_papers if p.arxiv_id not in authored),
                        key=lambda p: (-local[p.arxiv_id].raw, p.arxiv_id))
        k = self.config.prefilter().size([local[p.arxiv_id].raw for p in ranked])
        return _Cut(authored, {p.arxiv_id for p in ranked[:k]}, len(ranked), k)

    def _screens_titles(self) -> bool:
        """Whether titles are screened first. "auto": for a model with a price, where it saves money;
        a free or unpriced model (one's own server) saves nothing by it, and a small local model
        screens titles at random (SmolLM2-135M kept none of a day's)."""
        if self.config.title_screen != "auto":
            return bool(self.config.title_screen)
        price = self.prices.price(self.config.model)
        return price is not None and (price.input > 0 or price.output > 0)

    def _screen_titles(self, send: list[Paper], criteria: Criteria, local: dict[str, Score],
                       date: str, started: float) -> ScreenResult | None:
        """The title screen of the papers sent below the local pick cutoff (the uncertain band):
        those it keeps, the local ranker's picks and suspect papers go on to the abstracts."""
        band = [p for p in send if local_relevance(local[p.arxiv_id].raw) < self.config.pick_cutoff
                and not suspicious(p.title, p.abstract)]
        budget = self.config.daily_budget_usd
        if not band or (budget and usage_mod.spent(self.db, date, feed=self.feed) >= budget):
            return None  # a spent budget: the scoring calls say so (local-budget)
        in_band = {p.arxiv_id for p in band}
        result = ScreenResult(read=[p for p in send if p.arxiv_id not in in_band])
        prefix = screen_prefix(criteria.text, self.config.pick_cutoff, self.prompts_dir)
        deadline = started + time_limit_seconds(self.config, self.provider.kind)
        n = max(1, self.config.screen_batch_size)
        for batch in (band[i:i + n] for i in range(0, len(band), n)):
            outcome = self.provider.complete(screen_messages(prefix, batch), screen_max_tokens(len(batch)),
                                             len(batch), deadline, None)
            for rec in outcome.attempts:
                usage_mod.record_call(self.db, date, self.name, rec, self.prices, feed=self.feed)
            result.add(batch, titles_kept(outcome.content if outcome.ok else None, batch))
        return result

    def _notes(self, run: _Run, cut: _Cut, n_examples: int, screened: ScreenResult | None = None) -> list[str]:
        notes = [run.sent_note(cut.candidates, cut.size, n_examples)]
        if screened:
            notes.append(screened.note())
        if cut.authored:
            notes.append(f"{counted(len(cut.authored), 'author match', 'author matches')} skipped the LLM.")
        return notes + run.notes()

    def _usage(self, run: _Run, date: str) -> dict:
        """Billed usage of the feed's day so far, across resumed runs."""
        totals = usage_mod.day_totals(self.db, date, self.name, feed=self.feed)
        if not totals:
            return {}
        return {**totals.as_digest_usage(), "papers_sent": len(run.day_sent())}

    def label(self, picks: list[Score], day: list[Score]) -> str:
        """"openai:gpt-5.4-nano" when the LLM scored every pick, "local:minilm (the LLM calls
        failed)" when it scored none, both names on a mixed day. Author matches say nothing of
        it: with only those picked, the papers sent to the LLM tell."""
        judged, of = [s for s in picks if s.source != "author"], "picks"
        if not judged:
            judged, of = [s for s in day if s.source in LLM_SOURCES + PROVISIONAL_SOURCES], "papers sent to the LLM"
        local = [s for s in judged if s.source in LOCAL_BECAUSE]
        if not local:
            return self.name
        why = "; ".join(sorted({LOCAL_BECAUSE[s.source] for s in local}))
        if not any(s.source in LLM_SOURCES for s in judged):
            return f"{self.prefilter.name} ({why})"
        return f"{self.name} and {self.prefilter.name} ({len(local)} of {len(judged)} {of} ranked locally: {why})"


def _log_reply_problems(parsed: ParsedReply, content: str | None, finish_reason: str) -> None:
    if parsed.unknown_ids:
        log.debug("reply named %d ids that were not sent (dropped): %s", len(parsed.unknown_ids),
                  ", ".join(parsed.unknown_ids[:5]))
    for pid, why in parsed.rejected.items():
        log.debug("refused the reply for %s: %s", pid, why)
    if parsed.not_json:
        log.debug("reply was not JSON (finish_reason=%s): %r", finish_reason, (content or "")[:120])
    if parsed.misshapen:
        log.debug("reply had %d items naming no paper that were not in the expected shape: %s",
                  len(parsed.misshapen), "; ".join(dict.fromkeys(parsed.misshapen)))
    if parsed.refusal:
        log.debug("the model refused: %s", parsed.refusal)


class _Run:
    """The state of one scoring run: queue, budget, results. Lives in the caller's thread;
    only provider calls go to the pool, so all SQLite writes happen here."""

    def __init__(self, scorer: OpenAIScorer, prefix: str, date: str, local: dict[str, Score], save,
                 earlier: dict[str, Score] | None = None):
        self.s, self.cfg = scorer, scorer.config
        self.prefix, self.date, self.local, self.save = prefix, date, local, save
        self.earlier = earlier or {}  # the day's LLM scores stored by earlier runs
        self.scores: dict[str, Score] = {}
        self.rounds: dict[str, int] = {}
        self.spent = usage_mod.spent(scorer.db, date, feed=scorer.feed)
        self.reserved = 0.0  # estimated cost of the calls in flight
        self.price_known = scorer.prices.price(self.cfg.model) is not None
        self.budget_cut: list[str] = []
        self.fallback: dict[str, str] = {}  # arxiv_id -> why
        self.unknown_ids: list[str] = []
        self.sent: set[str] = set()  # papers that went out in at least one call
        self.stopped = ""  # why no more calls go out this run (empty while they do)
        self.warmed = False  # a call succeeded: the prompt cache is warm, calls may overlap
        self.failed_in_a_row = 0
        self.failed_requests_in_a_row = 0  # the HTTP requests those calls made (a call retries)
        self.deadline = math.inf  # time.monotonic() at which the direct calls stop
        self.started: float | None = None  # when the LLM phase began (a title screen first); None: at score_all
        self.time_limit = 0.0  # seconds for the LLM phase: by the server's kind, known in score_all
        self.batch_notes: list[str] = []
        self.context: int | None = None  # the endpoint's context window in tokens, once known
        self.prefix_tokens = _tokens(len(prefix))
        self.split_too_long = 0  # batches the server said were too long, split in halves
        self.fitted = 0  # the most papers a call carried where the context cut a batch (0: none cut)
        self.too_small = ""  # the note when the prompt and one paper do not fit the context

    # -- batches ---------------------------------------------------------------------------
    def _batches(self, papers: list[Paper]) -> list[list[Paper]]:
        """Suspect papers alone (they cannot touch others), the rest in batches of batch_size."""
        alone = [[p] for p in papers if suspicious(p.title, p.abstract)]
        rest = [p for p in papers if not suspicious(p.title, p.abstract)]
        n = max(1, self.cfg.batch_size)
        return [piece for i in range(0, len(rest), n) for piece in self._fitting(rest[i:i + n])] + alone

    def _max_tokens(self, n: int) -> int:
        extra = REASONING_TOKENS if self.cfg.reasoning_effort not in ("", "none", "minimal") else 0
        return OUTPUT_TOKENS_PER_PAPER * n + OUTPUT_TOKENS_BASE + extra

    def _call_tokens(self, batch: list[Paper]) -> int:
        """A conservative estimate of what a call takes of the context: prompt and output cap."""
        papers = sum(_tokens(len(papers_block([p], self.cfg.abstract_chars))) for p in batch)
        return self.prefix_tokens + papers + self._max_tokens(len(batch))

    def _fitting(self, batch: list[Paper]) -> list[list[Paper]]:
        """The batch as calls that each fit the known context (packed in order, at least one
        paper a call); the batch itself when no context is known or it fits."""
        room = int(self.context * (1 - CONTEXT_MARGIN)) if self.context else 0
        if not room or self._call_tokens(batch) <= room:
            return [batch]
        pieces: list[list[Paper]] = [[]]
        for p in batch:
            if pieces[-1] and self._call_tokens(pieces[-1] + [p]) > room:
                pieces.append([])
            pieces[-1].append(p)
        if len(pieces[0]) == 1 and self._call_tokens(pieces[0]) > room:
            self._note_too_small(room)
        self.fitted = max(self.fitted, max(len(piece) for piece in pieces))
        return pieces

    def _note_too_small(self, room: int) -> None:
        if not self.too_small:
            self.too_small = (
                f"The model's context of {self.context} tokens is too small for the prompt and one paper "
                f"(about {self._call_tokens([])} tokens before the paper, with the reply's cap, and {room} usable): "
                f"start the server with a larger context ({CONTEXT_FLAGS}) and set llm.context_tokens to it.")

    def _estimate(self, batch: list[Paper], batch_api: bool = False) -> float:
        if not self.price_known:
            return 0.0
        chars = len(self.prefix) + sum(len(p.title) + min(len(p.abstract), self.cfg.abstract_chars) + 60 for p in batch)
        cost = self.s.prices.cost(self.cfg.model, int(chars / CHARS_PER_TOKEN), 0,
                                  COMPLETION_TOKENS_PER_PAPER * len(batch) + 20, batch=batch_api)
        return cost.total if cost else 0.0

    def _over_budget(self, estimate: float) -> bool:
        budget = self.cfg.daily_budget_usd
        return bool(budget) and self.price_known and self.spent + self.reserved + estimate > budget

    def _record(self, rec) -> None:
        cost = usage_mod.record_call(self.s.db, self.date, self.s.name, rec, self.s.prices, feed=self.s.feed)
        self.spent += cost or 0.0

    # -- one reply -------------------------------------------------------------------------
    def _take(self, batch: list[Paper], content: str | None, finish_reason: str, error: str,
              refusal: str = "") -> list[Paper]:
        """Store the valid scores of a reply; returns the papers to send again."""
        parsed = parse_reply(content, [p.arxiv_id for p in batch], refusal) if content is not None else None
        if parsed is not None:
            _log_reply_problems(parsed, content, finish_reason)
            self.unknown_ids += parsed.unknown_ids
            got = self._accept(batch, parsed)
            if got:
                self.save(got)  # stored now: an interruption after this re-bills nothing
        return self._retry_or_fall_back(batch, parsed, error)

    def _accept(self, batch: list[Paper], parsed: ParsedReply) -> list[Score]:
        """The reply's valid items as scores; a flagged paper (or a suspect sent alone) is capped
        at its local score."""
        alone = len(batch) == 1 and suspicious(batch[0].title, batch[0].abstract)
        got: list[Score] = []
        for pid, item in parsed.items.items():
            ls = self.local[pid]
            if item.flagged or alone:
                sc = Score(pid, min(item.relevance, ls.relevance), min(item.novelty, ls.novelty),
                           f"{FLAG_NOTE} {item.comment}".strip(), ls.raw, "llm-flagged")
            else:
                sc = Score(pid, item.relevance, item.novelty, item.comment, ls.raw, "llm")
            got.append(sc)
            self.scores[pid] = sc
        return got

    def _retry_or_fall_back(self, batch: list[Paper], parsed: ParsedReply | None, error: str) -> list[Paper]:
        """The batch's unscored papers to send again; those out of rounds (or of a stopped run)
        keep their local score."""
        retry = []
        for p in batch:
            if p.arxiv_id in self.scores:
                continue
            self.rounds[p.arxiv_id] = self.rounds.get(p.arxiv_id, 0) + 1
            why = error or (parsed.why_unscored(p.arxiv_id) if parsed is not None else "the reply was not JSON")
            if self.stopped or self.rounds[p.arxiv_id] >= self.cfg.max_rounds:
                self._fall_back(p.arxiv_id, self.stopped or why)
            else:
                retry.append(p)
        return retry

    def _fall_back(self, pid: str, why: str, source: str = "local-fallback") -> None:
        # The paper keeps its local comment: why it was ranked locally is said once for the day
        # (the notes) and per paper by its source ("Scored by the local ranker (the LLM call failed)").
        ls = self.local[pid]
        if source == "local-budget":
            self.budget_cut.append(pid)
        else:
            self.fallback[pid] = why
        self.scores[pid] = Score(pid, ls.relevance, ls.novelty, ls.comment, ls.raw, source)

    def _fall_back_all(self, batches: list[list[Paper]], why: str, source: str = "local-fallback") -> None:
        for b in batches:
            for p in b:
                self._fall_back(p.arxiv_id, why, source)

    # -- when to stop calling --------------------------------------------------------------
    def _stop(self, why: str) -> None:
        if not self.stopped:
            self.stopped = why

    def _time_limit_reached(self) -> bool:
        if time.monotonic() < self.deadline:
            return False
        self._stop(f"the time limit of {self.time_limit:g} s for the LLM phase "
                   "(llm.time_limit_seconds) was reached")
        return True

    def _count(self, outcome: CallOutcome) -> None:
        """A call's result for the circuit breaker: enough failed calls in a row and the
        endpoint is taken as down for this run (before any success: the first calls)."""
        if outcome.ok:
            self.warmed, self.failed_in_a_row, self.failed_requests_in_a_row = True, 0, 0
            return
        self.failed_in_a_row += 1
        self.failed_requests_in_a_row += len(outcome.attempts)
        n = self.failed_in_a_row
        if outcome.fatal:
            self._stop(f"the LLM refused the call ({outcome.error})")
        elif outcome.wait_asked is not None:
            self._stop(f"{outcome.error} in the LLM phase (llm.time_limit_seconds)")
        elif n >= self.cfg.give_up_after_failed_calls:
            if self.warmed:
                calls = "the last call" if n == 1 else f"{n} calls in a row"
            else:
                calls = "the first call" if n == 1 else f"the first {n} calls"
            requests = self.failed_requests_in_a_row
            self._stop(f"{calls} failed ({_last_error(outcome.error)}; {requests} request{'s' * (requests != 1)})")

    # -- the loop --------------------------------------------------------------------------
    def score_all(self, papers: list[Paper], criteria_version: int | None) -> None:
        # Asked once, before the first call: the batches are sized to fit what the server says.
        self.context = self.s.provider.context_tokens() or None
        self.time_limit = time_limit_seconds(self.cfg, self.s.provider.kind)
        queue = self._batches(papers)
        if self.cfg.batch_api and self.s.batch_runner is not None:
            queue = self._via_batch_api(queue, criteria_version)
        self.deadline = (self.started or time.monotonic()) + self.time_limit
        pool = ThreadPoolExecutor(max_workers=max(1, self.cfg.concurrency), thread_name_prefix="llm")
        in_flight: dict = {}
        try:
            while queue or in_flight:
                if self.stopped or self._time_limit_reached():
                    self._fall_back_all(queue, self.stopped)
                    queue = []
                else:
                    queue = self._submit(pool, queue, in_flight)
                if in_flight:
                    queue += self._collect(in_flight)
        finally:
            # Calls abandoned at the time limit end by themselves: every try has a hard deadline
            # at the limit, so no worker outlives it (and none keeps the interpreter alive).
            pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, pool: ThreadPoolExecutor, queue: list[list[Paper]], in_flight: dict) -> list[list[Paper]]:
        """Send batches while there is room; returns what is left to send."""
        # The first call goes alone: until one returns, the prefix is not in the cache (and a
        # dead endpoint is found out by one call, not by `concurrency` of them).
        limit = self.cfg.concurrency if self.warmed else 1
        while queue and len(in_flight) < limit:
            batch, *rest = self._fitting(queue.pop(0))
            queue[:0] = rest
            est = self._estimate(batch)
            if self._over_budget(est):
                self._fall_back_all([batch] + queue, "budget", "local-budget")
                return []
            msgs = messages(self.prefix, batch, self.cfg.abstract_chars)
            fut = pool.submit(self.s.provider.complete, msgs, self._max_tokens(len(batch)), len(batch), self.deadline,
                              [p.arxiv_id for p in batch])
            in_flight[fut] = (batch, est)
            self.reserved += est
            self.sent.update(p.arxiv_id for p in batch)
        return queue

    def _collect(self, in_flight: dict) -> list[list[Paper]]:
        """Take the next replies (waiting at most until the time limit and its grace);
        returns the batches to send again."""
        left = self.deadline + ABANDON_GRACE_SECONDS - time.monotonic()
        done, _ = wait(list(in_flight), timeout=max(0.0, left), return_when=FIRST_COMPLETED)
        if not done:
            self._time_limit_reached()
            self._fall_back_all([batch for batch, _ in in_flight.values()], self.stopped)
            in_flight.clear()
            self.reserved = 0.0
            return []
        retry = []
        for fut in done:
            batch, est = in_flight.pop(fut)
            self.reserved -= est
            outcome: CallOutcome = fut.result()
            for rec in outcome.attempts:
                self._record(rec)
            if outcome.too_long:
                retry += self._split(batch, outcome.context_tokens)
                continue
            self._count(outcome)
            again = self._take(batch, outcome.content if outcome.ok else None,
                               outcome.finish_reason, "" if outcome.ok else outcome.error, outcome.refusal)
            if again:
                retry.append(again)
        return retry

    def _split(self, batch: list[Paper], context: int | None) -> list[list[Paper]]:
        """A batch the server said does not fit its context: both halves go again (no round
        used up, no failed call for the breaker); a lone paper keeps its local score."""
        if context:
            self.context = context  # the next batches are sized to it
        if len(batch) > 1:
            self.split_too_long += 1
            half = (len(batch) + 1) // 2
            return [batch[:half], batch[half:]]
        size = f" of {self.context} tokens" if self.context else ""
        self._fall_back(batch[0].arxiv_id, f"too long for the model's context{size}")
        return []

    def _via_batch_api(self, queue: list[list[Paper]], criteria_version: int | None) -> list[list[Paper]]:
        """Send everything through the Batch API; returns what must still go direct."""
        runner = self.s.batch_runner
        requests = self._batch_requests(queue)
        pending = {p.arxiv_id: p for b in queue for p in b if p.arxiv_id not in self.scores}
        try:
            replies = runner.run(self.date, criteria_version, requests)
        except Exception as exc:  # the Batch API is an optimisation: never lose the run to it
            log.warning("Batch API failed (%s); using direct calls", exc)
            self.batch_notes.append(f"The Batch API failed ({exc}); direct calls were used.")
            replies = []
        self.batch_notes += runner.notes
        for r in replies:
            self._take_batch_reply(r, pending)
        left = [p for p in pending.values() if p.arxiv_id not in self.scores]
        for p in left:
            self.rounds.pop(p.arxiv_id, None)
        n = max(1, self.cfg.batch_size)
        if replies:
            self.batch_notes.append(f"Batch API (half price): {_papers(len(pending) - len(left))} scored, "
                                    f"{len(left)} sent by direct calls.")
        return [left[i:i + n] for i in range(0, len(left), n)]

    def _batch_requests(self, queue: list[list[Paper]]) -> dict[str, tuple[list[str], dict]]:
        """One Batch API request per batch, until the budget would be exceeded (the rest fall back)."""
        requests = {}
        for i, batch in enumerate(queue):
            est = self._estimate(batch, batch_api=True)
            if self._over_budget(est):
                self._fall_back_all(queue[i:], "budget", "local-budget")
                break
            self.reserved += est
            body = {"model": self.cfg.model, "messages": messages(self.prefix, batch, self.cfg.abstract_chars),
                    "max_completion_tokens": self._max_tokens(len(batch)),
                    "response_format": {"type": "json_object"} if self.cfg.response_format == "json_object" else
                    self.s.provider.response_format_param()}
            requests[f"b{i}"] = ([p.arxiv_id for p in batch], body)
        self.reserved = 0.0
        return requests

    def _take_batch_reply(self, reply: BatchReply, pending: dict[str, Paper]) -> None:
        self._record(reply.record)
        carried = [pending[i] for i in reply.arxiv_ids if i in pending]
        self.sent.update(p.arxiv_id for p in carried)
        if carried:
            # Anything the batch did not answer goes direct; no extra rounds counted.
            error = "" if reply.content is not None else reply.record.error
            self._take(carried, reply.content, reply.finish_reason, error)

    # -- what the digest and the run's output say ----------------------------------------------
    def day_llm_scores(self) -> dict[str, Score]:
        """The day's scores from the LLM: stored by earlier runs, and this run's."""
        day = {**self.earlier, **self.scores}
        return {i: sc for i, sc in day.items() if sc.source in LLM_SOURCES}

    def day_sent(self) -> set[str]:
        """The day's papers sent to the LLM: those it scored in earlier runs, and this run's."""
        return set(self.earlier) | self.sent

    def sent_note(self, considered: int, chosen: int, n_examples: int) -> str:
        by_model = len(self.day_llm_scores())
        earlier = len(set(self.earlier) - set(self.scores))
        before = f" ({earlier} of them by an earlier run of the day)" if earlier else ""
        return (f"Sent {len(self.day_sent())} of {_papers(considered)} to {self.cfg.model} (the local ranker's top "
                f"{chosen}; {counted(n_examples, 'few-shot example')} from the team's votes): {by_model} scored by "
                f"the model{before}. Papers below the cut keep their local score.")

    def _context_notes(self) -> list[str]:
        out = [self.too_small] if self.too_small else []
        if self.fitted and self.fitted < self.cfg.batch_size:
            out.append(f"Calls carried at most {_papers(self.fitted)} (llm.batch_size is {self.cfg.batch_size}) to fit "
                       f"the model's context of {self.context} tokens.")
        if self.split_too_long:
            out.append(f"The server found {counted(self.split_too_long, 'batch', 'batches')} too long for its "
                       f"context; each was split in halves and sent again (llm.context_tokens sizes them beforehand).")
        return out

    def _fallback_reason(self) -> str:
        reasons = sorted(set(self.fallback.values()))
        if self.stopped in reasons and len(reasons) == 1:
            return self.stopped
        return "the LLM failed on them (" + "; ".join(reasons[:3]) + ")"

    def notes(self) -> list[str]:
        out = self.batch_notes + self._context_notes()
        if self.budget_cut:
            out.append(f"Daily LLM budget (${self.cfg.daily_budget_usd:.2f}) reached: {_papers(len(self.budget_cut))} "
                       "were ranked by the local scorer instead.")
        if not self.price_known and self.cfg.daily_budget_usd:
            out.append(f"No price known for {self.cfg.model} (data/prices.toml): cost shown as unknown and the "
                       "daily budget cannot be enforced.")
        if self.fallback:
            out.append(f"{_papers(len(self.fallback))} kept their local score because {self._fallback_reason()}; "
                       "a re-run of the day tries them again.")
        flagged = sorted(i for i, sc in self.day_llm_scores().items() if sc.source == "llm-flagged")
        if flagged:
            out.append(f"{_papers(len(flagged))} flagged for text addressed to the AI scorer (possible prompt "
                       f"injection), scored alone and capped at the local score: {', '.join(flagged)}.")
        if self.unknown_ids:
            out.append(f"Dropped {counted(len(self.unknown_ids), 'score for a paper', 'scores for papers')} "
                       "the LLM was not asked about.")
        return out

    def warnings(self) -> list[str]:
        """One line for the run's output when papers fell back: the per-call detail is at DEBUG."""
        if not self.fallback:
            return []
        return [f"LLM scoring with {self.cfg.model}: {_papers(len(self.fallback))} ranked locally because "
                f"{self._fallback_reason()}; re-run the day to try them again (-v shows each call)."]


def _below_cut(ls: Score) -> Score:
    return Score(ls.arxiv_id, ls.relevance, ls.novelty, ls.comment, ls.raw, "local-below-cut")


def _papers(n: int) -> str:
    return counted(n, "paper")


def _tokens(chars: int) -> int:
    """Tokens of `chars` characters of prompt, over-estimated (CHARS_PER_TOKEN)."""
    return math.ceil(chars / CHARS_PER_TOKEN)


def _last_error(error: str) -> str:
    """The cause in a provider's "gave up after N tries: cause"."""
    return error.split(": ", 1)[1] if error.startswith("gave up after ") else error


def llm_configured(settings) -> bool:
    """An LLM is used when a key or an endpoint is configured (env, .env or settings)."""
    from ..config import secret

    return bool(secret("OPENAI_API_KEY") or secret("OPENAI_BASE_URL") or settings.get("llm.base_url"))


def build_openai_scorer(settings, db, prefilter, authors=None, *, batch_api: bool | None = None,
                        day_papers: Callable[[str], list[Paper]] | None = None) -> OpenAIScorer:
    """The scorer of a feed (`settings.feed`) from its settings and the environment (the key is
    never logged or stored); `day_papers` gives the feed's stored day."""
    from ..config import secret
    from ..llm.batch_api import BatchRunner
    from ..llm.provider import OpenAIChat

    cfg = LLMConfig.from_settings(settings)
    if batch_api is not None:
        cfg.batch_api = batch_api
    base_url = cfg.base_url or secret("OPENAI_BASE_URL")
    provider = OpenAIChat(
        cfg.model, api_key=secret("OPENAI_API_KEY"), base_url=base_url, timeout=cfg.timeout_seconds,
        server=cfg.server, context_tokens=cfg.context_tokens, db=db,
        max_tries=cfg.max_tries, response_format=cfg.response_format, reasoning_effort=cfg.reasoning_effort,
        # Routing hint for OpenAI's prompt cache; other servers may reject unknown fields.
        prompt_cache_key="arxiv-paper-scoring" if not base_url else "")
    scorer = OpenAIScorer(cfg, db, provider, prefilter, feed=settings.feed, authors=authors, day_papers=day_papers)
    if cfg.batch_api:
        scorer.batch_runner = BatchRunner(provider.client, db, scorer.name, cfg.model, feed=settings.feed,
                                          deadline_seconds=cfg.batch_deadline_minutes * 60,
                                          poll_seconds=cfg.batch_poll_seconds)
    return scorer
