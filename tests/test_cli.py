"""The command line as typed: global options on either side of the command, arguments
checked when parsed (exit 2 naming the option and the form it takes), every missing
secret named at once."""
from __future__ import annotations

import argparse
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


@pytest.mark.parametrize("value", ["-3", "three", "1.5"])
def test_costs_days_must_be_a_whole_number_of_days(value, capsys):
    with pytest.raises(SystemExit) as stop:
        parse(["costs", "--days", value])
    assert stop.value.code == 2
    assert f"argument --days: {value!r} is not a number of days: give a whole number >= 0" in capsys.readouterr().err
    assert parse(["costs", "--days", "0"]).days == 0


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
