"""The app as a WSGI callable: POST /slack/events for Slack, GET /healthz for the host.

`python -m bot run --http` serves this through gunicorn; the tests serve the same callable
with wsgiref on 127.0.0.1, so signed requests travel the production path.
"""
from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler


def wsgi_app(app: App, path: str = "/slack/events"):
    slack = SlackRequestHandler(app, path=path)

    def application(environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        return slack(environ, start_response)
    return application
