"""An LLM endpoint that misbehaves: a reply that is not a chat completion (a proxy's HTML
page with 200, JSON that is no completion), a hanging endpoint, steady 500s, a closed port.
The real openai client against tests/servers/openai_server.py on 127.0.0.1: the digest
still finishes on local scores, the LLM phase gives up within its time limit, the run
says so in one line, and the digest's notes agree with what happened."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.db import open_db
from bot.llm.provider import CallOutcome
from bot.pipeline import run_day
from bot.scoring import openai_scorer
from bot.scoring.openai_scorer import LLMConfig
from tests.llm_helpers import (BENGIO, DATE, Sleeps, criteria, db, embed_cache,  # noqa: F401
                               make_provider, make_scorer, sample_papers, server, stored_day)
from tests.servers.openai_server import PROXY_PAGE, Scripted, closed_port_url

DAY = Path(__file__).resolve().parent / "fixtures" / "rss-2025-02-24-7items.xml"
LLM_PAPERS = {"2502.15315", "2502.10603", "2502.15451", "2502.15118"}  # kept, not author matches

NOT_COMPLETIONS = {
    "html page": (PROXY_PAGE, "text/html"),
    "error object": (b'{"error": {"message": "upstream timed out", "type": "proxy_error"}}', "application/json"),
    "no choices": (b'{"id": "x", "object": "chat.completion", "choices": []}', "application/json"),
    "choice without message": (b'{"choices": [{"index": 0, "finish_reason": "stop"}]}', "application/json"),
    "broken json": (b'{"choices": [{"index": 0, "mess', "application/json"),
}


# --- a reply that is not a chat completion is a failed try ---------------------------------

@pytest.mark.parametrize("kind", sorted(NOT_COMPLETIONS))
def test_a_reply_that_is_not_a_completion_is_a_failed_try(server, kind):
    body, ctype = NOT_COMPLETIONS[kind]
    server.not_a_completion(body, raw_type=ctype, times=None)
    sleeps = Sleeps()
    outcome = make_provider(server, sleeps=sleeps, max_tries=3).complete(
        [{"role": "user", "content": "<papers>\n</papers>"}], 100, 1)
    assert not outcome.ok and not outcome.fatal
    assert "not a chat completion" in outcome.error
    assert len(server.chat_calls()) == 3 and len(sleeps) == 2, "retried with back-off like a 5xx"
    assert [a.ok for a in outcome.attempts] == [False] * 3


def test_a_proxy_page_once_is_retried_and_the_papers_are_scored(db, server, embed_cache, criteria):
    papers = sample_papers(4)
    stored_day(db, papers)
    server.html_page()
    result = make_scorer(db, server, embed_cache, batch_size=5, concurrency=1).score(papers, criteria, DATE)
    assert len(server.chat_calls()) == 2
    assert {s.source for i, s in result.scores.items() if i != BENGIO} == {"llm"}


# --- a dead, hanging or failing endpoint: the whole run -----------------------------------

def _settings(tmp_path, **changes):
    base = dict(storage__digest_dir=str(tmp_path / "digests"), llm__batch_size=1, llm__concurrency=1,
                llm__prefilter_share=1.0, llm__prefilter_floor=0, llm__prefilter_margin=20.0, llm__title_screen=False, llm__daily_budget_usd=0.0,
                llm__timeout_seconds=1, llm__max_tries=2, llm__max_rounds=3,
                llm__time_limit_seconds=30, llm__give_up_after_failed_calls=2,
                ranking__min_relevance=1, ranking__min_novelty=1)
    base.update(changes)
    return load_settings().override(**base)


def _run(tmp_path, monkeypatch, caplog, base_url, **changes):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    caplog.set_level(logging.DEBUG)
    outcome = run_day(_settings(tmp_path, **changes), open_db(tmp_path / "arxiv.sqlite"), feed_file=DAY)
    assert outcome.status == "done" and outcome.paths[0].exists(), "the digest is written on local scores"
    return outcome


def _llm_lines(outcome, caplog) -> list[str]:
    """What the user sees about the LLM: warning lines of the run and logged warnings."""
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
              and r.name.startswith(("bot.llm", "bot.scoring"))]
    return logged + [w for w in outcome.warnings if "LLM" in w]


def _counts(notes: list[str]) -> dict[str, int]:
    text = " ".join(notes)
    found = {"sent": re.search(r"Sent (\d+) of \d+ papers", text),
             "by_model": re.search(r"(\d+) scored by the model", text),
             "local": re.search(r"(\d+) papers? kept their local score", text)}
    return {k: int(m.group(1)) if m else 0 for k, m in found.items()}


def _assert_all_local(outcome, reason: str) -> None:
    sources = {pk.paper.arxiv_id: pk.score.source for pk in outcome.report.picks}
    assert {sources[i] for i in LLM_PAPERS} == {"local-fallback"}
    notes = outcome.report.notes
    assert not any(n.startswith("Scored by") for n in notes), "no claim that the model scored anything"
    counts = _counts(notes)
    assert counts["by_model"] == 0 and counts["local"] == len(LLM_PAPERS)
    assert " ".join(notes).count(reason) == 1, "the reason is given once"


@pytest.mark.parametrize("mode", ["html page", "steady 500", "closed port"])
def test_a_failing_endpoint_gives_up_after_the_first_calls(tmp_path, monkeypatch, caplog, server, mode):
    if mode == "html page":
        server.html_page(times=None)
    elif mode == "steady 500":
        server.error(502, times=None, message="Bad gateway")
    base_url = closed_port_url() if mode == "closed port" else server.base_url
    outcome = _run(tmp_path, monkeypatch, caplog, base_url)

    _assert_all_local(outcome, "the first 2 calls failed")
    tries = 2
    assert len(server.chat_calls()) <= 2 * tries, "gave up after the first calls instead of trying every batch"
    sent = _counts(outcome.report.notes)["sent"]
    assert sent == 2, "two calls of one paper each went out before the run gave up"
    if mode != "closed port":
        assert sent == len({pid for c in server.chat_calls() for pid in c.paper_ids})
    lines = _llm_lines(outcome, caplog)
    assert len(lines) == 1, lines
    assert "ranked locally" in lines[0]
    per_call = [r for r in caplog.records if r.levelno == logging.DEBUG and "try 1/2" in r.getMessage()]
    assert per_call, "per-call detail is still there at DEBUG (-v)"


def test_a_hanging_endpoint_is_cut_off_by_the_phase_time_limit(tmp_path, monkeypatch, caplog, server):
    server.hang(30, times=None)
    limit = 3
    outcome = _run(tmp_path, monkeypatch, caplog, server.base_url, llm__time_limit_seconds=limit,
                   llm__give_up_after_failed_calls=100)

    _assert_all_local(outcome, f"the time limit of {limit} s for the LLM")
    calls = server.chat_calls()
    assert 0 < len(calls) < len(LLM_PAPERS) * 2 * 3, "stopped long before every try of every round"
    assert all(c.at - calls[0].at < limit for c in calls), "no call starts after the phase's time limit"
    assert len(_llm_lines(outcome, caplog)) == 1


def test_notes_agree_when_the_endpoint_dies_mid_run(tmp_path, monkeypatch, caplog, server):
    ok_first = 2
    server.script(*[Scripted()] * ok_first)  # the model answers the first two calls, then 500s for good
    server.error(500, times=None)
    outcome = _run(tmp_path, monkeypatch, caplog, server.base_url)

    sources = {pk.paper.arxiv_id: pk.score.source for pk in outcome.report.picks}
    by_model = [i for i in LLM_PAPERS if sources[i] == "llm"]
    local = [i for i in LLM_PAPERS if sources[i] == "local-fallback"]
    assert (len(by_model), len(local)) == (ok_first, len(LLM_PAPERS) - ok_first)
    counts = _counts(outcome.report.notes)
    assert (counts["by_model"], counts["local"]) == (len(by_model), len(local))
    assert counts["sent"] == len({pid for c in server.chat_calls() for pid in c.paper_ids})
    assert len(_llm_lines(outcome, caplog)) == 1
    # The label names both scorers, and how many picks each scored.
    n_picks = sum(not pk.author_match for pk in outcome.report.picks)
    assert outcome.report.scorer == (f"openai:gpt-5.4-nano and local:minilm ({len(local)} of {n_picks} picks "
                                     "ranked locally: the LLM calls failed)")


def test_a_healthy_endpoint_notes_every_paper_scored_by_the_model(tmp_path, monkeypatch, caplog, server):
    outcome = _run(tmp_path, monkeypatch, caplog, server.base_url)
    counts = _counts(outcome.report.notes)
    assert counts == {"sent": len(LLM_PAPERS), "by_model": len(LLM_PAPERS), "local": 0}
    assert _llm_lines(outcome, caplog) == []


# --- what scored the picks: the label, the order and the comments follow it ----------------

def _local_run(tmp_path, monkeypatch):
    """The same day with no LLM configured: what the local ranker alone picks and says."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    local = tmp_path / "local"
    local.mkdir()
    return run_day(_settings(local), open_db(local / "arxiv.sqlite"), feed_file=DAY)


