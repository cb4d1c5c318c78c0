"""The one place a Slack Web API client is built, so every call honours SLACK_API_URL
(a local test server or a proxy) and retries Slack's 429 answers."""
from __future__ import annotations

import os

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

DEFAULT_API_URL = "https://slack.com/api/"


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
    client = WebClient(token=token, base_url=api_url(base_url), timeout=timeout)
    # The default client only retries connection errors; Slack answers 429 with Retry-After
    # when we post faster than about one message a second per channel.
    client.retry_handlers = [ConnectionErrorRetryHandler(max_retry_count=2),
                             RateLimitErrorRetryHandler(max_retry_count=max_429_retries)]
    return client
