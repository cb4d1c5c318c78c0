"""The sample day scored by a real local LLM server (llama.cpp): does the wire work?

Runs the daily pipeline on data/samples/2025-02-24.xml with a fresh temporary database and
a pre-filter ceiling of --papers, against llama-cpp-python's server with SmolLM2-135M-Instruct
(started here from requirements-llama.txt, see README), or against a server you name with
--base-url (llama-server, vLLM, Ollama). Prints papers sent, scored by the model, fallen
back to their local score, seconds, tokens and calls. SmolLM2's scores are meaningless; the
count scored by the model is what shows the wire works (target: 18 of 20).

    python bench/local_llm.py [--papers 20] [--n-ctx 8192] [--batch-size N] [--base-url URL --model NAME]
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import load_settings  # noqa: E402
from bot.db import open_db  # noqa: E402
from bot.pipeline import SAMPLE_FEED, make_scorer, run_day  # noqa: E402
from bot.scoring.base import LLM_SOURCES  # noqa: E402
from tests.servers.llama_cpp import LlamaCppServer  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--papers", type=int, default=20, help="pre-filter ceiling: papers sent to the model")
    ap.add_argument("--batch-size", type=int, default=0, help="llm.batch_size (0: the settings' value)")
    ap.add_argument("--concurrency", type=int, default=1, help="llm.concurrency (match the server's slots)")
    ap.add_argument("--n-ctx", type=int, default=8192, help="context of the server started here")
    ap.add_argument("--threads", type=int, default=0, help="threads of the server started here (0: all cores)")
    ap.add_argument("--base-url", default="", help="use this running server instead of starting one")
    ap.add_argument("--model", default="", help="model name on --base-url")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another setting, e.g. --set llm.server=llama.cpp (TOML value)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log the scorer's INFO lines")
    return ap.parse_args()


def extra_settings(pairs: list[str]) -> dict:
    import tomllib

    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key.strip().replace(".", "__")] = tomllib.loads(f"v = {value}")["v"]
    return out


def settings_for(tmp: Path, args: argparse.Namespace, base_url: str, model: str):
    changes = dict(storage__database=str(tmp / "bench.sqlite"), storage__digest_dir=str(tmp / "digests"),
                   llm__base_url=base_url, llm__model=model, llm__prefilter_ceiling=args.papers,
                   llm__prefilter_floor=0, llm__concurrency=args.concurrency, llm__daily_budget_usd=0.0,
                   # Every paper of the ceiling is scored with its abstract: the count scored shows the
                   # scoring wire (a 135M model's title screen only drops papers at random).
                   llm__title_screen=False)
    if args.batch_size:
        changes["llm__batch_size"] = args.batch_size
    changes.update(extra_settings(args.set))
    return load_settings().override(**changes)


def run(settings) -> tuple[object, dict, float]:
    """One cold run of the sample day: its outcome, the scores by source, the seconds."""
    db = open_db(settings.path("storage.database"))
    scorer = make_scorer(settings, db)
    results = []
    score = scorer.score

    def kept(*a, **kw):  # the run's own result, with the fallbacks the database does not keep
        results.append(score(*a, **kw))
        return results[-1]

    scorer.score = kept
    t0 = time.perf_counter()
    outcome = run_day(settings, db, feed_file=SAMPLE_FEED, scorer=scorer)
    seconds = time.perf_counter() - t0
    sources = Counter(s.source for r in results for s in r.scores.values())
    return outcome, sources, seconds


def report(outcome, sources: Counter, seconds: float, args: argparse.Namespace) -> None:
    scored = sum(sources[s] for s in LLM_SOURCES)
    fell_back = sources["local-fallback"] + sources["local-budget"]
    u = outcome.report.usage or {}
    print(f"papers sent to the model:   {scored + fell_back}  (ceiling {args.papers})")
    print(f"scored by the model:        {scored}  (flagged {sources['llm-flagged']})  target >= {round(args.papers * 0.9)}")
    print(f"fell back to local score:   {fell_back}")
    print(f"seconds (whole run):        {seconds:.1f}")
    print(f"calls: {u.get('calls', 0)}, prompt tokens: {u.get('prompt_tokens', 0)}, "
          f"completion tokens: {u.get('completion_tokens', 0)}, cached: {u.get('cached_tokens', 0)}")
    print("notes of the day:")
    for note in outcome.report.notes:
        print(f"  - {note}")


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    os.environ.pop("OPENAI_API_KEY", None)  # a local server: never send a real key
    os.environ.pop("OPENAI_BASE_URL", None)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    server = None
    if not args.base_url:
        server = LlamaCppServer(n_ctx=args.n_ctx, n_threads=args.threads or None).start()
        print(f"llama_cpp.server (SmolLM2-135M-Instruct, n_ctx {args.n_ctx}, {server.n_threads} threads) "
              f"up in {server.started_in:.1f} s")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(Path(tmp), args, args.base_url or server.base_url,
                                    args.model or (server.model if server else load_settings()["llm.model"]))
            report(*run(settings), args)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
