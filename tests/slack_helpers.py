"""Drive the real Bolt app over real HTTP with Slack-signed requests, as Slack would.

    with SlackServer() as slack, serve_app(app) as url:
        sender = SlackSender(url, SIGNING_SECRET)
        sender.command("/arxiv", "help", user_id="U1")
        sender.action(block_actions_payload(...))
        sender.event(reaction_event("reaction_added", "U1", "+1", channel, ts))

Signing follows Slack's documentation: `X-Slack-Signature: v0=` + HMAC-SHA256 of
`v0:{timestamp}:{raw body}` with the signing secret, and `X-Slack-Request-Timestamp`.
The payload builders produce the shapes Slack documents for each kind of request.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import Executor, Future
from socketserver import ThreadingMixIn
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

from tests.servers.slack_server import BOT_ID, BOT_USER_ID, DEFAULT_CHANNEL_ID, TEAM_ID

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
APP_ID = "A0APP"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_app(app, path: str = "/slack/events"):
    """Serve a Bolt app (through bot.slack.wsgi) on 127.0.0.1; yields the events URL."""
    from bot.slack.wsgi import wsgi_app

    server = make_server("127.0.0.1", 0, wsgi_app(app, path), server_class=_ThreadingWSGIServer,
                         handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="bolt-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{path}"
    finally:
        server.shutdown()
        server.server_close()


class CountingExecutor(Executor):
    """Runs the app's lazy listeners on the executor Bolt made and counts those not finished.
    Bolt submits a request's lazy listeners before it answers the HTTP request, so once the
    answer is in, `busy == 0` means the app has handled everything it was sent."""

    def __init__(self, inner: Executor):
        self.inner = inner
        self._lock = threading.Lock()
        self.busy = 0  # submitted and not yet finished (a failed listener counts as finished)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        with self._lock:
            self.busy += 1
        future = self.inner.submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: Future) -> None:
        with self._lock:
            self.busy -= 1

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        self.inner.shutdown(wait, **kwargs)


def count_lazy_listeners(app) -> CountingExecutor:
    """Put a CountingExecutor in front of the executor the app's lazy listeners run on."""
    lazy = app.listener_runner.lazy_listener_runner
    lazy.executor = CountingExecutor(lazy.executor)
    return lazy.executor


def sign(body: str, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode("utf-8")
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


class SlackSender:
    """Posts signed requests to the app. `timestamp` / `secret` overrides forge bad ones."""

    def __init__(self, url: str, secret: str = SIGNING_SECRET, timeout: float = 10):
        self.url = url
        self.secret = secret
        self.timeout = timeout

    def post(self, body: str, content_type: str, *, timestamp: int | None = None,
             secret: str | None = None, signature: str | None = None,
             headers: dict | None = None) -> requests.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or sign(body, ts, secret or self.secret),
            **(headers or {}),
        }
        return requests.post(self.url, data=body.encode("utf-8"), headers=headers, timeout=self.timeout)

    @staticmethod
    def envelope(event: dict) -> dict:
        """Events API: the JSON `event_callback` envelope Slack wraps around `event`."""
        return {
            "token": "legacy-verification-token", "team_id": TEAM_ID, "api_app_id": APP_ID,
            "event": event, "type": "event_callback", "event_id": f"Ev{time.time_ns()}",
            "event_time": int(float(event.get("event_ts") or time.time())),
            "authorizations": [{"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID,
                                "is_bot": True, "is_enterprise_install": False}],
        }

    def event(self, event: dict, **kw) -> requests.Response:
        """Events API: `event` in a fresh envelope."""
        return self.event_envelope(self.envelope(event), **kw)

    def event_envelope(self, envelope: dict, *, retry_num: int = 0, **kw) -> requests.Response:
        """Send an envelope; `retry_num` > 0 sends it as Slack's retry of an unanswered one
        (same event_id and times, with the retry headers)."""
        if retry_num:
            kw["headers"] = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout",
                             **(kw.get("headers") or {})}
        return self.post(json.dumps(envelope), "application/json", **kw)

    def interactive(self, payload: dict, **kw) -> requests.Response:
        """Interactivity (buttons, view submissions): form body `payload=<json>`."""
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kw)

    action = interactive

    def command(self, command: str, text: str = "", *, user_id: str = "U0ALICE",
                channel_id: str = DEFAULT_CHANNEL_ID, **kw) -> requests.Response:
        """A slash command: plain form fields."""
        fields = {
            "token": "legacy-verification-token", "team_id": TEAM_ID, "team_domain": "test",
            "channel_id": channel_id, "channel_name": "arxiv-papers", "user_id": user_id,
            "user_name": user_id.lower(), "command": command, "text": text, "api_app_id": APP_ID,
            "is_enterprise_install": "false", "response_url": "https://hooks.slack.com/commands/T0TEAM/1/x",
            "trigger_id": f"{time.time_ns()}.trigger",
        }
        return self.post(urlencode(fields), "application/x-www-form-urlencoded", **kw)


