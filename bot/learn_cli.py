"""Commands for learning from feedback: `eval` (the replay benchmark) and
`feedback import FILE` / `feedback export [FILE]` (one feed's votes: `--feed NAME`, which may be
left out when there is one feed)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .cli import ONE_FEED_HELP, OwnDatabase, add_feed_option, arguments, command, iso_date, open_store, whole_number
from .config import ROOT, Settings
from .feeds import chosen_feed
from .progress import StepBars

EVAL_CACHE = ROOT / "data" / "cache" / "eval-embeddings.sqlite"
MAX_PROBLEMS_SHOWN = 20


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--labels", required=True, metavar="FILE", help="labelled papers, JSON lines (.jsonl or .jsonl.gz)")
    p.add_argument("--criteria", required=True, metavar="FILE", help="the team's criteria text")
    p.add_argument("--score-from", type=iso_date, metavar="DATE",
                   help="average the metrics over days on or after DATE (feedback still accumulates before)")
    p.add_argument("--top", type=whole_number("a number of papers", 1, 100_000), default=10, help="papers the team sees (and reacts to) each day")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--cache", metavar="FILE", default=str(EVAL_CACHE),
                   help="SQLite file caching the paper embeddings between runs")
    p.add_argument("--threads", type=whole_number("a number of threads", 1, 1024), help="onnxruntime threads for embedding (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _report_problems(problems: list[str]) -> None:
    """One warning per skipped line ("FILE:LINE: why"), the first MAX_PROBLEMS_SHOWN of them."""
    for line in problems[:MAX_PROBLEMS_SHOWN]:
        print(f"warning: {line} (skipped)", file=sys.stderr)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"warning: ... and {len(problems) - MAX_PROBLEMS_SHOWN} more lines skipped", file=sys.stderr)


def _report_author_matches(lines: list[int], path: str, shown: int = 10) -> None:
    """One line for all the author-match rows the stream carries without scores."""
    if not lines:
        return
    more = f" and {len(lines) - shown} more" if len(lines) > shown else ""
    print(f"note: skipped {len(lines)} author-match rows with no relevance score (picked for their authors, "
          f"nothing to rank): lines {', '.join(map(str, lines[:shown]))}{more} of {path}", file=sys.stderr)


@command("eval", "replay a labelled paper stream day by day: zero-shot vs with feedback",
         database=OwnDatabase("cache", "eval's --cache option"))
@arguments(_eval_args)
def cmd_eval(args, settings: Settings) -> int:
    from sqlite_utils import Database

    from . import criteria as criteria_mod
    from .embed import EmbeddingCache, Embedder
    from .eval import read_labels, replay
    from .learn import LearnConfig
    from .scoring.openai_scorer import LLMConfig

    started = time.monotonic()
    try:
        text = criteria_mod.read_text_file(args.criteria)  # the digest's own checks and messages
    except ValueError as exc:
        raise ValueError(f"criteria file {args.criteria}: {exc}") from None
    crit = criteria_mod.parse(text)
    labels = read_labels(args.labels)
    _report_problems(labels.problems)
    _report_author_matches(labels.author_matches, args.labels)
    if not labels.papers:
        raise ValueError(f"labels file {args.labels} has no usable lines")
    if args.score_from and not any(it.date >= args.score_from for it in labels.papers):
        raise ValueError(f"no day in {args.labels} is on or after --score-from {args.score_from}")

    Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(Database(args.cache), Embedder(threads=args.threads))
    with StepBars(quiet=args.quiet) as progress:
        result = replay(labels.papers, crit, cache, LearnConfig.from_settings(settings), top=args.top,
                        score_from=args.score_from, progress=progress, started=started,
                        prefilter=LLMConfig.from_settings(settings).prefilter())
    out = result.to_json()
    if args.json:
        print(json.dumps(out))
        return 0
    fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    period = f"days on or after {args.score_from}" if args.score_from else "all days"
    print(f"replayed {out['papers']} papers over {len(set(it.date for it in labels.papers))} days "
          f"({result.embedded} embedded now, the rest from {args.cache}); metrics over {out['days']} {period}")
    print(f"  {'':14s} {'auc':>6s} {'p@' + str(args.top):>6s}")
    for arm in ("zero_shot", "with_feedback"):
        print(f"  {arm:14s} {fmt(out[arm]['auc']):>6s} {fmt(out[arm]['p_at_top']):>6s}")
    print(f"  {'oracle':14s} {'':>6s} {fmt(out['oracle_p_at_top']):>6s}")
    print(f"  {'random':14s} {'':>6s} {fmt(out['random_p_at_top']):>6s}")
    if out["prefilter_sent"] is not None:
        print(f"  LLM pre-filter (llm.prefilter_*): sends {fmt(out['prefilter_sent'])} of a day's papers, "
              f"{fmt(out['prefilter_recall'])} of its positives (prefilter_recall)")
    print(f"  thumbs given: {out['labels']['pos']} up, {out['labels']['neg']} down; {out['seconds']:.1f} s")
    for caveat in out["caveats"]:
        print(f"note: {caveat}")
    return 0


def _feedback_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="add votes from a JSON lines file (arxiv_id, user, vote, time)")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.add_argument("--db", metavar="FILE", help="SQLite file (default: storage.database)")
    add_feed_option(imp, says=ONE_FEED_HELP)
    exp = sub.add_parser("export", help="write the current votes as JSON lines (to FILE or stdout)")
    exp.add_argument("file", metavar="FILE", nargs="?")
    exp.add_argument("--db", metavar="FILE", help="SQLite file (default: storage.database)")
    add_feed_option(exp, says=ONE_FEED_HELP)


@command("feedback", "import or export one feed's votes (JSON lines: arxiv_id, user, vote, time)")
@arguments(_feedback_args)
def cmd_feedback(args, settings: Settings) -> int:
    from .feedback_io import import_votes, open_input

    db = open_store(settings, args.db)
    feed = chosen_feed(settings, db, args.feed).feed
    if args.action == "export":
        return _export(db, args.file, feed=feed)
    with open_input(args.file) as fh, StepBars(quiet=args.quiet, unit="vote") as progress:
        rep = import_votes(db, fh, source=args.file, progress=progress, feed=feed)
    _report_problems(rep.problems)
    print("\n".join(rep.summary(args.file)))
    return 0


def _export(db, file: str | None, *, feed: str) -> int:
    """The feed's votes to `file`, or to stdout without one; the count on stderr."""
    from .feedback_io import export_votes
    from .text import counted

    if file:
        try:
            with open(file, "w", encoding="utf-8") as fh:
                n = export_votes(db, fh, feed=feed)
        except OSError as exc:
            raise ValueError(f"cannot write {file}: {exc.strerror or exc}") from None
        print(f"exported {counted(n, 'vote')} to {file} (feed {feed})", file=sys.stderr)
    else:
        n = export_votes(db, sys.stdout, feed=feed)
        print(f"exported {counted(n, 'vote')} (feed {feed})", file=sys.stderr)
    return 0
