"""A small local Slack Web API for tests and benches: real HTTP on 127.0.0.1.

It records every call (method, token, parameters from the query string, a form body or a
JSON body), answers the methods the app uses the way Slack documents them, checks the
Block Kit limits Slack enforces, and can be scripted to answer 429 (with Retry-After) or
an error such as not_in_channel / invalid_auth / channel_not_found for some calls.
Given a Socket Mode server (tests/servers/socket_mode_server.py), `apps.connections.open`
answers a fresh WebSocket URL on it, as Slack does for an app-level token (xapp-...).

    with SlackServer() as slack:
        client = make_web_client("xoxb-test", slack.api_url)
        slack.fail("chat.postMessage", "not_in_channel", after=3)   # 4th call fails
        slack.rate_limit("chat.postMessage", retry_after=1)         # next call: 429
        ...
        slack.calls_to("chat.postMessage")
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
TEAM_ID = "T0TEAM"
DEFAULT_CHANNEL_ID = "C0PAPERS"
DEFAULT_CHANNEL_NAME = "arxiv-papers"
JSON_FIELDS = ("blocks", "attachments", "view", "metadata")  # JSON-encoded inside form bodies
APP_TOKEN_METHODS = {"apps.connections.open"}  # the methods that take an app-level token, and only those


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    status: int = 200
    response: dict = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Script:
    after: int  # successful calls still to let through before this takes effect
    times: int | None  # how many calls it answers (None: all from then on)
    status: int
    body: dict
    headers: dict


class _Handler(BaseHTTPRequestHandler):
    server: "_HTTPServer"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _params(self) -> dict[str, Any]:
        url = urlparse(self.path)
        params: dict[str, Any] = dict(parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if raw and ctype == "application/json":
            params.update(json.loads(raw.decode("utf-8")))
        elif raw:
            params.update(dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))
            for key in JSON_FIELDS:
                if isinstance(params.get(key), str) and params[key][:1] in "[{":
                    params[key] = json.loads(params[key])
        return params

    def do_POST(self):
        self._answer()

    def do_GET(self):
        self._answer()

    def _answer(self):
        path = urlparse(self.path).path
        if not path.startswith("/api/"):
            self._send(404, {"ok": False, "error": "not_found"}, {})
            return
        method = path[len("/api/"):]
        try:
            params = self._params()
        except (ValueError, UnicodeDecodeError):
            self._send(400, {"ok": False, "error": "invalid_form_data"}, {})
            return
        auth = self.headers.get("Authorization") or ""
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else params.get("token")
        status, body, headers = self.server.slack.handle(method, params, token)
        self._send(status, body, headers)

    def _send(self, status: int, body: dict, headers: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    slack: "SlackServer"


class SlackServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, socket_mode=None):
        self.lock = threading.RLock()
        self.socket_mode = socket_mode  # a SocketModeServer: where apps.connections.open points
        self.calls: list[Call] = []
        self.tokens_revoked: set[str] = set()
        # channel id -> {"name", "is_member"}; "#name" and the id both address a channel.
        self.channels: dict[str, dict] = {DEFAULT_CHANNEL_ID: {"name": DEFAULT_CHANNEL_NAME, "is_member": True}}
        self.messages: dict[str, dict[str, dict]] = {}  # channel id -> ts -> message
        self.reactions: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.views: dict[str, dict] = {}
        self.home_views: dict[str, dict] = {}  # user id -> last published home view
        self._scripts: dict[str, list[_Script]] = {}
        self._ts_counter = 0
        self._view_counter = 0
        self._http = _HTTPServer((host, port), _Handler)
        self._http.slack = self
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._http.server_address[1]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self) -> "SlackServer":
        self._thread = threading.Thread(target=self._http.serve_forever, name="slack-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> "SlackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- scripting -------------------------------------------------------------------
    def fail(self, method: str, error: str, *, times: int | None = 1, after: int = 0) -> None:
        """After `after` more successful calls of `method`, answer `error` to `times` calls
        (None: to every later call, like a revoked token)."""
        self._script(method, _Script(after, times, 200, {"ok": False, "error": error}, {}))

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1, after: int = 0) -> None:
        """Answer HTTP 429 with Retry-After, as Slack does when posting too fast."""
        self._script(method, _Script(after, times, 429, {"ok": False, "error": "ratelimited"},
                                     {"Retry-After": str(retry_after)}))

    def _script(self, method: str, s: _Script) -> None:
        with self.lock:
            self._scripts.setdefault(method, []).append(s)

    def clear_scripts(self) -> None:
        with self.lock:
            self._scripts.clear()

    def add_channel(self, channel_id: str, name: str, *, is_member: bool = True) -> None:
        with self.lock:
            self.channels[channel_id] = {"name": name, "is_member": is_member}

    # ---- inspection ------------------------------------------------------------------
    def calls_to(self, method: str, *, ok_only: bool = False) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and (not ok_only or c.response.get("ok"))]

    def posted(self, channel: str = DEFAULT_CHANNEL_ID) -> list[dict]:
        """Messages in a channel (top-level and replies), oldest first."""
        with self.lock:
            return sorted(self.messages.get(channel, {}).values(), key=lambda m: m["ts"])

    def thread(self, channel: str, thread_ts: str) -> list[dict]:
        return [m for m in self.posted(channel) if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def delete_message(self, channel: str, ts: str) -> None:
        """What a user deleting a message does: it is gone, its thread's replies stay."""
        with self.lock:
            del self.messages[channel][ts]

    def clear_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    # ---- dispatch --------------------------------------------------------------------
    def handle(self, method: str, params: dict, token: str | None) -> tuple[int, dict, dict]:
        with self.lock:
            status, body, headers = self._dispatch(method, params, token)
            self.calls.append(Call(method, params, token, status, body))
            return status, body, headers

    def _scripted(self, method: str):
        queue = self._scripts.get(method) or []
        # Every script waiting on `after` counts this call; the first due one answers it.
        due = None
        for s in queue:
            if s.after > 0:
                s.after -= 1
            elif due is None:
                due = s
        if due is None:
            return None
        if due.times is not None:
            due.times -= 1
            if due.times <= 0:
                queue.remove(due)
        return due

    def _dispatch(self, method: str, params: dict, token: str | None) -> tuple[int, dict, dict]:
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token in self.tokens_revoked:
            return 200, {"ok": False, "error": "token_revoked"}, {}
        if token.startswith("xapp-") != (method in APP_TOKEN_METHODS):
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        scripted = self._scripted(method)
        if scripted is not None:
            return scripted.status, dict(scripted.body), dict(scripted.headers)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, handler(params), {}

    def _next_ts(self) -> str:
        self._ts_counter += 1
        return f"{1700000000 + self._ts_counter}.{self._ts_counter:06d}"

    def _channel_id(self, channel: str | None) -> str | None:
        if not channel:
            return None
        if channel in self.channels:
            return channel
        name = channel.lstrip("#")
        return next((cid for cid, c in self.channels.items() if c["name"] == name), None)

    # ---- methods ---------------------------------------------------------------------
    def _m_apps_connections_open(self, p):
        if "token" in p:  # Slack takes this method's token only in the Authorization header
            return {"ok": False, "error": "invalid_auth"}
        if self.socket_mode is None:  # no Socket Mode server: the app is not in Socket Mode
            return {"ok": False, "error": "access_denied"}
        return {"ok": True, "url": self.socket_mode.new_url()}

    def _m_auth_test(self, p):
        return {"ok": True, "url": "https://test.slack.com/", "team": "Test Team", "user": "arxivbot",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    @staticmethod
    def _check_blocks(blocks) -> str | None:
        """The Block Kit limits Slack rejects a message for (invalid_blocks)."""
        if blocks is None:
            return None
        if not isinstance(blocks, list) or len(blocks) > 50:
            return "invalid_blocks"
        for b in blocks:
            t = b.get("type")
            text = (b.get("text") or {}).get("text", "")
            if t == "section" and not 0 < len(text) <= 3000:
                return "invalid_blocks"
            if t == "header" and not 0 < len(text) <= 150:
                return "invalid_blocks"
            if t == "actions":
                for el in b.get("elements", []):
                    if len(el.get("text", {}).get("text", "")) > 75 or len(el.get("value", "")) > 2000:
                        return "invalid_blocks"
                    if len(el.get("action_id", "")) > 255:
                        return "invalid_blocks"
            if len(b.get("block_id", "")) > 255:
                return "invalid_blocks"
        return None

    def _m_chat_postMessage(self, p):
        cid = self._channel_id(p.get("channel"))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        if not self.channels[cid]["is_member"]:
            return {"ok": False, "error": "not_in_channel"}
        if not p.get("text") and not p.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if (err := self._check_blocks(p.get("blocks"))):
            return {"ok": False, "error": err}
        thread_ts = p.get("thread_ts")
        if thread_ts and thread_ts not in self.messages.get(cid, {}):
            return {"ok": False, "error": "thread_not_found"}
        ts = self._next_ts()
        msg = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": ts, "text": p.get("text", ""),
               "blocks": p.get("blocks"), "unfurl_links": p.get("unfurl_links"), "unfurl_media": p.get("unfurl_media")}
        if thread_ts:
            msg["thread_ts"] = thread_ts
        self.messages.setdefault(cid, {})[ts] = msg
        return {"ok": True, "channel": cid, "ts": ts, "message": msg}

    def _m_chat_update(self, p):
        cid = self._channel_id(p.get("channel"))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        msg = self.messages.get(cid, {}).get(p.get("ts"))
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        if (err := self._check_blocks(p.get("blocks"))):
            return {"ok": False, "error": err}
        msg.update({k: p[k] for k in ("text", "blocks") if k in p})
        msg["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"ok": True, "channel": cid, "ts": msg["ts"], "text": msg["text"], "message": msg}

    def _m_chat_postEphemeral(self, p):
        cid = self._channel_id(p.get("channel"))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        if not p.get("user"):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_getPermalink(self, p):
        return {"ok": True, "channel": p.get("channel"),
                "permalink": f"https://test.slack.com/archives/{p.get('channel')}/p{str(p.get('message_ts', '')).replace('.', '')}"}

    def _new_view(self, view: dict, **extra) -> dict:
        self._view_counter += 1
        vid = f"V{self._view_counter:08d}"
        stored = {**view, "id": vid, "hash": f"hash{self._view_counter}", "team_id": TEAM_ID,
                  "app_id": "A0APP", "bot_id": BOT_ID, **extra}
        self.views[vid] = stored
        return stored

    def _view_error(self, view) -> dict | None:
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        title = (view.get("title") or {}).get("text", "")
        if view.get("type") == "modal" and not 0 < len(title) <= 24:
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": ["[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"]}}
        if len(view.get("private_metadata", "")) > 3000:
            return {"ok": False, "error": "invalid_arguments"}
        if (err := self._check_blocks(view.get("blocks"))):
            return {"ok": False, "error": err}
        return None

    def _m_views_open(self, p):
        if not p.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = p.get("view")
        if (err := self._view_error(view)):
            return err
        return {"ok": True, "view": self._new_view(view)}

    def _m_views_update(self, p):
        vid = p.get("view_id")
        if vid not in self.views:
            return {"ok": False, "error": "not_found"}
        view = p.get("view")
        if (err := self._view_error(view)):
            return err
        self.views[vid] = {**view, "id": vid, "hash": self.views[vid]["hash"] + "+"}
        return {"ok": True, "view": self.views[vid]}

    def _m_views_publish(self, p):
        view = p.get("view")
        if not p.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        if (err := self._view_error(view)):
            return err
        stored = self._new_view(view)
        self.home_views[p["user_id"]] = stored
        return {"ok": True, "view": stored}

    def _reaction_key(self, p):
        return self._channel_id(p.get("channel")), p.get("timestamp")

    def _m_reactions_add(self, p):
        cid, ts = self._reaction_key(p)
        if cid is None or ts not in self.messages.get(cid, {}):
            return {"ok": False, "error": "message_not_found"}
        entry = (p.get("name"), BOT_USER_ID)
        got = self.reactions.setdefault((cid, ts), [])
        if entry in got:
            return {"ok": False, "error": "already_reacted"}
        got.append(entry)
        return {"ok": True}

    def _m_reactions_remove(self, p):
        cid, ts = self._reaction_key(p)
        got = self.reactions.get((cid, ts), [])
        entry = (p.get("name"), BOT_USER_ID)
        if entry not in got:
            return {"ok": False, "error": "no_reaction"}
        got.remove(entry)
        return {"ok": True}

    def _m_reactions_get(self, p):
        cid, ts = self._reaction_key(p)
        msg = self.messages.get(cid, {}).get(ts)
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        counts: dict[str, list[str]] = {}
        for name, user in self.reactions.get((cid, ts), []):
            counts.setdefault(name, []).append(user)
        return {"ok": True, "type": "message", "channel": cid, "message": {
            **msg, "reactions": [{"name": n, "users": u, "count": len(u)} for n, u in counts.items()]}}

    def _m_conversations_info(self, p):
        cid = self._channel_id(p.get("channel"))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        c = self.channels[cid]
        return {"ok": True, "channel": {"id": cid, "name": c["name"], "is_channel": True,
                                        "is_member": c["is_member"], "is_private": False}}

    def _m_conversations_join(self, p):
        cid = self._channel_id(p.get("channel"))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        self.channels[cid]["is_member"] = True
        return {"ok": True, "channel": {"id": cid, "name": self.channels[cid]["name"]}}

    def _m_conversations_history(self, p):
        cid = self._channel_id(p.get("channel"))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        if not self.channels[cid]["is_member"]:
            return {"ok": False, "error": "not_in_channel"}
        top = [m for m in self.posted(cid) if m.get("thread_ts") in (None, m["ts"])]
        limit = int(p.get("limit") or 100)
        return {"ok": True, "messages": list(reversed(top))[:limit], "has_more": len(top) > limit}

    def _m_conversations_replies(self, p):
        cid = self._channel_id(p.get("channel"))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = p.get("ts")
        msgs = [m for m in self.posted(cid) if m["ts"] == ts or m.get("thread_ts") == ts]
        if not msgs:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": msgs, "has_more": False}

    def _m_users_info(self, p):
        uid = p.get("user")
        if not uid or not str(uid).startswith(("U", "W")):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": {"id": uid, "team_id": TEAM_ID, "name": uid.lower(), "real_name": f"User {uid}",
                                     "tz": "America/New_York", "is_bot": uid == BOT_USER_ID,
                                     "profile": {"display_name": uid.lower(), "real_name": f"User {uid}"}}}