# ---- payload shapes (as documented by Slack) ----------------------------------------------

def block_actions_payload(user_id: str, action_id: str, value: str, *, channel: str = DEFAULT_CHANNEL_ID,
                          message_ts: str = "1700000001.000001", block_id: str = "",
                          message: dict | None = None, action_ts: float | None = None) -> dict:
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID, "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"{time.time_ns()}.trigger",
        "team": {"id": TEAM_ID, "domain": "test"},
        "channel": {"id": channel, "name": "arxiv-papers"},
        "message": message or {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": message_ts, "text": ""},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/x",
        "actions": [{"action_id": action_id, "block_id": block_id or f"paper:{value}", "value": value,
                     "type": "button", "action_ts": f"{time.time() if action_ts is None else action_ts:.6f}",
                     "text": {"type": "plain_text", "text": action_id, "emoji": True}}],
    }


def reaction_event(kind: str, user_id: str, reaction: str, channel: str, ts: str,
                   item_user: str = BOT_USER_ID, event_ts: float | None = None) -> dict:
    """`reaction_added` / `reaction_removed` on a message, at `event_ts` (default now)."""
    return {"type": kind, "user": user_id, "reaction": reaction, "item_user": item_user,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": f"{time.time() if event_ts is None else event_ts:.6f}"}


def app_home_opened_event(user_id: str) -> dict:
    return {"type": "app_home_opened", "user": user_id, "channel": "D0HOME", "tab": "home",
            "event_ts": f"{time.time():.6f}"}


def view_submission_payload(user_id: str, callback_id: str, values: dict, *, view_id: str = "V00000001",
                            private_metadata: str = "") -> dict:
    """`values` as Slack sends them: {block_id: {action_id: {"type": ..., "value": ...}}}."""
    return {
        "type": "view_submission", "team": {"id": TEAM_ID, "domain": "test"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID, "token": "legacy-verification-token", "trigger_id": f"{time.time_ns()}.trigger",
        "view": {"id": view_id, "team_id": TEAM_ID, "type": "modal", "callback_id": callback_id,
                 "private_metadata": private_metadata, "hash": "hash1", "state": {"values": values},
                 "title": {"type": "plain_text", "text": "x"}, "blocks": []},
        "response_urls": [],
    }


# ---- a stored, already-scored day (what the pipeline leaves behind) -------------------------

def stored_day(db, date: str = "2025-02-24", n: int = 5, *, titles: list[str] | None = None,
               scorer: str = "local:minilm", criteria_version: int = 1) -> list[str]:
    """Save `n` papers with scores and picks for `date` through the real store; returns ids
    in pick order. Titles default to "Paper k"; pass odd ones (long, hostile) to test rendering."""
    from bot import store
    from bot.db import now
    from bot.models import Paper, Score

    ids = [f"2502.{15000 + k:05d}" for k in range(n)]
    papers = [Paper(arxiv_id=i, title=(titles[k] if titles and k < len(titles) else f"Paper {k + 1} on learning"),
                    authors=[f"Author {j} Surname{k}" for j in range(1 + k % 9)],
                    abstract=f"Abstract of paper {k + 1}. " + "We study things. " * 40,
                    categories=["cs.LG", "cs.AI"]) for k, i in enumerate(ids)]
    store.save_papers(db, date, papers)
    store.save_scores(db, scorer, criteria_version, date,
                      [Score(i, 9 - k % 3, 5 + k % 4, f"Relevant to topic {k % 3}", raw=1.0 - k / 100) for k, i in enumerate(ids)])
    with db.conn:
        db.conn.execute("delete from picks where date = ?", (date,))
        db.conn.executemany(
            "insert into picks (date, rank, arxiv_id, relevance, novelty, comment, author_match, scorer) values (?,?,?,?,?,?,?,?)",
            [(date, k + 1, i, 9 - k % 3, 5 + k % 4, f"Relevant to topic {k % 3}", 0, scorer) for k, i in enumerate(ids)])
        db.conn.execute(
            """insert or replace into runs (date, status, source, scorer, criteria_version, n_feed, n_kept,
                   n_scanned, n_picked, started_at, finished_at, attempts) values (?,?,?,?,?,?,?,?,?,?,?,?)""",
            (date, "done", "test", scorer, criteria_version, n * 10, n * 5, n * 5, n, now(), now(), 1))
    return ids


def sample_feed(n_items: int) -> str:
    """The shipped sample day's RSS cut to its first `n_items` items (0: an empty day)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "data" / "samples" / "2025-02-24.xml").read_text(encoding="utf-8")
    items = re.findall(r"\s*<item>.*?</item>", text, flags=re.S)
    head, tail = text.split(items[0], 1)[0], text.rsplit(items[-1], 1)[1]
    return head + "".join(items[:n_items]) + tail
