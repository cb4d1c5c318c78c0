"""The command line as typed: global options on either side of the command, arguments
checked when parsed (exit 2 naming the option and the form it takes), every missing
secret named at once."""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_team_settings(monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)


def parse(argv: list[str]) -> argparse.Namespace:
    cli._load_plugins()
    return cli.build_parser().parse_args(argv)


@pytest.mark.parametrize("argv, verbose, settings", [
    (["digest", "--sample", "-v"], True, None),
    (["-v", "digest", "--sample"], True, None),
    (["digest", "--sample", "--verbose", "--settings", "team.toml"], True, "team.toml"),
    (["digest", "--settings", "team.toml", "--sample"], False, "team.toml"),
    (["--settings", "team.toml", "digest", "--sample"], False, "team.toml"),
    (["--settings", "old.toml", "digest", "--settings", "new.toml"], False, "new.toml"),  # the later one wins
    (["-v", "costs", "--days", "3"], True, None),  # given before: not reset by the command's parser
    (["feedback", "import", "votes.jsonl", "-v", "--settings", "team.toml"], True, "team.toml"),  # a sub-command
    (["post", "--sample", "-v"], True, None),
])
def test_global_options_work_before_and_after_the_command(argv, verbose, settings):
    args = parse(argv)
    assert (args.verbose, args.settings) == (verbose, settings)


def test_settings_after_the_command_are_the_ones_used(tmp_path, capsys):
    db_path = tmp_path / "from-team-file.sqlite"
    team = tmp_path / "team.toml"
    team.write_text(f'[storage]\ndatabase = "{db_path}"\n', encoding="utf-8")
    assert cli.main(["costs", "--settings", str(team), "-v"]) == 0
    assert "no LLM calls recorded" in capsys.readouterr().out
    assert db_path.is_file()


