"""Socket Mode, the app's default mode, end to end.

The real `python -m bot run --no-scheduler` runs in its own process. It asks the local Slack
Web API server (SLACK_API_URL) for a WebSocket URL with its app-level token, connects to the
local Socket Mode server (tests/servers/socket_mode_server.py) through slack_sdk's builtin
client, and is sent envelopes in the shapes Slack sends: a slash command, a 👍 button click
on a posted paper, reactions. Acks come back over the WebSocket; votes land in the SQLite
file the process was given and the tally reaches Slack through chat.update. Slack recycling
the connection (`disconnect`) is survived, and the process stops on Ctrl-C or SIGTERM
leaving no process or thread behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from bot.config import load_settings
from bot.db import open_db
from bot.slack.blocks import VOTE_UP
from bot.slack.client import make_web_client
from bot.slack.listeners.commands.usage import USAGE
from tests.servers.slack_server import DEFAULT_CHANNEL_ID, SlackServer
from tests.servers.socket_mode_server import SocketModeServer
from tests.slack_helpers import BOT_TOKEN, SlackSender, block_actions_payload, reaction_event
from tests.slack_listener_fixtures import PAPERS, Harness, eventually, posted_day
from tests.test_slack_listeners import ephemerals, tally_shown

ROOT = Path(__file__).resolve().parent.parent
APP_TOKEN = "xapp-1-A0APP-1-socket-mode-test"
SLACK_DEADLINE = 3.0  # seconds Slack waits for an ack before it counts the delivery as failed
PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}  # slack_sdk would tunnel the WebSocket


class _Payloads(SlackSender):
    """What SlackSender would sign and POST in HTTP mode, as the dict Slack puts in a Socket
    Mode envelope's `payload` instead: the same shapes (a slash command's form fields as a
    JSON object, the parsed `payload=` of an interaction, the event_callback JSON)."""

    def __init__(self):
        super().__init__(url="")

    def post(self, body: str, content_type: str, **kw) -> dict:
        if content_type == "application/json":
            return json.loads(body)
        fields = dict(parse_qsl(body, keep_blank_values=True))
        return json.loads(fields["payload"]) if set(fields) == {"payload"} else fields


PAYLOADS = _Payloads()


@dataclass
class SocketApp:
    proc: subprocess.Popen
    sm: SocketModeServer
    slack: SlackServer
    db: object
    messages: dict  # arxiv_id (or "parent") -> ts of the posted message
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]

    # The same reads of the SQLite file and of the Slack server as the HTTP listener tests.
    votes = Harness.votes
    updates_of = Harness.updates_of

    def ack(self, envelope_id: str):
        """The envelope's ack, which must come within Slack's deadline."""
        ack = self.sm.wait_ack(envelope_id)
        assert ack.latency < SLACK_DEADLINE, f"ack after {ack.latency:.2f} s\n{self.output()}"
        return ack


def _default_sigint():  # a parent that ignores SIGINT passes that on; Python then never raises KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def socket_mode_app(tmp_path):
    """The local Slack servers, a day already posted as a thread in the SQLite file, and
    `python -m bot run` started on that file. On the way out (after the test has stopped the
    app): no process of its group and no thread of the servers is left."""
    threads_before = set(threading.enumerate())
    db_path = tmp_path / "x.sqlite"
    log_path = tmp_path / "app.log"
    with SocketModeServer() as sm, SlackServer(socket_mode=sm) as slack:
        db = open_db(db_path)
        messages = posted_day(load_settings(), db, make_web_client(BOT_TOKEN, slack.api_url))
        slack.clear_calls()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k.lower() not in PROXY_VARS}
        env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=slack.api_url,
                   PYTHONUNBUFFERED="1")
        sigint_ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--no-scheduler", "--db", str(db_path)], cwd=ROOT, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_default_sigint if sigint_ignored else None)
        try:
            yield SocketApp(proc, sm, slack, db, messages, log_path)
        finally:
            if proc.poll() is None:  # the test failed before stopping it
                proc.kill()
                proc.wait(timeout=10)
            db.conn.close()
    # Its own session: any process it had started would still be in the group.
    try:
        os.killpg(proc.pid, 0)
        raise AssertionError(f"a process of the app's group {proc.pid} outlived it")
    except ProcessLookupError:
        pass
    eventually(lambda: not [t for t in threading.enumerate() if t not in threads_before and t.is_alive()],
               timeout=5, what="the servers' threads ending")


def test_socket_mode_answers_commands_buttons_and_reactions_and_survives_a_refresh(tmp_path):
    with socket_mode_app(tmp_path) as app:
        sm, slack = app.sm, app.slack
        first = sm.wait_connected(timeout=30)
        # The URL came from apps.connections.open at SLACK_API_URL, asked with the app token.
        opened = slack.calls_to("apps.connections.open")
        assert [(c.token, c.response["ok"]) for c in opened] == [(APP_TOKEN, True)]
        assert first.path.startswith("/link/?ticket=")
        assert all(c.token == BOT_TOKEN for c in slack.calls if c.method != "apps.connections.open")
        sm.wait_for(lambda: first.pings, what="the client's first ping")  # the builtin client pings on connect

        # (a) /arxiv help: the usage comes back in the ack itself, only the caller sees it.
        ack = app.ack(sm.push("slash_commands", PAYLOADS.command("/arxiv", "help", user_id="U0ALICE")))
        assert ack.payload == {"text": USAGE}

        # (b) 👍 on a paper message: empty ack, vote stored, tally updated in place, clicker told.
        paper, ts = PAPERS[0].arxiv_id, app.messages[PAPERS[0].arxiv_id]
        click = block_actions_payload("U0ALICE", VOTE_UP, paper, message_ts=ts)
        assert app.ack(sm.push("interactive", PAYLOADS.action(click))).payload is None
        update = eventually(lambda: app.updates_of(ts), what="chat.update of the paper message")[-1]
        assert "👍 1 · 👎 0" in tally_shown(update) and update.params["channel"] == DEFAULT_CHANNEL_ID
        assert app.votes(paper) == {"U0ALICE": (1, "button")}
        assert "👍 noted" in eventually(lambda: ephemerals(app, "U0ALICE"), what="the vote's confirmation")[-1]

        # (c) a 👍 reaction on another paper's message is a vote too.
        other, other_ts = PAPERS[2].arxiv_id, app.messages[PAPERS[2].arxiv_id]
        app.ack(sm.push("events_api", PAYLOADS.event(
            reaction_event("reaction_added", "U0BOB", "+1", DEFAULT_CHANNEL_ID, other_ts))))
        eventually(lambda: app.votes(other) == {"U0BOB": (1, "reaction")}, what="the reaction vote")
        eventually(lambda: any("👍 1 · 👎 0" in tally_shown(c) for c in app.updates_of(other_ts)),
                   what="the tally after the reaction")

        # (d) Slack recycles the connection: the client asks for a new URL, connects there and
        # drops the old one; envelopes on the new connection are answered as before.
        sm.disconnect("refresh_requested")
        second = sm.wait_connected(2)
        assert len(slack.calls_to("apps.connections.open", ok_only=True)) == 2
        assert sm.wait_closed(first) == "eof"
        second.ping(b"reading?")
        sm.wait_pong(second, b"reading?")  # the client now reads the new connection
        eid = sm.push("events_api", PAYLOADS.event(
            reaction_event("reaction_removed", "U0BOB", "+1", DEFAULT_CHANNEL_ID, other_ts)))
        assert app.ack(eid).connection == second.id
        eventually(lambda: app.votes(other) == {}, what="the reaction vote taken back")
        eventually(lambda: "👍 0 · 👎 0" in tally_shown(app.updates_of(other_ts)[-1]), what="the tally back to 0")

        assert set(sm.acks) == set(sm.pushed) and all(len(a) == 1 for a in sm.acks.values())
        assert sm.errors == []

        # Ctrl-C: a clean stop (the work in hand finishes, the connection is closed), exit 0.
        app.proc.send_signal(signal.SIGINT)
        assert app.proc.wait(timeout=15) == 0, app.output()
        assert "stopped" in app.output() and "Traceback" not in app.output(), app.output()
        assert sm.wait_closed(second) in ("close", "eof")


def test_socket_mode_app_stops_on_sigterm(tmp_path):
    """What a platform does to stop a worker (the Procfile's `worker: python -m bot run`)."""
    with socket_mode_app(tmp_path) as app:
        conn = app.sm.wait_connected(timeout=30)
        app.proc.terminate()
        assert app.proc.wait(timeout=15) == 0, app.output()  # a clean stop, not a kill
        assert "stopped" in app.output(), app.output()
        assert app.sm.wait_closed(conn) in ("close", "eof")
        assert app.sm.errors == []
