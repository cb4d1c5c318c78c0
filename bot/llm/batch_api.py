"""The Batch API path (`--batch`): half price, results within 24 h.

All of a run's calls go into one JSONL file, one batch. The batch id is stored in
`llm_batches` before we start waiting, so a run that is interrupted and resumed collects
the same batch instead of submitting (and paying for) it again. At the deadline an
unfinished batch is cancelled, and its papers go through direct calls instead; a
cancelled batch still returns what it had finished, and that is used.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from ..db import now
from .usage import CallRecord

log = logging.getLogger(__name__)
FINAL_STATES = ("completed", "failed", "expired", "cancelled")


@dataclass
class BatchReply:
    custom_id: str
    arxiv_ids: list[str]  # the papers that request carried
    content: str | None
    finish_reason: str
    record: CallRecord


class BatchRunner:
    def __init__(self, client, db, scorer_name: str, model: str, *, feed: str, deadline_seconds: float,
                 poll_seconds: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        self.client, self.db = client, db
        self.feed = feed  # the feed whose run submits: a resumed run of another feed never collects its batch
        self.scorer_name, self.model = scorer_name, model
        self.deadline_seconds, self.poll_seconds = deadline_seconds, poll_seconds
        self.sleep, self.clock = sleep, clock
        self.notes: list[str] = []

    def _pending(self, date: str, criteria_version: int | None) -> dict | None:
        return next(self.db.query(
            """select * from llm_batches where feed = ? and date = ? and scorer = ? and criteria_version is ?
               and status = 'submitted' order by submitted_at desc limit 1""",
            [self.feed, date, self.scorer_name, criteria_version]), None)

    def _submit(self, date: str, criteria_version: int | None, requests: dict[str, tuple[list[str], dict]]) -> dict:
        lines = [json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body},
                            ensure_ascii=False) for cid, (_, body) in requests.items()]
        upload = self.client.files.create(file=("requests.jsonl", ("\n".join(lines) + "\n").encode("utf-8")),
                                          purpose="batch")
        batch = self.client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                           completion_window="24h")
        deadline = datetime.fromtimestamp(self.clock() + self.deadline_seconds, timezone.utc)
        row = {"id": batch.id, "feed": self.feed, "date": date, "scorer": self.scorer_name,
               "criteria_version": criteria_version,
               "model": self.model, "status": "submitted",
               "requests": json.dumps({cid: ids for cid, (ids, _) in requests.items()}),
               "input_file_id": upload.id, "output_file_id": None, "submitted_at": now(),
               "deadline": deadline.isoformat(timespec="seconds"), "finished_at": None, "detail": ""}
        with self.db.conn:
            self.db["llm_batches"].insert(row)
        log.info("submitted batch %s with %d requests", batch.id, len(requests))
        return row

    def _finish(self, batch_id: str, status: str, output_file_id: str | None, detail: str) -> None:
        with self.db.conn:
            self.db.conn.execute(
                "update llm_batches set status = ?, output_file_id = ?, finished_at = ?, detail = ? where id = ?",
                (status, output_file_id, now(), detail, batch_id))

    def run(self, date: str, criteria_version: int | None,
            requests: dict[str, tuple[list[str], dict]]) -> list[BatchReply]:
        """Submit (or resume) and wait until done or the deadline; the replies that came back."""
        row = self._pending(date, criteria_version)
        if row is None:
            if not requests:
                return []
            row = self._submit(date, criteria_version, requests)
        else:
            self.notes.append(f"Resumed Batch API job {row['id']} submitted at {row['submitted_at']}.")
        deadline = datetime.fromisoformat(row["deadline"]).timestamp()
        batch = self.client.batches.retrieve(row["id"])
        while batch.status not in FINAL_STATES and self.clock() < deadline:
            self.sleep(min(self.poll_seconds, max(0.0, deadline - self.clock())))
            batch = self.client.batches.retrieve(row["id"])
        if batch.status not in FINAL_STATES:
            log.warning("batch %s not done by the deadline (%s); cancelling it, direct calls take over",
                        row["id"], batch.status)
            self.notes.append(f"Batch API job {row['id']} was not done by the deadline: cancelled, "
                              "its papers were scored by direct calls.")
            try:
                batch = self.client.batches.cancel(row["id"])
            except Exception as exc:  # a failed cancel must not lose the run
                log.warning("cancelling batch %s failed: %s", row["id"], exc)
        carried = json.loads(row["requests"])
        replies = self._collect(batch, carried) if getattr(batch, "output_file_id", None) else []
        self._finish(row["id"], "collected" if batch.status == "completed" else "abandoned",
                     getattr(batch, "output_file_id", None), f"{batch.status}; {len(replies)} replies")
        return replies

    def _collect(self, batch, carried: dict[str, list[str]]) -> list[BatchReply]:
        text = self.client.files.content(batch.output_file_id).text
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                log.warning("unreadable line in batch output %s", batch.output_file_id)
                continue
            cid = doc.get("custom_id")
            if cid not in carried:
                log.warning("batch output names an unknown request %r; dropped", cid)
                continue
            resp = doc.get("response") or {}
            body = resp.get("body") or {}
            rec = CallRecord(model=self.model, kind="batch", batch_key=f"{batch.id}:{cid}", n_papers=len(carried[cid]))
            usage = body.get("usage") or {}
            rec.prompt_tokens = usage.get("prompt_tokens") or 0
            rec.completion_tokens = usage.get("completion_tokens") or 0
            rec.cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            content, finish = None, ""
            if resp.get("status_code") == 200 and body.get("choices"):
                choice = body["choices"][0]
                content = (choice.get("message") or {}).get("content") or ""
                finish = rec.finish_reason = choice.get("finish_reason") or ""
            else:
                rec.ok = False
                rec.error = f"batch request failed: HTTP {resp.get('status_code')} {doc.get('error') or ''}"[:300]
            out.append(BatchReply(cid, carried[cid], content, finish, rec))
        return out
