"""Deliver a day's picks to a Slack channel as one thread, exactly once.

Every message is recorded in the delivery record (bot/delivery.py: feed, date, channel, item) around its post: first
an intent row (ts empty), then the ts Slack returned. So:
- a second run for the same feed, date and channel finds every item delivered and posts nothing;
- a crash or a Slack error in the middle leaves the remaining picks undelivered, and the
  next run continues the same thread (the parent's ts is recorded);
- a crash between Slack's answer and the record leaves an intent without ts: the next run
  looks for the message in the channel (block ids name the day and the paper) before
  posting again, so even that window gives no duplicate when the history can be read;
- a paper whose message Slack refuses, and then its plain version too, is that paper's
  failure: no intent is left, the refusal is on record (audit log, the run's message), the
  day goes on, and the next run for the date tries that paper again.

Scored papers are never lost on a Slack error: picks stay in the database, and the error
is reported with what to do about it.

The returned DayPost is the report: its message and warnings are said once, by whoever
called (the `post` command prints them, the scheduler and `/arxiv run` log them with
`scheduler.log_result`, `/arxiv run` also answers with them). So posting does not log them too.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from .. import delivery, feedback, store
from ..config import DEFAULT_FEED, Settings
# A stored day is read back by the pipeline that stored it: a resume posts exactly the picks
# the thread started with (even if the criteria changed in between), as they were scored.
from ..pipeline import RunOutcome, run_day, stored_pick, stored_report
# The posting lease is the run lease's mechanism keyed by (date, channel): same holders,
# same refresh (a heartbeat while this process lives), same expiry, same wording.
from ..run_lock import LEASE_SECONDS, POST_LEASES, process_holder, start_heartbeat
from ..digest import DayReport, Pick
from ..progress import Progress
from .blocks import (PAPER_BLOCK_PREFIX, paper_text, parent_blocks, parent_text,  # noqa: F401 (re-export)
                     render_paper_blocks)

log = logging.getLogger(__name__)
PARENT = delivery.PARENT
DAY_BLOCK_PREFIX = "day:"

# Errors that no retry fixes: stop the day, say what to do, keep everything for a re-run.
ADVICE = {
    "not_in_channel": "the app is not a member of {channel}: invite it there (/invite @arXiv Papers) and run again",
    "channel_not_found": "channel {channel} does not exist or the app cannot see it: check slack.channel "
                         "(a private channel needs its ID and an invitation)",
    "is_archived": "channel {channel} is archived: unarchive it or set another slack.channel",
    "invalid_auth": "Slack rejected SLACK_BOT_TOKEN (invalid_auth): copy the Bot User OAuth Token again",
    "not_authed": "no Slack token was sent: set SLACK_BOT_TOKEN",
    "token_revoked": "the Slack token was revoked: reinstall the app and update SLACK_BOT_TOKEN",
    "token_expired": "the Slack token expired: reinstall the app and update SLACK_BOT_TOKEN",
    "account_inactive": "the app's Slack account is inactive (app removed?): reinstall the app",
    "missing_scope": "the token lacks a scope the app needs: reinstall the app from manifest.yml",
    "ratelimited": "Slack kept answering 429 (rate limited) after retries: run again in a minute",
}
# Errors of one message's content: post a plain version rather than stopping the thread.
CONTENT_ERRORS = {"invalid_blocks", "invalid_blocks_format", "msg_too_long"}
# A reply's answer when the thread's parent is gone (deleted): a re-run cannot help, a new
# thread for the day can.
PARENT_GONE = {"thread_not_found", "message_not_found"}


@dataclass
class DayPost:
    date: str | None
    channel: str
    # posted | already_posted | empty | nothing_picked | failed, or partial: the day went
    # through but Slack refused some papers (`refused`), which the next run tries again.
    status: str
    message: str
    thread_ts: str | None = None
    sent: int = 0  # messages posted by this call (parent included)
    already: int = 0  # items found delivered before this call
    total: int = 0  # picks of the day
    error: str | None = None  # Slack's error code when failed
    warnings: list[str] = field(default_factory=list)
    # Papers Slack refused even as plain text: (arxiv id, Slack's error). Not in the thread;
    # the day went on without them and the next run for the date tries them again.
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Everything picked is in the thread (or there was nothing to post)."""
        return self.status not in ("failed", "partial")