def test_verbose_after_the_command_shows_the_traceback(tmp_path, monkeypatch, capsys):
    from bot import llm_cli

    def broken(args, settings):
        raise RuntimeError("something unexpected")

    monkeypatch.setitem(cli.COMMANDS, "costs", (llm_cli._costs_args, broken, "costs"))
    assert cli.main(["costs", "--db", str(tmp_path / "x.sqlite"), "-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: something unexpected" in err


def _options_where(takes) -> list:
    """(command path, action) for every option of every command and sub-command where `takes(action)`."""
    cli._load_plugins()
    todo, found = [((), cli.build_parser())], []
    while todo:
        path, parser = todo.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += [((*path, name), sub) for name, sub in action.choices.items()]
            elif action.option_strings and takes(action):
                found.append((" ".join(path), action))
    return found


def _date_options():
    """Every option that takes a date: --date, or one shown as DATE."""
    return _options_where(lambda action: "--date" in action.option_strings or action.metavar == "DATE")


def test_every_date_option_uses_the_one_date_check():
    found = list(_date_options())
    assert {name for name, _ in found} >= {"digest", "post", "eval"}
    assert [(name, action.dest) for name, action in found if action.type is not cli.iso_date] == []


@pytest.mark.parametrize("value", ["yesterday", "2025-13-45"])
def test_eval_score_from_says_what_a_date_looks_like_as_digest_does(value, capsys):
    with pytest.raises(SystemExit) as stop:
        parse(["eval", "--labels", "l.jsonl", "--criteria", "c.txt", "--score-from", value])
    assert stop.value.code == 2
    assert f"argument --score-from: {value!r} is not a date: write it as YYYY-MM-DD" in capsys.readouterr().err


def test_a_broken_eval_cache_is_named_not_the_team_database(tmp_path, capsys):
    """eval keeps its own embedding cache (--cache): an unusable cache file is that file,
    and the advice is about --cache, not the team's storage.database."""
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"date": "2025-02-24", "arxiv_id": "2502.00001", "title": "Routing experts", '
                      '"abstract": "We route tokens.", "relevance": 1}\n', encoding="utf-8")
    crit = tmp_path / "criteria.txt"
    crit.write_text("1. Mixture-of-experts routing\n", encoding="utf-8")
    cache = tmp_path / "eval-cache.sqlite"
    cache.write_bytes(b"not a database, just bytes " * 400)
    team_db = tmp_path / "team.sqlite"
    team = tmp_path / "team.toml"
    team.write_text(f'[storage]\ndatabase = "{team_db}"\n', encoding="utf-8")
    rc = cli.main(["eval", "--labels", str(labels), "--criteria", str(crit), "--cache", str(cache),
                   "--settings", str(team), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"{cache} is not a SQLite database" in err and "--cache" in err
    assert str(team_db) not in err and "storage.database" not in err


@pytest.mark.parametrize("command", ["digest", "post"])
@pytest.mark.parametrize("value", ["yesterday", "2025-13-45", "2025-02-30", "24/02/2025"])
def test_a_date_that_is_not_a_day_stops_at_parsing(command, value, capsys):
    with pytest.raises(SystemExit) as stop:
        parse([command, "--date", value])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert f"argument --date: {value!r} is not a date: write it as YYYY-MM-DD" in err


def test_a_real_date_is_accepted_as_written():
    assert parse(["digest", "--date", "2025-02-24"]).date == "2025-02-24"


@pytest.mark.parametrize("value", ["-3", "three", "1.5", "36501", "99999999999"])
def test_costs_days_must_be_a_whole_number_of_days_within_a_century(value, capsys):
    with pytest.raises(SystemExit) as stop:
        parse(["costs", "--days", value])
    assert stop.value.code == 2
    assert (f"argument --days: {value!r} is not a number of days: give a whole number from 0 to 36500"
            in capsys.readouterr().err)
    assert parse(["costs", "--days", "0"]).days == 0


def test_costs_over_the_longest_span_runs_on_a_real_database(tmp_path, capsys):
    assert cli.main(["costs", "--days", "36500", "--db", str(tmp_path / "x.sqlite")]) == 0
    assert "no LLM calls recorded" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["0", "65536", "99999999999", "http"])
def test_run_port_must_be_a_tcp_port(value, capsys):
    with pytest.raises(SystemExit) as stop:
        parse(["run", "--http", "--port", value])
    assert stop.value.code == 2
    assert f"argument --port: {value!r} is not a port: give a whole number from 1 to 65535" in capsys.readouterr().err


def _without_slack_secrets() -> dict[str, str]:
    dotenv = ROOT / ".env"
    if dotenv.exists() and "SLACK_" in dotenv.read_text(encoding="utf-8"):
        pytest.skip("a local .env provides Slack secrets")
    return {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "ARXIV_SETTINGS"}


@pytest.mark.parametrize("mode, names", [
    ([], ["SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"]),
    (["--http"], ["SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"]),
])
def test_run_names_every_missing_secret_at_once(tmp_path, mode, names):
    done = subprocess.run([sys.executable, "-m", "bot", "run", *mode, "--db", str(tmp_path / "x.sqlite")],
                          cwd=ROOT, env=_without_slack_secrets(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    for name in names:
        assert f"{name} is not set" in done.stderr
    assert "Put them in the environment or in .env" in done.stderr


def _bot(*argv: str, env: dict[str, str] | None = None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *argv], cwd=ROOT, env=env or _without_slack_secrets(),
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)


def _team_database(folder: Path) -> Path:
    """A team database that earlier runs created (criteria show and history create none)."""
    from bot.db import open_db

    path = folder / "team.sqlite"
    open_db(path).conn.close()
    return path


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    """`python -m bot criteria show | head -3`: the reader closes the pipe before the output
    is written, which is how a pager or head ends, not a failure of the command."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the command writes anything: every write is a broken pipe
    try:
        done = _bot("criteria", "--db", str(_team_database(tmp_path)), "show", stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr == ""


def _closed_port() -> int:
    from urllib.parse import urlsplit

    from tests.servers.openai_server import closed_port_url

    return urlsplit(closed_port_url()).port


def _slack_env(**secrets: str) -> dict[str, str]:
    return {**_without_slack_secrets(), **secrets}


@pytest.mark.parametrize("mode, secrets, wrong", [
    ([], {"SLACK_BOT_TOKEN": "xoxp-not-a-bot-token", "SLACK_APP_TOKEN": "xoxb-not-an-app-token"},
     [("SLACK_BOT_TOKEN", "xoxb-"), ("SLACK_APP_TOKEN", "xapp-")]),
    (["--http"], {"SLACK_BOT_TOKEN": "xapp-not-a-bot-token", "SLACK_SIGNING_SECRET": "s3cr3t-value"},
     [("SLACK_BOT_TOKEN", "xoxb-")]),
])
def test_run_names_every_token_of_the_wrong_kind_before_connecting(tmp_path, mode, secrets, wrong):
    url = f"http://127.0.0.1:{_closed_port()}/api/"
    done = _bot("run", *mode, "--db", str(tmp_path / "x.sqlite"), env=_slack_env(SLACK_API_URL=url, **secrets))
    assert done.returncode == 2
    for name, prefix in wrong:
        assert f"{name} should start with {prefix}" in done.stderr
    assert "slack_sdk" not in done.stderr and "could not reach" not in done.stderr  # nothing was sent
    assert not any(value[5:] in done.stderr + done.stdout for value in secrets.values())  # secrets never printed


def test_run_that_cannot_reach_slack_names_the_url_and_what_to_check(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/api/"
    done = _bot("run", "--db", str(tmp_path / "x.sqlite"),
                env=_slack_env(SLACK_API_URL=url, SLACK_BOT_TOKEN="xoxb-1-secretpart", SLACK_APP_TOKEN="xapp-1-secretpart"))
    assert done.returncode == 1
    assert f"could not reach Slack at {url}" in done.stderr and "check the network or SLACK_API_URL" in done.stderr
    assert "re-run the same command to resume" not in done.stderr and "URLError" not in done.stderr
    assert "secretpart" not in done.stderr + done.stdout


def test_post_that_cannot_reach_slack_says_the_same_as_run(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/api/"
    team = tmp_path / "team.toml"
    team.write_text(f'[storage]\ndigest_dir = "{tmp_path / "digests"}"\n', encoding="utf-8")
    env = {k: v for k, v in _slack_env(SLACK_API_URL=url, SLACK_BOT_TOKEN="xoxb-1-secretpart").items()
           if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    done = _bot("post", "--feed", str(ROOT / "tests" / "fixtures" / "rss-2025-02-24-7items.xml"), "--quiet",
                "--channel", "C123", "--db", str(tmp_path / "x.sqlite"), "--settings", str(team), env=env)
    assert done.returncode == 1
    assert f"could not reach Slack at {url}" in done.stderr and "check the network or SLACK_API_URL" in done.stderr
    assert "URLError" not in done.stderr and "secretpart" not in done.stderr


def test_restoring_a_version_number_too_large_for_sqlite_is_no_such_version(tmp_path, capsys):
    assert cli.main(["criteria", "--db", str(_team_database(tmp_path)), "restore", "9" * 30]) == 1
    err = capsys.readouterr().err
    assert "is not a version number" in err and "criteria history` lists them" in err and "re-run" not in err


@pytest.mark.parametrize("argv, option, what", [
    (["eval", "--labels", "l.jsonl", "--criteria", "c.txt", "--threads", "99999999999"], "--threads", "a number of threads"),
    (["eval", "--labels", "l.jsonl", "--criteria", "c.txt", "--threads", "0"], "--threads", "a number of threads"),
    (["eval", "--labels", "l.jsonl", "--criteria", "c.txt", "--top", "0"], "--top", "a number of papers"),
])
def test_eval_counts_are_bounded_at_parsing(argv, option, what, capsys):
    """A thread count onnxruntime cannot take stops at parsing, not inside the model."""
    with pytest.raises(SystemExit) as stop:
        parse(argv)
    assert stop.value.code == 2
    assert f"argument {option}: {argv[-1]!r} is not {what}: give a whole number from 1 to" in capsys.readouterr().err


def test_a_reader_gone_mid_output_in_process_is_not_an_error(tmp_path, monkeypatch, capsys):
    """The same through bot.cli.main, as the Slack worker or a script calls it: stdout
    raising BrokenPipeError while the command prints ends it with 141, no error printed."""
    class GonePipe(io.TextIOBase):  # a text stream with no file behind it, as pytest's capture
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", GonePipe())
    assert cli.main(["criteria", "--db", str(_team_database(tmp_path)), "history"]) == 141
    assert capsys.readouterr().err == ""


def _open_fds() -> set[str]:
    import gc

    gc.collect()  # files that earlier tests dropped are closed now, not in the middle
    return set(os.listdir(f"/proc/{os.getpid()}/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_a_reader_gone_leaves_an_in_process_callers_stdout_as_it_was(tmp_path, monkeypatch):
    """A script or the Slack worker calling bot.cli.main keeps its stdout after a command
    that met a closed pipe: the file still takes output, and no file is left open."""
    def reader_left(args, settings):
        raise BrokenPipeError(32, "Broken pipe")

    cli._load_plugins()  # registered first, so the stand-in below is the one that runs
    monkeypatch.setitem(cli.COMMANDS, "costs", (lambda p: None, reader_left, "costs"))
    out_path = tmp_path / "callers-stdout.txt"
    with out_path.open("w", encoding="utf-8") as callers_stdout:
        monkeypatch.setattr(sys, "stdout", callers_stdout)
        before = _open_fds()
        assert cli.main(["costs"]) == 141
        assert _open_fds() == before
        print("still the caller's", file=callers_stdout, flush=True)
    assert out_path.read_text(encoding="utf-8") == "still the caller's\n"


def test_a_command_with_its_own_database_names_that_file_on_an_sqlite_error(tmp_path, monkeypatch, capsys):
    """A command declares at registration which option holds its SQLite file; an error mid-command
    names that file and where it is set, not the team's storage.database."""
    import sqlite3

    monkeypatch.setattr(cli, "COMMANDS", dict(cli.COMMANDS))
    monkeypatch.setattr(cli, "OWN_DATABASES", dict(cli.OWN_DATABASES))

    @cli.command("scratch", "a command on its own SQLite file", database=cli.OwnDatabase("store", "--store"))
    @cli.arguments(lambda p: p.add_argument("--store"))
    def scratch(args, settings):
        raise sqlite3.DatabaseError("file is not a database")

    store = tmp_path / "scratch.sqlite"
    assert cli.main(["scratch", "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert str(store) in err and "--store" in err and "storage.database" not in err


@pytest.mark.parametrize("code", ["invalid_auth", "token_revoked"])
def test_run_whose_app_token_slack_refuses_names_it_and_no_rerun(tmp_path, code):
    from tests.servers.slack_server import SlackServer

    with SlackServer() as slack:
        slack.fail("apps.connections.open", code, times=None)
        done = _bot("run", "--no-scheduler", "--db", str(tmp_path / "x.sqlite"),
                    env=_slack_env(SLACK_API_URL=slack.api_url, SLACK_BOT_TOKEN="xoxb-1-secretpart",
                                   SLACK_APP_TOKEN="xapp-1-secretpart"))
    assert done.returncode == 2
    assert f"Slack refused SLACK_APP_TOKEN ({code})" in done.stderr and "App-Level Tokens" in done.stderr
    assert "re-run" not in done.stderr and "SlackApiError" not in done.stderr and "secretpart" not in done.stderr
