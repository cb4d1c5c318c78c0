"""Each feed's clock: at its `schedule.time` in its `schedule.timezone`, on its
`schedule.days` ("weekdays", or one day of the week for a weekly round-up).

Built on the `schedule` package (with pytz for its timezone support), which has neither a
weekday range nor catch-up; both live here:
- one job per scheduled day of the week at the feed's time;
- at start-up, when a feed's run is due today (a scheduled day, past the time) and has not
  happened for it, it runs once (a restart or a deploy at 07:05 loses no day);
- each scheduled day's outcome is kept in `scheduled_runs`, so the catch-up is once;
- a day without announcements records "empty" and posts nothing;
- a failed day, or one posted without some papers Slack refused (partial), is retried a
  few times, then waits for the next start-up or day;
- feeds run one at a time (one lock), each on its own: one feed's failure is its own.
The scheduler knows nothing of Slack: a feed's job returns what its delivery did (`DayResult`).
"""
from __future__ import annotations

import logging
import threading
import zoneinfo
from datetime import datetime
from typing import Callable, Protocol

import schedule

from .config import DEFAULT_FEED
from .db import now as utc_now

log = logging.getLogger(__name__)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
DAYS_OF_WEEK = WEEKDAYS + ("saturday", "sunday")
DONE = ("posted", "empty")  # a scheduled day with one of these needs nothing more
RETRIED = ("failed", "partial")  # a day with one of these is run again (the thread resumes)
RETRY_MINUTES = 30
MAX_RETRIES = 3


class DayResult(Protocol):
    """What a feed's job did with the day (a Slack post's DayPost, a surface's Delivered)."""
    status: str  # posted | already_posted | empty | nothing_picked | partial | failed | ...
    message: str
    warnings: list[str]

    @property
    def ok(self) -> bool:
        ...


def scheduled_days(days: str) -> tuple[str, ...]:
    """The days of the week of `schedule.days`: "weekdays" or one day's name."""
    return WEEKDAYS if days == "weekdays" else (days,)


def log_result(where: str, result: DayResult) -> None:
    """Say a day's report in the server's log, once: its line (an error unless everything
    picked was delivered), then each warning; a server's log is all its operator sees of a run."""
    log.log(logging.INFO if result.ok else logging.ERROR, "%s: %s", where, result.message)
    for warning in result.warnings:
        log.warning("%s: %s", where, warning)


def _status(result: DayResult | None) -> str:
    """scheduled_runs' status for a day's result (None: the job crashed): posted | empty | partial | failed."""
    status = result.status if result is not None else "failed"
    if status in ("posted", "already_posted"):
        return "posted"
    if status in ("empty", "nothing_picked"):
        return "empty"
    return "partial" if status == "partial" else "failed"


