"""Benchmark of the daily Slack post: a 30-paper day to a local Slack Web API server.

Real HTTP on 127.0.0.1, the real slack_sdk client with its 429 retry handler, the real
delivery record in a fresh SQLite file. Three rounds on the same day:
1. the first post, with the configured pacing (default 1 message/s per channel) and a
   429 (Retry-After: 1) injected every 10th chat.postMessage;
2. a fatal error (token revoked) after 12 posts, then a resume;
3. a second run of the same day, which must post nothing.
Prints messages sent, duplicates (must be 0) and seconds per message.

    python bench/slack_post.py [--papers 30] [--pace 1.0]
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
from bot.slack.client import make_web_client  # noqa: E402
from bot.pipeline import stored_report  # noqa: E402
from bot.slack.post import post_day  # noqa: E402
from tests.servers.slack_server import DEFAULT_CHANNEL_ID, SlackServer  # noqa: E402
from tests.slack_helpers import BOT_TOKEN, stored_day  # noqa: E402

DATE = "2025-02-24"


def paper_messages(slack: SlackServer) -> list[str]:
    return [b["block_id"] for m in slack.posted(DEFAULT_CHANNEL_ID) for b in m.get("blocks") or []
            if b.get("block_id", "").startswith(("paper:", "day:"))]


def report(label: str, slack: SlackServer, result, seconds: float) -> None:
    counts = Counter(paper_messages(slack))
    dups = sum(n - 1 for n in counts.values() if n > 1)
    per = f"{seconds / result.sent:5.3f} s/message" if result.sent else "no message"
    statuses = Counter(c.status for c in slack.calls_to("chat.postMessage"))
    print(f"{label:<34} status={result.status:<15} sent={result.sent:>3}  in channel={len(counts):>3}  "
          f"duplicates={dups}  {seconds:6.2f} s  {per}  HTTP {dict(statuses)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=30)
    ap.add_argument("--pace", type=float, default=None, help="seconds between posts (default: settings, 1.0)")
    args = ap.parse_args()
    logging.getLogger("bot").setLevel(logging.CRITICAL)  # round 2's error is printed below instead
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    settings = load_settings()
    if args.pace is not None:
        settings = settings.override(slack__seconds_between_posts=args.pace)
    print(f"{args.papers} papers, pacing {settings['slack.seconds_between_posts']} s between posts\n")

    with tempfile.TemporaryDirectory() as tmp, SlackServer() as slack:
        db = open_db(Path(tmp) / "bench.sqlite")
        stored_day(db, DATE, args.papers)
        client = make_web_client(BOT_TOKEN, slack.api_url)
        day = stored_report(settings, db, DATE)
        for k in range(10, args.papers + 1, 10):
            slack.rate_limit("chat.postMessage", retry_after=1, after=k - 1)  # counts from now
        t0 = time.perf_counter()
        first = post_day(settings, db, client, day)
        report("1. first post (429 every 10th)", slack, first, time.perf_counter() - t0)

        # Same day in another channel, interrupted by a revoked token after 12 posts.
        slack.add_channel("C0OTHER", "ml-reading")
        slack.clear_scripts()
        slack.fail("chat.postMessage", "token_revoked", after=12, times=None)
        t0 = time.perf_counter()
        broken = post_day(settings, db, client, day, channel="C0OTHER")
        t1 = time.perf_counter()
        slack.clear_scripts()
        resumed = post_day(settings, db, client, day, channel="C0OTHER")
        t2 = time.perf_counter()
        other = Counter(b["block_id"] for m in slack.posted("C0OTHER") for b in m.get("blocks") or []
                        if b.get("block_id", "").startswith(("paper:", "day:")))
        print(f"{'2. interrupted (token_revoked)':<34} status={broken.status:<15} sent={broken.sent:>3}  "
              f"{t1 - t0:6.2f} s  -> {broken.message[:70]}...")
        print(f"{'   resumed':<34} status={resumed.status:<15} sent={resumed.sent:>3}  in channel={len(other):>3}  "
              f"duplicates={sum(n - 1 for n in other.values())}  {t2 - t1:6.2f} s  "
              f"threads={sum(1 for m in slack.posted('C0OTHER') if 'thread_ts' not in m)}")

        before = len(slack.calls_to("chat.postMessage"))
        t0 = time.perf_counter()
        again = post_day(settings, db, client, day)
        report("3. second run, same day+channel", slack, again, time.perf_counter() - t0)
        print(f"\nchat.postMessage calls in round 3: {len(slack.calls_to('chat.postMessage')) - before} (must be 0)")


if __name__ == "__main__":
    main()