def test_a_day_whose_llm_calls_all_failed_is_labelled_ordered_and_commented_as_local(
        tmp_path, monkeypatch, caplog, server):
    server.error(500, times=None, message="boom")
    outcome = _run(tmp_path, monkeypatch, caplog, server.base_url)
    local = _local_run(tmp_path, monkeypatch)
    r = outcome.report
    assert r.scorer == "local:minilm (the LLM calls failed)"
    assert "Scorer: the local ranker (the LLM calls failed); criteria version" in outcome.paths[0].read_text(encoding="utf-8")
    # Every score is local: the local rule orders the picks, exactly as a local run does.
    assert [pk.paper.arxiv_id for pk in r.picks] == [pk.paper.arxiv_id for pk in local.report.picks]
    # Each fallback keeps its local comment; why it fell back is said once, in the notes.
    comments = {pk.paper.arxiv_id: pk.score.comment for pk in local.report.picks}
    assert {i: pk.score.comment for pk in r.picks if (i := pk.paper.arxiv_id) in LLM_PAPERS} == \
        {i: comments[i] for i in LLM_PAPERS}
    md = outcome.paths[0].read_text(encoding="utf-8")
    assert md.count("HTTP 500: boom") == 1 and "Ranked locally" not in md
    assert "Scored by the local ranker (the LLM call failed)" in md