class _Stop(Exception):
    def __init__(self, code: str, text: str):
        super().__init__(text)
        self.code = code


class _Refused(_Stop):
    """Slack refused a message's content, and its plain version too: nothing was posted.
    For a paper that is its own failure (the day goes on); for the parent it stops the day."""

    def __init__(self, code: str):
        super().__init__(code, f"Slack refused the message and its plain version too ({code})")


# ---- posting ------------------------------------------------------------------------------

def _call(fn: Callable, where: str, **kwargs) -> dict:
    try:
        return fn(**kwargs).data
    except SlackApiError as exc:
        code = exc.response.get("error") or f"HTTP {exc.response.status_code}"
        if exc.response.status_code == 429:
            code = "ratelimited"
        if code in CONTENT_ERRORS:
            raise
        advice = ADVICE.get(code, "Slack answered {code}").format(channel=where, code=code)
        if code == "missing_scope":
            advice += f" (needed: {exc.response.get('needed', '?')})"
        raise _Stop(code, advice) from None
    except SlackClientError as exc:  # SlackUnreachable (its message says what to check), a request not sent
        raise _Stop("connection", str(exc)) from None


def _post(client: WebClient, channel: str, text: str, blocks: list[dict], thread_ts: str | None,
          fallback_blocks: list[dict] | None = None) -> tuple[dict, str | None]:
    """Slack's answer, and the error that made it a plain version (None when the blocks went)."""
    kwargs = dict(channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False)
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    try:
        return _call(client.chat_postMessage, channel, **kwargs), None
    except SlackApiError as exc:  # a content error: say less rather than lose the paper
        refused = exc.response.get("error") or "invalid_blocks"
    kwargs["blocks"] = fallback_blocks or [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]
    try:
        return _call(client.chat_postMessage, channel, **kwargs), refused
    except SlackApiError as exc:
        raise _Refused(exc.response.get("error") or "invalid_blocks") from None


def _found_in_channel(client: WebClient, channel_id: str | None, block_id: str, thread_ts: str | None) -> str | None:
    """The ts of a message we posted but did not record (crash window), if Slack shows it."""
    if not channel_id:
        return None
    try:
        if thread_ts:
            messages = client.conversations_replies(channel=channel_id, ts=thread_ts, limit=200).get("messages", [])
        else:
            messages = client.conversations_history(channel=channel_id, limit=100).get("messages", [])
    except SlackClientError as exc:
        log.warning("cannot read the channel to check for an unrecorded message (%s); posting again", exc)
        return None
    for m in messages:
        if any(b.get("block_id") == block_id for b in m.get("blocks") or []):
            return m["ts"]
    return None


def post_day(settings: Settings, db, client: WebClient, report: DayReport, channel: str | None = None, *,
             sleep: Callable[[float], None] = time.sleep, progress: Progress | None = None) -> DayPost:
    """Post (or continue, or confirm) the day's thread, telling `progress` of each paper
    still to post. Never raises for Slack errors."""
    channel = channel or settings["slack.channel"]
    date, picks = report.date, report.picks
    result = DayPost(date, channel, "posted", "", total=len(picks))
    if not picks:
        result.status, result.message = "nothing_picked", f"no picks for {date}: nothing to post"
        return result
    holder = process_holder()
    key = (settings.feed, date, channel)
    other = POST_LEASES.take(db, key, holder)
    if other:
        result.status, result.error = "failed", "busy"
        result.message = (f"{date} is being posted to {channel} by another process ({other.describe()}): this "
                          f"one posts nothing. Run one poster only (`worker` or `web`); the lease frees itself "
                          f"when that process ends, or {int(LEASE_SECONDS)} s after it stops responding.")
        return result
    heartbeat = start_heartbeat(db, POST_LEASES, key, holder)
    try:
        return _post_day_leased(settings, db, client, report, channel, result, holder, sleep,
                                progress or _no_progress)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        POST_LEASES.release(db, key, holder)


def _no_progress(n: int, step: str | None = None, total: int | None = None) -> None:
    pass


