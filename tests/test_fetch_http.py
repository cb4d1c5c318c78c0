"""Fetching the feed over real HTTP from a local stand-in for rss.arxiv.org.

Waits are recorded by an injected `sleep` instead of being slept, so these tests check
what the session would wait without timing anything.
"""
from __future__ import annotations

import email.utils
import socket
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from bot.feed import USER_AGENT, FeedError, PoliteSession, fetch_feed
from tests.servers.arxiv_server import ArxivServer, Reply

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DAY = (FIXTURES / "rss-2025-02-24-7items.xml").read_bytes()
WEEKEND = (FIXTURES / "rss-2025-03-01-weekend-empty.xml").read_bytes()
PATH = "/rss/cs.LG+cs.AI"
CATS = ["cs.LG", "cs.AI"]


class Sleeps(list):
    """A stand-in for time.sleep that records each wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server():
    with ArxivServer() as srv:
        yield srv


@pytest.fixture
def sleeps():
    return Sleeps()


def session(sleeps, **kw) -> PoliteSession:
    kw.setdefault("min_interval", 3.0)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("max_tries", 4)
    return PoliteSession(sleep=sleeps, **kw)


def test_fetch_parses_the_day_and_identifies_itself(server, sleeps):
    server.script(PATH, Reply(200, DAY))
    feed = fetch_feed(CATS, session(sleeps), base=server.url + "/rss/")
    assert feed.date == date(2025, 2, 24) and len(feed.papers) == 7
    assert server.hits(PATH) == 1
    assert server.requests[0].headers["User-Agent"] == USER_AGENT
    assert sleeps == []  # the first request never waits


def test_empty_weekend_feed_over_http_is_a_normal_empty_feed(server, sleeps):
    server.script(PATH, Reply(200, WEEKEND))
    feed = fetch_feed(CATS, session(sleeps), base=server.url + "/rss")
    assert feed.empty and feed.date == date(2025, 3, 1)


def test_requests_are_spaced_by_the_minimum_interval(server, sleeps):
    server.script(PATH, Reply(200, DAY))
    http = session(sleeps, min_interval=3.0)
    for _ in range(3):
        http.get(server.url + PATH)
    assert server.hits(PATH) == 3
    assert len(sleeps) == 2  # before the 2nd and the 3rd request
    # Each wait is the interval less the (local, millisecond) time the last request took.
    assert all(1.0 < s <= 3.0 for s in sleeps), sleeps


def test_zero_interval_never_waits(server, sleeps):
    server.script(PATH, Reply(200, DAY))
    http = session(sleeps, min_interval=0)
    http.get(server.url + PATH)
    http.get(server.url + PATH)
    assert sleeps == []


def test_429_honours_retry_after_seconds_then_succeeds(server, sleeps):
    server.script(PATH, Reply(429, b"Too Many Requests", {"Retry-After": "7"}), Reply(200, DAY))
    feed = fetch_feed(CATS, session(sleeps), base=server.url + "/rss/")
    assert len(feed.papers) == 7
    assert server.hits(PATH) == 2
    assert sleeps[0] == 7.0
    # The retry still keeps the minimum spacing (nothing waits longer than Retry-After).
    assert all(s <= 7.0 for s in sleeps)


def test_429_honours_retry_after_as_http_date(server, sleeps):
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.script(PATH, Reply(429, b"", {"Retry-After": when}), Reply(200, DAY))
    fetch_feed(CATS, session(sleeps), base=server.url + "/rss/")
    assert 15.0 < sleeps[0] <= 20.0


def test_absurd_retry_after_is_capped(server, sleeps):
    server.script(PATH, Reply(429, b"", {"Retry-After": "86400"}), Reply(200, DAY))
    fetch_feed(CATS, session(sleeps), base=server.url + "/rss/")
    assert sleeps[0] == 300.0


def test_503_backs_off_then_gives_up_naming_the_status(server, sleeps):
    server.script(PATH, Reply(503, b"<html><body>busy</body></html>", content_type="text/html"))
    with pytest.raises(FeedError, match=r"gave up after 3 tries \(HTTP 503\)"):
        fetch_feed(CATS, session(sleeps, max_tries=3), base=server.url + "/rss/")
    assert server.hits(PATH) == 3
    backoffs = [s for s in sleeps if s > 3.0]
    assert backoffs == [4.0, 8.0]  # growing back-off between tries, none after the last


def test_503_with_retry_after_then_success(server, sleeps):
    server.script(PATH, Reply(503, b"", {"Retry-After": "11"}), Reply(503, b"", {"Retry-After": "12"}),
                  Reply(200, DAY))
    feed = fetch_feed(CATS, session(sleeps), base=server.url + "/rss/")
    assert len(feed.papers) == 7
    assert [s for s in sleeps if s > 3.0] == [11.0, 12.0]


def test_400_feed_error_is_not_retried_and_names_the_setting(server, sleeps):
    server.script("/rss/cs.LG+cs.XX", Reply(400, (FIXTURES / "rss-feed-error-400.xml").read_bytes()))
    with pytest.raises(FeedError) as err:
        fetch_feed(["cs.LG", "cs.XX"], session(sleeps), base=server.url + "/rss/")
    assert server.hits("/rss/cs.LG+cs.XX") == 1
    msg = str(err.value)
    assert "cs.LG+cs.XX" in msg and "HTTP 400" in msg and "arxiv.categories" in msg
    assert sleeps == []


def test_feed_error_title_with_status_200_is_still_an_error(server, sleeps):
    server.script(PATH, Reply(200, (FIXTURES / "rss-feed-error-400.xml").read_bytes()))
    with pytest.raises(FeedError, match="Feed error for query"):
        fetch_feed(CATS, session(sleeps), base=server.url + "/rss/")


def test_html_page_with_status_200_is_an_error(server, sleeps):
    server.script(PATH, Reply(200, (FIXTURES / "arxiv-error-page.html").read_bytes(), content_type="text/html"))
    with pytest.raises(FeedError, match="HTML page instead of an RSS feed"):
        fetch_feed(CATS, session(sleeps), base=server.url + "/rss/")


def test_not_found_names_the_url_and_status(server, sleeps):
    with pytest.raises(FeedError, match=r"/rss/cs\.LG\+cs\.AI: HTTP 404"):
        fetch_feed(CATS, session(sleeps), base=server.url + "/rss/")
    assert server.hits(PATH) == 1


def test_truncated_body_is_reported(server, sleeps):
    server.script(PATH, Reply(200, DAY[:5000]))
    with pytest.raises(FeedError, match="truncated"):
        fetch_feed(CATS, session(sleeps), base=server.url + "/rss/")


def test_connection_refused_is_retried_then_reported(sleeps):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FeedError, match=r"gave up after 2 tries \(ConnectionError"):
        session(sleeps, max_tries=2).get(f"http://127.0.0.1:{port}{PATH}")
    assert sleeps[0] == 2.0  # back-off after the first failure (then the usual spacing)


def test_timeout_is_applied_to_every_request(server, sleeps):
    server.script(PATH, Reply(200, DAY, delay=1.0))
    with pytest.raises(FeedError, match=r"gave up after 2 tries \(\w*Timeout"):
        session(sleeps, timeout=0.2, max_tries=2).get(server.url + PATH)
    assert server.hits(PATH) == 2


def test_one_connection_at_a_time_across_threads(server, sleeps):
    server.script(PATH, Reply(200, DAY, delay=0.05))
    http = session(sleeps, min_interval=0)
    threads = [threading.Thread(target=http.get, args=(server.url + PATH,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert server.hits(PATH) == 4
    assert server.max_in_flight == 1