# --- the bound with the shipped settings, and the settings' validation ----------------------

def test_default_settings_bound_the_llm_phase_to_five_minutes_on_openai():
    cfg = LLMConfig.from_settings(load_settings())
    assert not cfg.batch_api, "the Batch API (opt-in) waits up to its own deadline"
    # The phase ends at the time limit, plus the grace given to calls still open at it.
    assert 0 < openai_scorer.time_limit_seconds(cfg, "openai") + openai_scorer.ABANDON_GRACE_SECONDS <= 300
    assert cfg.give_up_after_failed_calls >= 1


@pytest.mark.parametrize("kind", ["llama.cpp", "vllm", "ollama", "other"])
def test_a_self_hosted_server_gets_a_longer_phase_by_default_and_a_setting_wins(kind):
    # A CPU server takes about 2 minutes for one call of 20 papers.
    cfg = LLMConfig.from_settings(load_settings())
    assert openai_scorer.time_limit_seconds(cfg, kind) == 900
    cfg = LLMConfig.from_settings(load_settings().override(llm__time_limit_seconds=30))
    assert openai_scorer.time_limit_seconds(cfg, kind) == openai_scorer.time_limit_seconds(cfg, "openai") == 30


@pytest.mark.parametrize("key,value", [("llm__time_limit_seconds", -1), ("llm__time_limit_seconds", 0.5),
                                       ("llm__time_limit_seconds", "5 min"), ("llm__timeout_seconds", 0.5),
                                       ("llm__server", "lmstudio"), ("llm__context_tokens", 100),
                                       ("llm__give_up_after_failed_calls", 0),
                                       ("llm__give_up_after_failed_calls", 1.5)])
