"""Shared set-up for the listener tests: the real Bolt app over real HTTP on 127.0.0.1,
wired to the local Slack Web API server, with a day already posted as a thread.

Import the fixtures into a test module: `from tests.slack_listener_fixtures import h, harness_factory`.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest

from bot import store
from bot.config import load_settings
from bot.db import open_db
from bot.models import Paper
from bot.slack.app import create_app
from bot.slack.client import make_web_client
from bot.pipeline import stored_report
from bot.slack.post import post_day
from tests.servers.slack_server import DEFAULT_CHANNEL_ID, TEAM_ID, SlackServer
from tests.slack_helpers import (APP_ID, BOT_TOKEN, SIGNING_SECRET, CountingExecutor, SlackSender,
                                 count_lazy_listeners, serve_app)

DATE = "2025-02-24"
EVIL_TITLE = "<!channel> <https://evil.example|click> & win"
PAPERS = [
    Paper("2502.00001", "Sparse autoencoders find features in transformers", ["Ada Lovelace", "Alan Turing"],
          "We study sparse dictionary learning on model activations.", ["cs.LG", "cs.AI"]),
    Paper("2502.00002", EVIL_TITLE, ["Mallory <script>"], "An abstract with <!here> in it.", ["cs.CL"]),
    Paper("2502.00003", "Mixture of experts scaling laws", ["Grace Hopper"], "Scaling MoE models.", ["cs.LG"]),
]


def eventually(check, timeout: float = 10.0, what: str = "the background work"):
    """Poll `check()` until it returns something truthy; fail (not hang) after `timeout`.
    A bound for failing, not a speed assertion: background listeners finish in milliseconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


class ResponseUrlServer:
    """Stands in for hooks.slack.com: records what the app posts to a command's response_url."""

    def __init__(self):
        self.posts: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.posts.append({"path": self.path, "body": json.loads(body or b"{}")})
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/commands/{TEAM_ID}/1/x"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        with self.lock:
            return [p["body"].get("text", "") for p in self.posts]

    def close(self):
        self.http.shutdown()
        self.http.server_close()


@dataclass
class Harness:
    app: object
    db: object
    settings: object
    slack: SlackServer
    sender: SlackSender
    hooks: ResponseUrlServer
    messages: dict  # arxiv_id (or "parent") -> ts of the posted message
    listeners: CountingExecutor  # the app's background (lazy) listeners still running

    def handled(self, what: str = "the events sent") -> None:
        """Wait until the app has handled every request answered so far, background work included."""
        eventually(lambda: self.listeners.busy == 0, what=what)

    def command(self, text: str, user_id: str = "U0ALICE", channel_id: str = DEFAULT_CHANNEL_ID, **kw):
        """`/arxiv TEXT` as Slack sends it, with response_url pointing at the local hooks server."""
        fields = {
            "token": "legacy-verification-token", "team_id": TEAM_ID, "team_domain": "test",
            "channel_id": channel_id, "channel_name": "arxiv-papers", "user_id": user_id,
            "user_name": user_id.lower(), "command": "/arxiv", "text": text, "api_app_id": APP_ID,
            "is_enterprise_install": "false", "response_url": self.hooks.url,
            "trigger_id": f"{time.time_ns()}.trigger",
        }
        return self.sender.post(urlencode(fields), "application/x-www-form-urlencoded", **kw)

    def votes(self, arxiv_id: str) -> dict[str, tuple[int, str]]:
        return {r["user_id"]: (r["vote"], r["source"]) for r in
                self.db.query("select * from feedback where arxiv_id = ?", [arxiv_id])}

    def updates_of(self, ts: str) -> list:
        return [c for c in self.slack.calls_to("chat.update") if c.params.get("ts") == ts]


def posted_day(settings, db, client) -> dict:
    """Store three picked papers for DATE and post them as a thread (the colleague's real
    post_day against the local server); returns {item: ts}."""
    store.save_papers(db, DATE, PAPERS)
    with db.conn:
        db["runs"].insert({"date": DATE, "status": "done", "scorer": "local", "criteria_version": 1,
                           "n_feed": 10, "n_kept": 3, "n_scanned": 3, "n_picked": 3})
        for rank, p in enumerate(PAPERS, 1):
            db["picks"].insert({"date": DATE, "rank": rank, "arxiv_id": p.arxiv_id, "relevance": 8,
                                "novelty": 7, "comment": f"comment on {p.arxiv_id}", "author_match": 0,
                                "scorer": "local"})
    result = post_day(settings, db, client, stored_report(settings, db, DATE), sleep=lambda s: None)
    assert result.status == "posted", result.message
    return {r["item"]: r["ts"] for r in db.query("select item, ts from deliveries where date = ?", [DATE])}


def make_harness(tmp_path, *, admins=(), run_day=None):
    settings = load_settings().override(slack__admins=list(admins), slack__seconds_between_posts=0)
    db = open_db(tmp_path / "bot.sqlite")
    slack = SlackServer().start()
    client = make_web_client(BOT_TOKEN, slack.api_url)
    messages = posted_day(settings, db, client)
    slack.clear_calls()
    app = create_app(settings, db, client, SIGNING_SECRET, process_before_response=True, run_day=run_day)
    return settings, db, slack, app, messages


@pytest.fixture
def harness_factory(tmp_path):
    """Builds a harness (optionally with admins or a stand-in run function); cleans up."""
    stack = []

    def build(*, admins=(), run_day=None) -> Harness:
        settings, db, slack, app, messages = make_harness(tmp_path / f"h{len(stack)}", admins=admins,
                                                          run_day=run_day)
        listeners = count_lazy_listeners(app)
        serving = serve_app(app)
        url = serving.__enter__()
        hooks = ResponseUrlServer()
        stack.append((slack, serving, hooks))
        return Harness(app, db, settings, slack, SlackSender(url), hooks, messages, listeners)

    yield build
    for slack, serving, hooks in stack:
        serving.__exit__(None, None, None)
        hooks.close()
        slack.stop()


@pytest.fixture
def h(harness_factory) -> Harness:
    return harness_factory()


__all__ = ["DATE", "EVIL_TITLE", "PAPERS", "Harness", "eventually", "h", "harness_factory"]
