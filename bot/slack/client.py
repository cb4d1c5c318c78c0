"""The one place a Slack Web API client is built, so every call honours SLACK_API_URL
(a local test server or a proxy) and retries Slack's 429 answers."""
from __future__ import annotations

import logging
import os
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from ..errors import ExplainedError

DEFAULT_API_URL = "https://slack.com/api/"


class SlackUnreachable(SlackClientError, ExplainedError):
    """No answer from the Web API (refused, no such host, timed out) after the client's
    retries. Its message, the one `run`, `post` and the scheduler show, names the URL and
    what to check; it never carries a token."""


class _ReportedOnce(logging.Filter):
    """slack_sdk logs every failed attempt and retry of a request; SlackUnreachable reports
    the outcome once, so those lines would only repeat it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Failed to send a request to Slack API server",
                                               "Going to retry the same request", "A retry handler found"))


logging.getLogger("slack_sdk.web.base_client").addFilter(_ReportedOnce())


class _WebClient(WebClient):
    """A WebClient whose every call (bolt's, Socket Mode's, ours) fails as SlackUnreachable
    when Slack cannot be reached, instead of a bare urllib error."""

    def api_call(self, api_method: str, **kwargs):
        try:
            return super().api_call(api_method, **kwargs)
        except (URLError, TimeoutError, ConnectionError) as exc:
            reason = exc.reason if isinstance(exc, URLError) else exc
            raise SlackUnreachable(f"could not reach Slack at {self.base_url} ({reason}): check the network "
                                   "or SLACK_API_URL") from exc


def api_url(base_url: str | None = None) -> str:
    """The Web API base URL: the argument, else $SLACK_API_URL, else Slack's.

    slack_sdk joins method names onto it, so without the trailing slash `/api` would be
    silently dropped (http://host/api + chat.postMessage -> http://host/chat.postMessage).
    """
    url = (base_url or os.environ.get("SLACK_API_URL") or DEFAULT_API_URL).strip()
    return url if url.endswith("/") else url + "/"


def is_slack(url: str) -> bool:
    return url.rstrip("/") == DEFAULT_API_URL.rstrip("/")


def make_web_client(token: str | None, base_url: str | None = None, *, max_429_retries: int = 5,
                    timeout: int = 30) -> WebClient:
    client = _WebClient(token=token, base_url=api_url(base_url), timeout=timeout)
    # The default client only retries connection errors; Slack answers 429 with Retry-After
    # when we post faster than about one message a second per channel.
    client.retry_handlers = [ConnectionErrorRetryHandler(max_retry_count=2),
                             RateLimitErrorRetryHandler(max_retry_count=max_429_retries)]
    return client
