"""Benchmark of votes under load: many people clicking 👍 / 👎 at once.

The real Bolt app (HTTP mode, as `python -m bot run --http` serves it, but through wsgiref)
on 127.0.0.1, Slack-signed block_actions requests, the local Slack Web API server, a fresh
SQLite file. N clicks from T concurrent clients on the papers of a posted day. Prints the
ack time (what Slack waits for; it gives up at 3 s), the time until every tally update has
reached Slack, votes lost (must be 0) and whether each message ends with the true tally.

    python bench/slack_votes.py [--clicks 200] [--threads 8]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import feedback  # noqa: E402
from bot.config import DEFAULT_FEED  # noqa: E402
from tests.servers.slack_server import DEFAULT_CHANNEL_ID  # noqa: E402
from tests.slack_helpers import SlackSender, block_actions_payload, serve_app  # noqa: E402
from tests.slack_listener_fixtures import PAPERS, make_harness  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clicks", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        settings, db, slack, app, messages = make_harness(Path(tmp))
        # Production answers Slack before the work (process_before_response=False); the
        # harness builds the test variant, so build the production one on the same parts.
        from bot.slack.app import create_app
        from tests.slack_helpers import SIGNING_SECRET

        app = create_app(settings, db, app.client, SIGNING_SECRET, process_before_response=False)
        clicks = [(f"U{rng.randrange(40):04d}", rng.choice(["vote_up", "vote_down"]), rng.choice(PAPERS).arxiv_id)
                  for _ in range(args.clicks)]
        # What the votes must be: the toggle rule replayed in click order per (user, paper).
        by_key: dict = {}
        for user, action, paper in clicks:
            by_key.setdefault((user, paper), []).append(action)
        expected: dict = {}
        for (user, paper), actions in by_key.items():
            vote = 0
            for a in actions:
                v = 1 if a == "vote_up" else -1
                vote = 0 if vote == v else v
            if vote:
                expected[(user, paper)] = vote
        with serve_app(app) as url:
            sender = SlackSender(url)

            by_user: dict = {}
            for user, action, paper in clicks:
                by_user.setdefault(user, []).append((action, paper))

            def send_all(user):
                """One person's clicks, in order; each waits for the previous one's
                confirmation, as a person's clicks are seconds apart. People click at once."""
                times = []
                for n, (action, paper) in enumerate(by_user[user], 1):
                    t = time.perf_counter()
                    r = sender.action(block_actions_payload(user, action, paper, message_ts=messages[paper]))
                    times.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.status_code
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline and \
                            sum(c.params["user"] == user for c in slack.calls_to("chat.postEphemeral")) < n:
                        time.sleep(0.005)
                return times

            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
                acks = [t for ts in pool.map(send_all, sorted(by_user)) for t in ts]
            deadline = time.monotonic() + 30
            while len(slack.calls_to("chat.update")) < args.clicks and time.monotonic() < deadline:
                time.sleep(0.01)
            settled = time.perf_counter() - start
        held = {(r["user_id"], r["arxiv_id"]): r["vote"] for r in db.query("select * from feedback")}
        lost = sum(1 for k, v in expected.items() if held.get(k) != v) + sum(1 for k in held if k not in expected)
        true_tallies = 0
        for p in PAPERS:
            t = feedback.tally(db, p.arxiv_id, feed=DEFAULT_FEED)
            shown = slack.messages[DEFAULT_CHANNEL_ID][messages[p.arxiv_id]]
            ctx_line = next(b["elements"][0]["text"] for b in shown["blocks"] if b["type"] == "context")
            true_tallies += f"👍 {t['up']} · 👎 {t['down']}" in ctx_line
        slack.stop()
    acks.sort()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"clicks {args.clicks} by {len(by_user)} people, {args.threads} clicking at once, on {len(PAPERS)} papers")
    print(f"ack seconds: p50 {statistics.median(acks):.3f}  p95 {acks[int(0.95 * (len(acks) - 1))]:.3f}  "
          f"max {acks[-1]:.3f}  (Slack's limit: 3)")
    print(f"all {len(slack.calls_to('chat.update'))} tally updates at Slack after {settled:.2f} s "
          f"({args.clicks / settled:.0f} clicks/s)")
    print(f"votes lost or wrong: {lost} (must be 0); messages showing the true tally: {true_tallies}/{len(PAPERS)}")
    return 0 if lost == 0 and true_tallies == len(PAPERS) else 1


if __name__ == "__main__":
    sys.exit(main())