def _post_day_leased(settings: Settings, db, client: WebClient, report: DayReport, channel: str,
                     result: DayPost, holder: str, sleep: Callable[[float], None], progress: Progress) -> DayPost:
    thread = _Thread(settings, db, client, report.date, channel, result, holder, sleep)
    result.already = sum(1 for r in thread.done.values() if r["ts"])
    try:
        result.thread_ts, channel_id = thread.post_parent(report)
        try:
            thread.post_papers(report.picks, result.thread_ts, channel_id, progress)
        except _Stop as stop:
            if stop.code not in PARENT_GONE:
                raise
            # Once per run: a new parent gone as well stops the day like any other error.
            result.thread_ts, channel_id = thread.restart(report, stop.code)
            thread.post_papers(report.picks, result.thread_ts, channel_id, progress)
    except _Stop as stop:
        return _stopped(settings, db, result, stop)
    return _summarised(settings, result)


class _Thread:
    """One posting run of a day's thread in a channel, this process holding its lease:
    each message recorded around its post, paced, and only while the lease is ours."""

    def __init__(self, settings: Settings, db, client: WebClient, date: str, channel: str, result: DayPost,
                 holder: str, sleep: Callable[[float], None]):
        self.settings, self.db, self.client, self.date, self.channel = settings, db, client, date, channel
        self.result, self.holder, self.sleep = result, holder, sleep
        self.feed = settings.feed
        self.done = delivery.delivered(db, date, channel, feed=self.feed)
        self.pace = float(settings["slack.seconds_between_posts"])
        self.last_post = 0.0

    def post_parent(self, report: DayReport) -> tuple[str, str]:
        """The thread's ts and Slack's channel ID, posting the parent unless it is in already."""
        parent_id = f"{DAY_BLOCK_PREFIX}{self.date}"
        blocks = parent_blocks(report, self.settings["slack.top_titles"])
        blocks[0]["block_id"] = parent_id
        # A channel configured by ID can be searched even before Slack has answered once.
        known_id = (self.done.get(PARENT) or {}).get("channel_id") or \
            (None if self.channel.startswith("#") else self.channel)
        return self.deliver(PARENT, parent_id, parent_text(report), blocks, None, known_id)

    def restart(self, report: DayReport, code: str) -> tuple[str, str]:
        """The day's parent is gone from Slack: a new parent, on record in place of the old
        one, for the papers not delivered yet (those delivered stay in the old thread)."""
        old = self.done.get(PARENT) or {}
        delivery.forget(self.db, self.date, self.channel, PARENT, feed=self.feed)
        self.done = delivery.delivered(self.db, self.date, self.channel, feed=self.feed)
        self.result.warnings.append(
            f"the thread's first message for {self.date} is gone from {self.channel} (Slack answered {code}): "
            f"started a new thread for the papers not yet delivered")
        store.audit(self.db, "slack", "thread_restarted", f"{self.date} {self.channel}: {old.get('ts')} gone ({code})",
                    feed=self.feed)
        return self.post_parent(report)

    def post_papers(self, picks: list[Pick], thread_ts: str, channel_id: str, progress: Progress) -> None:
        """Every pick not in the thread yet, in rank order; a paper Slack refuses is recorded
        as refused and the others still go out."""
        waiting = {rank: pk for rank, pk in enumerate(picks, 1)
                   if not (self.done.get(pk.paper.arxiv_id) or {}).get("ts")}
        if waiting:
            progress(0, f"posting papers to {self.channel}", len(waiting))
        counts = {pk.paper.arxiv_id: feedback.tally(self.db, pk.paper.arxiv_id, feed=self.feed) for pk in picks}
        for rank, pk in waiting.items():
            aid = pk.paper.arxiv_id
            blocks = render_paper_blocks(pk, counts.get(aid), rank=rank,
                                         abstract_chars=self.settings["slack.post_abstract_chars"],
                                         max_authors=self.settings["slack.max_authors"])
            try:
                self.deliver(aid, f"{PAPER_BLOCK_PREFIX}{aid}", paper_text(pk), blocks, thread_ts, channel_id)
            except _Refused as refused:
                self.result.refused.append((aid, refused.code))
                store.audit(self.db, "slack", "post_refused", f"{self.date} {self.channel} {aid}: {refused.code}",
                            feed=self.feed)
            progress(1)

    def deliver(self, item: str, block_id: str, text: str, blocks: list[dict], thread_ts: str | None,
                channel_id: str | None) -> tuple[str, str]:
        """(ts, channel ID) of the item's message: as recorded, as found in Slack after a
        crash, or posted now."""
        row = self.done.get(item)
        if row and row["ts"]:
            return row["ts"], row["channel_id"] or channel_id
        if row and (found := _found_in_channel(self.client, channel_id, block_id, thread_ts)):
            # An intent without ts: a run died around this post, and Slack has the message.
            delivery.record(self.db, self.date, self.channel, item, found, thread_ts or found, channel_id, feed=self.feed)
            self.result.warnings.append(f"{item}: found an unrecorded message in Slack; not posted again")
            return found, channel_id
        self._paced()
        self._ensure_lease()
        return self._post_recorded(item, text, blocks, thread_ts, channel_id)

    def _post_recorded(self, item: str, text: str, blocks: list[dict], thread_ts: str | None,
                       channel_id: str | None) -> tuple[str, str]:
        db, date, channel, feed = self.db, self.date, self.channel, self.feed
        delivery.intend(db, date, channel, item, thread_ts, channel_id, feed=feed)
        try:
            answer, refused = _post(self.client, channel, text, blocks, thread_ts)
        except _Stop as stop:
            if stop.code != "connection":  # Slack said no: nothing was posted, drop the intent
                delivery.forget_intent(db, date, channel, item, feed=feed)
            raise
        if refused:
            what = "the thread's first message" if item == PARENT else item
            self.result.warnings.append(f"{what}: Slack refused its blocks ({refused}); posted a plain version")
        ts, cid = answer["ts"], answer.get("channel") or channel_id or channel
        delivery.record(db, date, channel, item, ts, thread_ts or ts, cid, feed=feed)
        self.result.sent += 1
        return ts, cid

    def _paced(self) -> None:
        # Slack allows about one message a second per channel: wait out the rest of it.
        wait = self.pace - (time.monotonic() - self.last_post)
        if self.last_post and wait > 0:
            self.sleep(wait)
        self.last_post = time.monotonic()

    def _ensure_lease(self) -> None:
        # Still ours? A process frozen past the lease (suspended, its heartbeat stalled too)
        # may have been taken over; posting on would duplicate what the new holder posts.
        if other := POST_LEASES.take(self.db, (self.feed, self.date, self.channel), self.holder):
            raise _Stop("lease_lost", f"another process ({other.describe()}) took over posting {self.date} to "
                                      f"{self.channel} while this one was stalled; it continues the thread")


