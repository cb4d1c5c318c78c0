"""The daily job's clock: Monday to Friday at `schedule.time` in `schedule.timezone`.

Built on the `schedule` package (with pytz for its timezone support), which has neither a
weekday range nor catch-up; both live here:
- one job per weekday at the configured time;
- at start-up, when today's run is due (a weekday, past the time) and has not happened
  for this channel, it runs once (a restart or a deploy at 07:05 loses no day);
- each scheduled day's outcome is kept in `scheduled_runs`, so the catch-up is once;
- a day without announcements records "empty" and posts nothing;
- a failed day, or one posted without some papers Slack refused (partial), is retried a
  few times, then waits for the next start-up or day.
"""
from __future__ import annotations

import logging
import threading
import zoneinfo
from datetime import datetime
from typing import Callable

import schedule

from .db import now as utc_now
from .slack.post import DayPost, log_day_post

log = logging.getLogger(__name__)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
DONE = ("posted", "empty")  # a scheduled day with one of these needs nothing more
RETRIED = ("failed", "partial")  # a day with one of these is run again (the thread resumes)
RETRY_MINUTES = 30
MAX_RETRIES = 3


def _status(result: DayPost | None) -> str:
    """scheduled_runs' status for a DayPost (None: the job crashed): posted | empty | partial | failed."""
    status = result.status if result is not None else "failed"
    if status in ("posted", "already_posted"):
        return "posted"
    if status in ("empty", "nothing_picked"):
        return "empty"
    return "partial" if status == "partial" else "failed"


class DailyScheduler:
    """Runs `job()` (the day's run-and-post, returning a DayPost) on weekdays.

    `lock` is shared with `/arxiv run`, so one process never runs two days at once.
    """

    def __init__(self, db, job: Callable[[], DayPost], *, time: str, timezone: str, channel: str,
                 lock: threading.Lock | None = None, scheduler: schedule.Scheduler | None = None):
        self.db = db
        self.job = job
        self.time = time
        self.zone = zoneinfo.ZoneInfo(timezone)
        self.timezone = timezone
        self.channel = channel
        self.lock = lock or threading.Lock()
        self.scheduler = scheduler or schedule.Scheduler()
        self._retries = 0

    @classmethod
    def from_settings(cls, settings, db, job: Callable[[], DayPost], *, channel: str | None = None, lock=None) -> "DailyScheduler":
        return cls(db, job, time=settings["schedule.time"], timezone=settings["schedule.timezone"],
                   channel=channel or settings["slack.channel"], lock=lock)

    # ---- the calendar ----------------------------------------------------------------
    def install(self) -> "DailyScheduler":
        for day in WEEKDAYS:
            getattr(self.scheduler.every(), day).at(self.time, self.timezone).do(self.run_job).tag("daily")
        return self

    def local_now(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(self.zone)).astimezone(self.zone)

    def next_run(self) -> datetime | None:
        """When the next weekday run happens, in the schedule's timezone."""
        runs = [j.next_run for j in self.scheduler.get_jobs("daily") if j.next_run]
        # `schedule` keeps naive datetimes in the machine's local time.
        return min(runs).astimezone(self.zone) if runs else None

    def today_status(self, now: datetime | None = None) -> str | None:
        day = self.local_now(now).date().isoformat()
        row = next(self.db.query("select status from scheduled_runs where day = ? and channel = ?",
                                 [day, self.channel]), None)
        return row["status"] if row else None

    def due_and_missing(self, now: datetime | None = None) -> bool:
        """Today is a weekday, its time has passed, and it has not been done yet."""
        local = self.local_now(now)
        hour, minute = map(int, self.time.split(":"))
        if local.weekday() >= 5 or (local.hour, local.minute) < (hour, minute):
            return False
        return self.today_status(local) not in DONE

    # ---- running ---------------------------------------------------------------------
    def run_job(self, now: datetime | None = None) -> DayPost | None:
        """Run the day once (waiting for a run already in progress) and record the outcome."""
        day = self.local_now(now).date().isoformat()
        with self.lock:
            if self.today_status(now) in DONE:  # a concurrent `/arxiv run` may have just done it
                log.info("scheduled run for %s: already done", day)
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
                    """insert into scheduled_runs (day, channel, status, detail, at) values (?,?,?,?,?)
                       on conflict(day, channel) do update set status=excluded.status, detail=excluded.detail,
                           at=excluded.at""", (day, self.channel, status, detail, utc_now()))
        self._log_outcome(day, detail, result, crash)
        if status in RETRIED:
            self._schedule_retry()
        else:
            self._retries = 0
        return result

    @staticmethod
    def _log_outcome(day: str, detail: str, result: DayPost | None, crash: Exception | None) -> None:
        """The day's report, said once: a worker's log is its only output, and the poster
        leaves saying it to its caller. A crash is one line too, with its traceback."""
        if result is None:
            log.error("scheduled run for %s: %s", day, detail, exc_info=crash)
        else:
            log_day_post(f"scheduled run for {day}", result)

    def _schedule_retry(self) -> None:
        if self._retries >= MAX_RETRIES:
            log.error("giving up on today after %d retries; the next start-up or weekday tries again", MAX_RETRIES)
            self._retries = 0
            return
        self._retries += 1

        def retry():
            self.run_job()
            return schedule.CancelJob
        self.scheduler.every(RETRY_MINUTES).minutes.do(retry).tag("retry")

    def catch_up(self, now: datetime | None = None) -> DayPost | None:
        """At start-up: run today's job once if it is due and missing."""
        if not self.due_and_missing(now):
            return None
        log.warning("today's post is due and missing: catching up now")
        return self.run_job(now)

    def run_forever(self, stop: threading.Event, tick_seconds: float = 20) -> None:
        """Catch up, then run due jobs until `stop` is set (call in its own thread)."""
        self.catch_up()
        while not stop.is_set():
            try:
                self.scheduler.run_pending()
            except Exception:  # keep the clock alive; run_job already logs its failures
                log.exception("scheduler tick failed")
            stop.wait(tick_seconds)

    def start_thread(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, args=(stop,), name="daily-scheduler", daemon=True)
        thread.start()
        return thread