def test_bad_llm_limits_name_the_setting(key, value):
    with pytest.raises(ConfigError, match=key.replace("__", ".")):
        load_settings().override(**{key: value})


def test_the_cli_prints_one_warning_line_for_a_dead_endpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url())
    settings = tmp_path / "team.toml"
    settings.write_text(f'[storage]\ndigest_dir = "{tmp_path / "digests"}"\n'
                        "[llm]\nbatch_size = 1\nprefilter_share = 1.0\nprefilter_floor = 0\nprefilter_margin = 20.0\ntitle_screen = false\nmax_tries = 2\n")
    rc = main(["--settings", str(settings), "digest", "--rss", str(DAY), "--db", str(tmp_path / "a.sqlite"),
               "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0 and "digest written to" in out
    assert "(scorer local:minilm (the LLM calls failed), criteria v" in out
    warnings = [line for line in err.splitlines() if "LLM" in line or "warning" in line.lower()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: LLM scoring with gpt-5.4-nano: 4 papers ranked "
                                                         "locally because the first 2 calls failed (connection error")


# --- the deadline holds even where a call does not end by itself ----------------------------

def test_a_try_is_cut_to_the_deadline_not_the_timeout(server):
    server.hang(30, times=None)
    outcome = make_provider(server, timeout=20, max_tries=4).complete(
        [{"role": "user", "content": "<papers>\n</papers>"}], 100, 1, deadline=time.monotonic() + 1)
    assert not outcome.ok and outcome.attempts[0].error == "timeout"
    assert outcome.attempts[0].latency_ms < 10_000, "the try ended at the deadline, not after its 20 s timeout"
    assert len(server.chat_calls()) == 1, "no try starts after the deadline"


def _complete_in_thread(provider, deadline: float, wait_s: float) -> CallOutcome | None:
    """The provider's call, or None when it has not returned after `wait_s` (the thread is
    left behind: it is a daemon, so a test that fails does not hang the suite)."""
    got: list[CallOutcome] = []
    worker = threading.Thread(target=lambda: got.append(provider.complete(
        [{"role": "user", "content": "<papers>\n</papers>"}], 100, 1, deadline=deadline)), daemon=True)
    worker.start()
    worker.join(wait_s)
    return got[0] if got else None


@pytest.mark.parametrize("bound", ["timeout", "deadline"])
def test_a_trickling_reply_ends_at_the_try_timeout_or_the_deadline(server, bound):
    """Every read of a trickled body returns at once, so only a bound on the whole request
    ends it: llm.timeout_seconds for one try, the phase's deadline for the call."""
    server.trickle(0.2, times=None)
    timeout, deadline = (1, time.monotonic() + 60) if bound == "timeout" else (60, time.monotonic() + 1)
    outcome = _complete_in_thread(make_provider(server, timeout=timeout, max_tries=1), deadline, wait_s=30)
    assert outcome is not None, "the call was still reading the trickled reply after 30 s"
    assert not outcome.ok and outcome.attempts[0].error == "timeout"
    assert outcome.attempts[0].latency_ms < 10_000


class StuckProvider:
    """A ChatProvider whose call never returns by itself (an endpoint that trickles bytes)."""
    model = "gpt-5.4-nano"
    kind = "openai"
    timeout = 60.0

    def __init__(self):
        self.release = threading.Event()
        self.calls = 0

    def context_tokens(self) -> int | None:
        return None

    def complete(self, messages, max_tokens, n_papers=0, deadline=None, ids=None):
        self.calls += 1
        self.release.wait(30)
        return CallOutcome(error="released")


def test_calls_still_open_at_the_limit_are_abandoned(db, server, embed_cache, criteria, monkeypatch):
    monkeypatch.setattr(openai_scorer, "ABANDON_GRACE_SECONDS", 0.2)
    papers = sample_papers(4)
    stored_day(db, papers)
    stuck = StuckProvider()
    scorer = make_scorer(db, server, embed_cache, provider=stuck, batch_size=1, time_limit_seconds=1)
    try:
        result = scorer.score(papers, criteria, DATE)
        assert not stuck.release.is_set(), "the run returned while its call was still open"
    finally:
        stuck.release.set()
    assert stuck.calls == 1
    assert {s.source for i, s in result.scores.items() if i != BENGIO} == {"local-fallback"}
    assert any("the time limit of 1 s for the LLM phase" in n for n in result.notes)


# --- the process ends: nothing outlives the run -------------------------------------------

def _digest_process(tmp_path, base_url: str, time_limit: float) -> subprocess.Popen:
    settings = tmp_path / "team.toml"
    settings.write_text(f'[storage]\ndigest_dir = "{tmp_path / "digests"}"\n'
                        f"[llm]\ntime_limit_seconds = {time_limit}\ntimeout_seconds = 60\nmax_tries = 1\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["OPENAI_BASE_URL"] = base_url
    return subprocess.Popen([sys.executable, "-m", "bot", "digest", "--sample", "--quiet", "--settings",
                             str(settings), "--db", str(tmp_path / "a.sqlite")],
                            cwd=Path(__file__).resolve().parent.parent, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


class _Lines:
    """A process's output, read in a thread: the test can wait for a line with a timeout."""

    def __init__(self, proc: subprocess.Popen, wanted: str):
        self.lines: list[str] = []
        self.seen = threading.Event()
        self.wanted = wanted
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line)
            if self.wanted in line:
                self.seen.set()

    def text(self) -> str:
        return "".join(self.lines)[-3000:]


def test_the_digest_process_exits_although_the_endpoint_trickles_forever(tmp_path, server):
    """Each read of a trickled body returns within the client's timeout, so only a deadline
    for the whole request ends the call; a worker thread still reading would keep the
    interpreter alive after the digest is written."""
    server.trickle(0.3, times=None)
    limit = 3
    proc = _digest_process(tmp_path, server.base_url, limit)
    out = _Lines(proc, "digest written to")
    try:
        assert out.seen.wait(600), f"no digest written; the output:\n{out.text()}"
        try:
            proc.wait(timeout=limit + 30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the digest was written but the process did not exit within {limit + 30} s")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == 0, out.text()
    assert f"the time limit of {limit} s for the LLM phase" in out.text(), "it says why papers were ranked locally"
    assert server.chat_calls(), "the call went out and was cut off by the deadline"


# --- the stored day reads back as it was scored ----------------------------------------------

import json  # noqa: E402

from bot.digest import scored_by  # noqa: E402
from bot.slack.client import make_web_client  # noqa: E402
from bot.pipeline import stored_report  # noqa: E402
from bot.slack.post import run_and_post  # noqa: E402
from tests.servers.slack_server import DEFAULT_CHANNEL_ID, SlackServer  # noqa: E402
from tests.slack_helpers import BOT_TOKEN  # noqa: E402


def test_a_stored_day_whose_llm_calls_all_failed_reads_back_as_local(tmp_path, monkeypatch, caplog, server):
    """`post --date`, `/arxiv run DATE` and a resumed thread post the day from the database:
    the thread's header names what scored it and each pick says its own source, as the run did."""
    server.error(500, times=None, message="boom")
    outcome = _run(tmp_path, monkeypatch, caplog, server.base_url)
    settings = _settings(tmp_path).override(slack__seconds_between_posts=0, slack__channel="#arxiv-papers")
    db = open_db(tmp_path / "arxiv.sqlite")

    stored = stored_report(settings, db, outcome.date)
    assert stored.scorer == outcome.report.scorer == "local:minilm (the LLM calls failed)"
    assert [(pk.paper.arxiv_id, pk.score.source) for pk in stored.picks] == \
        [(pk.paper.arxiv_id, pk.score.source) for pk in outcome.report.picks]
    assert [scored_by(pk, stored) for pk in stored.picks] == \
        [scored_by(pk, outcome.report) for pk in outcome.report.picks]

    with SlackServer() as slack:
        posted = run_and_post(settings, db, make_web_client(BOT_TOKEN, slack.api_url), date=outcome.date)
        assert posted.status == "posted", posted.message
        header = json.dumps(slack.posted(DEFAULT_CHANNEL_ID)[0]["blocks"])
    assert "Scored by the local ranker (the LLM calls failed)" in header and "openai:" not in header