def _rerun(settings: Settings, date: str | None, channel: str) -> str:
    which = "" if settings.feed == DEFAULT_FEED else f" --feed {settings.feed}"
    where = "" if channel == settings["slack.channel"] else f" --channel {channel}"
    return f"`python -m bot post --date {date}{which}{where}`"


def _stopped(settings: Settings, db, result: DayPost, stop: _Stop) -> DayPost:
    """The day stopped at `stop`: what is in the thread, what to run, on record."""
    date, channel = result.date, result.channel
    delivered = delivery.papers_delivered(db, date, channel, feed=settings.feed)
    result.status, result.error = "failed", stop.code
    result.message = (f"Slack posting for {date} stopped: {stop}. {delivered} of {result.total} papers are in "
                      f"the thread; the rest are kept and {_rerun(settings, date, channel)} continues it.")
    store.audit(db, "slack", "post_failed", f"{date} {channel}: {stop.code}", feed=settings.feed)
    return result


def _summarised(settings: Settings, result: DayPost) -> DayPost:
    """The day went through: one line for it, naming any paper Slack refused."""
    date, channel, total = result.date, result.channel, result.total
    papers = f"{total - len(result.refused)} of {total} papers" if result.refused else f"{total} papers"
    if result.sent == 0:
        result.status = "already_posted"
        result.message = f"{date} was already posted to {channel} ({papers}): nothing new to post"
    else:
        resumed = " (continued)" if result.already else ""
        result.message = f"posted {date} to {channel}{resumed}: {result.sent} message(s), {papers} in the thread"
    if result.refused:
        result.status = "partial"
        which = ", ".join(f"{aid} ({code})" for aid, code in result.refused)
        result.message += (f"; Slack refused {len(result.refused)} paper(s) even as plain text: {which}. They are "
                           f"kept and {_rerun(settings, date, channel)} tries them again")
    return result