class DailyScheduler:
    """Runs one feed's `job()` (its day's run-and-deliver, returning a DayResult) on its days.

    `lock` is shared with `/arxiv run` and the other feeds' clocks, so one process never runs
    two days at once.
    """

    def __init__(self, db, job: Callable[[], DayResult], *, time: str, timezone: str, channel: str,
                 feed: str = DEFAULT_FEED, days: str = "weekdays", lock: threading.Lock | None = None,
                 scheduler: schedule.Scheduler | None = None):
        self.db = db
        self.job = job
        self.time = time
        self.zone = zoneinfo.ZoneInfo(timezone)
        self.timezone = timezone
        self.channel = channel
        self.feed = feed
        self.days = scheduled_days(days)
        self.lock = lock or threading.Lock()
        self.scheduler = scheduler or schedule.Scheduler()
        self._retries = 0
        self.tag = f"daily:{feed}"

    @classmethod
    def from_settings(cls, settings, db, job: Callable[[], DayResult], *, channel: str | None = None, lock=None,
                      scheduler: schedule.Scheduler | None = None) -> "DailyScheduler":
        """The clock of the feed `settings` belongs to."""
        return cls(db, job, time=settings["schedule.time"], timezone=settings["schedule.timezone"],
                   channel=channel or settings["slack.channel"], feed=settings.feed, days=settings["schedule.days"],
                   lock=lock, scheduler=scheduler)

    # ---- the calendar ----------------------------------------------------------------
    def install(self) -> "DailyScheduler":
        for day in self.days:
            getattr(self.scheduler.every(), day).at(self.time, self.timezone).do(self.run_job).tag("daily", self.tag)
        return self

    def local_now(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(self.zone)).astimezone(self.zone)

    def next_run(self) -> datetime | None:
        """When this feed's next run happens, in its schedule's timezone."""
        runs = [j.next_run for j in self.scheduler.get_jobs(self.tag) if j.next_run]
        # `schedule` keeps naive datetimes in the machine's local time.
        return min(runs).astimezone(self.zone) if runs else None

    def today_status(self, now: datetime | None = None) -> str | None:
        day = self.local_now(now).date().isoformat()
        row = next(self.db.query("select status from scheduled_runs where feed = ? and day = ? and channel = ?",
                                 [self.feed, day, self.channel]), None)
        return row["status"] if row else None

    def due_and_missing(self, now: datetime | None = None) -> bool:
        """Today is one of the feed's days, its time has passed, and it has not been done yet."""
        local = self.local_now(now)
        hour, minute = map(int, self.time.split(":"))
        if DAYS_OF_WEEK[local.weekday()] not in self.days or (local.hour, local.minute) < (hour, minute):
            return False
        return self.today_status(local) not in DONE

    # ---- running ---------------------------------------------------------------------
    def run_job(self, now: datetime | None = None) -> DayResult | None:
        """Run the day once (waiting for a run already in progress) and record the outcome."""
        day = self.local_now(now).date().isoformat()
        with self.lock:
            if self.today_status(now) in DONE:  # a concurrent `/arxiv run` may have just done it
                log.info("scheduled run for %s: already done", self._what(day))
                return None
            crash = None
            try:
                result = self.job()
            except Exception as exc:  # the scheduler must survive any one bad day
                crash, result, detail = exc, None, f"crashed: {exc}"
            else:
                detail = result.message
            status = _status(result)
            # Still under the lock: the job's connection is shared with `/arxiv run`.
            with self.db.conn:
                self.db.conn.execute(
                    """insert into scheduled_runs (feed, day, channel, status, detail, at) values (?,?,?,?,?,?)
                       on conflict(feed, day, channel) do update set status=excluded.status, detail=excluded.detail,
                           at=excluded.at""", (self.feed, day, self.channel, status, detail, utc_now()))
        self._log_outcome(self._what(day), detail, result, crash)
        if status in RETRIED:
            self._schedule_retry()
        else:
            self._retries = 0
        return result

    def _what(self, day: str) -> str:
        return day if self.feed == DEFAULT_FEED else f"{day} (feed {self.feed})"

    @staticmethod
    def _log_outcome(day: str, detail: str, result: DayResult | None, crash: Exception | None) -> None:
        """The day's report, said once: a worker's log is its only output, and the poster
        leaves saying it to its caller. A crash is one line too, with its traceback."""
        if result is None:
            log.error("scheduled run for %s: %s", day, detail, exc_info=crash)
        else:
            log_result(f"scheduled run for {day}", result)

    def _schedule_retry(self) -> None:
        if self._retries >= MAX_RETRIES:
            log.error("giving up on today's run of feed %s after %d retries; the next start-up or scheduled day "
                      "tries again", self.feed, MAX_RETRIES)
            self._retries = 0
            return
        self._retries += 1

        def retry():
            self.run_job()
            return schedule.CancelJob
        self.scheduler.every(RETRY_MINUTES).minutes.do(retry).tag("retry", f"retry:{self.feed}")

    def catch_up(self, now: datetime | None = None) -> DayResult | None:
        """At start-up: run today's job once if it is due and missing."""
        if not self.due_and_missing(now):
            return None
        log.warning("today's run of feed %s is due and missing: catching up now", self.feed)
        return self.run_job(now)


class FeedClocks:
    """Every feed's clock on one `schedule.Scheduler` and one lock: each feed runs at its own
    time, one at a time, and a feed that fails (its channel, its budget, its criteria file)
    fails alone."""

    def __init__(self, clocks: list[DailyScheduler], scheduler: schedule.Scheduler, db=None,
                 lock: threading.Lock | None = None):
        self.clocks = clocks
        self.scheduler = scheduler
        self.db = db
        self.lock = lock or threading.Lock()

    @classmethod
    def for_feeds(cls, feeds: list, db, job_for: Callable[[object], Callable[[], DayResult]],
                  lock: threading.Lock) -> "FeedClocks":
        """Clocks for the feeds (their Settings); `job_for(feed)` is the feed's day's job."""
        shared = schedule.Scheduler()
        clocks = [DailyScheduler.from_settings(f, db, job_for(f), lock=lock, scheduler=shared) for f in feeds]
        return cls(clocks, shared, db, lock)

    def add(self, feed, job: Callable[[], DayResult]) -> DailyScheduler:
        """A clock for a feed started while the clocks run (`/arxiv feed new`), installed now."""
        clock = DailyScheduler.from_settings(feed, self.db, job, lock=self.lock, scheduler=self.scheduler).install()
        self.clocks.append(clock)
        return clock

    def install(self) -> "FeedClocks":
        for clock in self.clocks:
            clock.install()
        return self

    def next_run(self, feed: str | None = None) -> datetime | None:
        """The next run of one feed, or of any feed."""
        runs = [c.next_run() for c in self.clocks if feed is None or c.feed == feed]
        runs = [r for r in runs if r is not None]
        return min(runs) if runs else None

    def catch_up(self, now: datetime | None = None) -> None:
        for clock in self.clocks:
            try:
                clock.catch_up(now)
            except Exception:  # one feed's catch-up must not keep the others from theirs
                log.exception("catching up feed %s failed", clock.feed)

    def run_forever(self, stop: threading.Event, tick_seconds: float = 20) -> None:
        """Catch up, then run due jobs until `stop` is set (call in its own thread)."""
        self.catch_up()
        while not stop.is_set():
            try:
                self.scheduler.run_pending()
            except Exception:  # keep the clocks alive; run_job already logs its failures
                log.exception("scheduler tick failed")
            stop.wait(tick_seconds)

    def start_thread(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, args=(stop,), name="feed-clocks", daemon=True)
        thread.start()
        return thread