def refresh_paper(settings: Settings, db, client: WebClient, row: dict) -> bool:
    """Re-render one posted paper message (its delivery row, of the feed `settings`) with
    the feed's current tally. False when the pick is gone or Slack refuses the update
    (logged, never raised)."""
    found = stored_pick(settings, db, row["date"], row["item"])
    if found is None:
        return False
    pick, rank = found
    blocks = render_paper_blocks(pick, feedback.tally(db, pick.paper.arxiv_id, feed=settings.feed), rank=rank,
                                 abstract_chars=settings["slack.post_abstract_chars"],
                                 max_authors=settings["slack.max_authors"])
    channel = row["channel_id"] or row["channel"]
    try:
        client.chat_update(channel=channel, ts=row["ts"], text=paper_text(pick), blocks=blocks)
    except SlackClientError as exc:
        log.warning("could not update the paper message %s in %s: %s", row["ts"], channel, exc)
        return False
    return True


# ---- the day's job ------------------------------------------------------------------------

def run_and_post(settings: Settings, db, client: WebClient, *, date: str | None = None, channel: str | None = None,
                 feed_file=None, scorer=None, progress: Progress | None = None,
                 notify: Callable[[str], None] | None = None) -> DayPost:
    """Run the feed's day (or reuse a stored day) and post it; never raises for Slack.

    With a date whose picks are stored, the stored picks are posted as they are (a resume
    must not re-rank); otherwise the pipeline runs (fetch, score, pick) first. `progress`
    hears of the long steps (embedding, posting), `notify` that another run holds the day.
    """
    from ..feed import FeedError

    channel = channel or settings["slack.channel"]
    report = stored_report(settings, db, date) if date and feed_file is None else None
    if report is not None:
        return _post_report(settings, db, client, report, channel, [], progress)
    try:
        outcome = run_day(settings, db, feed_file=feed_file, date=date, scorer=scorer, progress=progress,
                          notify=notify)
    except (FeedError, ValueError, RuntimeError, OSError) as exc:
        return DayPost(date, channel, "failed", f"the day's run failed before posting: {exc}", error="pipeline")
    return post_outcome(settings, db, client, outcome, channel, progress=progress)


def post_outcome(settings: Settings, db, client: WebClient, outcome: RunOutcome, channel: str | None = None, *,
                 progress: Progress | None = None) -> DayPost:
    """Post what a run of the feed's day gave (`pipeline.run_feeds` runs several feeds on one fetch)."""
    channel = channel or settings["slack.channel"]
    if outcome.status == "failed":
        return DayPost(outcome.date, channel, "failed", f"the day's run failed before posting: {outcome.message}",
                       error="pipeline", warnings=outcome.warnings)
    if outcome.status == "empty":
        return DayPost(outcome.date, channel, "empty", f"{outcome.message}: nothing to post", warnings=outcome.warnings)
    return _post_report(settings, db, client, outcome.report, channel, outcome.warnings, progress)


def _post_report(settings: Settings, db, client: WebClient, report: DayReport, channel: str, warnings: list[str],
                 progress: Progress | None) -> DayPost:
    if report.date and not report.picks and report.n_scanned == 0:
        return DayPost(report.date, channel, "empty", f"no announcements for {report.date}: nothing to post",
                       warnings=warnings)
    if not channel:  # a feed without a channel writes digests only
        return DayPost(report.date, "", "posted", f"{report.date}: {len(report.picks)} picks in the digest files; "
                       f"feed {settings.feed!r} has no Slack channel", warnings=warnings, total=len(report.picks))
    posted = post_day(settings, db, client, report, channel, progress=progress)
    posted.warnings = warnings + posted.warnings
    return posted
