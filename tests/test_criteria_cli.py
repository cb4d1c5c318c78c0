"""`python -m bot criteria show | set FILE | history | restore N`, and a digest run adopting an
edited criteria file, through the real CLI entry point on a real SQLite file."""
from __future__ import annotations

import os
import time
import unicodedata
from pathlib import Path

import pytest

from bot.cli import main
from bot.db import open_db

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DAY = FIXTURES / "rss-2025-02-24-7items.xml"


@pytest.fixture
def team(tmp_path, monkeypatch):
    """A settings file whose criteria file and database live in tmp_path; run(*argv) -> (rc, out, err)."""
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    criteria_file = tmp_path / "criteria.txt"
    _write(criteria_file, "1. Sparse mixture-of-experts routing\n   - Relevant: expert routing, load balancing.\n")
    settings_file = tmp_path / "team.toml"
    settings_file.write_text(f'[ranking]\ncriteria_file = "{criteria_file}"\n[storage]\n'
                             f'database = "{tmp_path / "team.sqlite"}"\ndigest_dir = "{tmp_path / "digests"}"\n',
                             encoding="utf-8")
    return tmp_path, settings_file


def _write(path: Path, text: str, age_seconds: float = 0) -> None:
    path.write_text(text, encoding="utf-8")
    when = time.time() - age_seconds
    os.utime(path, (when, when))


def _run(team, capsys, *argv):
    _, settings_file = team
    rc = main(["--settings", str(settings_file), *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _versions(team) -> list[dict]:
    tmp_path, _ = team
    return list(open_db(tmp_path / "team.sqlite").query("select * from criteria_versions order by id"))


def test_show_prints_the_current_version_seeded_from_the_file(team, capsys):
    rc, out, _ = _run(team, capsys, "criteria", "show")
    assert rc == 0
    assert out.startswith("criteria version 1, saved ") and "by settings (from file" in out
    assert "1. Sparse mixture-of-experts routing" in out


def test_set_history_and_restore(team, capsys):
    tmp_path, _ = team
    new = tmp_path / "ours.txt"
    new.write_text("1. Quantization of large language models\n   - Relevant: 4-bit weights, KV cache.\n",
                   encoding="utf-8")
    rc, out, _ = _run(team, capsys, "criteria", "set", str(new))
    assert rc == 0 and "saved as criteria version 2" in out
    rc, out, _ = _run(team, capsys, "criteria", "set", str(new))
    assert rc == 0 and "nothing changed" in out and len(_versions(team)) == 2
    v2 = _versions(team)[1]
    assert v2["created_by"].startswith("cli") and v2["note"] == f"set from {new}"

    rc, out, _ = _run(team, capsys, "criteria", "history")
    lines = out.splitlines()
    assert rc == 0 and lines[0].split() == ["version", "when", "who", "chars", "note"]
    newest, oldest = lines[2], lines[3]
    assert newest.split()[0] == "2*" and v2["created_by"] in newest and f"set from {new}" in newest
    assert str(len(v2["text"])) in newest.split() and oldest.split()[0] == "1" and "from file" in oldest

    rc, out, _ = _run(team, capsys, "criteria", "restore", "1")
    assert rc == 0 and "version 1 restored as version 3" in out
    v3 = _versions(team)[2]
    assert v3["text"] == _versions(team)[0]["text"] and v3["note"] == "restored from version 1"
    rc, out, _ = _run(team, capsys, "criteria", "restore", "3")
    assert rc == 0 and "already the current criteria" in out and len(_versions(team)) == 3
    rc, _, err = _run(team, capsys, "criteria", "restore", "9")
    assert rc == 1 and "there is no criteria version 9" in err and "criteria history" in err
    rc, out, _ = _run(team, capsys, "criteria", "show")
    assert out.startswith("criteria version 3,") and "Sparse mixture-of-experts routing" in out


@pytest.mark.parametrize("content, reason", [
    (b"MoE", "the criteria text is too short (3 characters; at least 20)"),
    (b"1. Sparse mixture-of-experts \xc6\xc6 routing", "not UTF-8 text (byte 0xc6 at offset 29)"),
    (None, "the file does not exist"),
])
def test_set_refuses_an_unusable_file_with_the_reason(team, capsys, content, reason):
    tmp_path, _ = team
    bad = tmp_path / "bad.txt"
    if content is not None:
        bad.write_bytes(content)
    _run(team, capsys, "criteria", "show")
    rc, out, err = _run(team, capsys, "criteria", "set", str(bad))
    assert rc == 1 and out == ""
    assert f"criteria set {bad}: " in err and reason in err and "nothing changed" in err
    assert len(_versions(team)) == 1


def test_show_says_when_the_file_waits_to_be_adopted(team, capsys):
    tmp_path, _ = team
    _run(team, capsys, "criteria", "show")
    _write(tmp_path / "criteria.txt", "1. Graph neural networks for chemistry\n")
    rc, out, _ = _run(team, capsys, "criteria", "show")
    assert rc == 0 and "changed since it was last adopted: the next run makes it a new version" in out
    assert out.startswith("criteria version 1,")


def test_show_never_prints_terminal_escapes(team, capsys):
    tmp_path, _ = team
    hostile = tmp_path / "hostile.txt"
    hostile.write_text("1. Robust models \x1b[2J\x1b]0;pwned\x07 and \u202egnirts\n", encoding="utf-8")
    _run(team, capsys, "criteria", "set", str(hostile))
    rc, out, _ = _run(team, capsys, "criteria", "show")
    assert rc == 0 and "1. Robust models" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out


# Invisible or direction-changing characters beyond the C0/C1 controls and the bidi embeddings:
# the Arabic letter mark, zero-width space and word joiner, a BOM, a soft hyphen, tag characters.
_INVISIBLE = "\u061c\u200b\u2060\ufeff\u00ad\U000e0041\U000e0042\u2028\x1b[31m\u202e"


def _hidden(out: str) -> list[str]:
    return [hex(ord(ch)) for ch in out if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")]


def test_every_criteria_action_prints_only_visible_characters_line_by_line(team, capsys):
    tmp_path, _ = team
    hostile = tmp_path / f"crit{_INVISIBLE}.txt"
    hostile.write_text(f"1. Robust{_INVISIBLE} models\n   - Relevant: distribution shift\n2. Graph learning\n",
                       encoding="utf-8")
    rc, out, _ = _run(team, capsys, "criteria", "set", str(hostile))
    assert rc == 0 and _hidden(out) == []
    for action in ("show", "history"):
        rc, out, _ = _run(team, capsys, "criteria", action)
        assert rc == 0 and _hidden(out) == [], action
    lines = out.splitlines()
    assert any("set from" in line and "crit" in line for line in lines)  # the note is still shown
    rc, out, _ = _run(team, capsys, "criteria", "show")
    robust = next(line for line in out.splitlines() if line.startswith("1. Robust"))  # the lines are kept
    assert out.split(robust, 1)[1].startswith("\n   - Relevant: distribution shift\n2. Graph learning\n")


def test_a_digest_run_adopts_the_edited_file_says_so_once_and_a_later_set_wins(team, capsys):
    tmp_path, _ = team
    rc, _, err = _run(team, capsys, "digest", "--feed", str(DAY), "--quiet")
    assert rc == 0 and "criteria" not in err, err
    _write(tmp_path / "criteria.txt", "1. Graph neural networks for chemistry\n   - Relevant: molecules, proteins.\n")
    rc, out, err = _run(team, capsys, "digest", "--feed", str(DAY), "--quiet")
    assert rc == 0 and err.count("changed since it was last adopted: it is now criteria version 2") == 1
    assert "criteria v2)" in out
    assert _versions(team)[1]["note"] == f"from file {tmp_path / 'criteria.txt'}"
    rc, out, err = _run(team, capsys, "digest", "--feed", str(DAY), "--quiet")
    assert "changed since" not in err and "criteria v2)" in out  # said once
    # An edit without Slack after that wins, and the unchanged file never overrides it.
    ours = tmp_path / "ours.txt"
    ours.write_text("1. Quantization of large language models\n", encoding="utf-8")
    _run(team, capsys, "criteria", "set", str(ours))
    rc, out, err = _run(team, capsys, "digest", "--feed", str(DAY), "--quiet")
    assert rc == 0 and "criteria v3)" in out and "changed since" not in err


def test_a_copied_file_dated_before_a_later_set_is_not_used_and_both_show_and_the_run_say_so(team, capsys):
    """cp -p / rsync -a: the file's text changed but it keeps an old date, and a `criteria set`
    came between: the set wins, and neither `criteria show` nor the run is silent about the file."""
    tmp_path, _ = team
    ours = tmp_path / "ours.txt"
    ours.write_text("1. Quantization of large language models\n", encoding="utf-8")
    _run(team, capsys, "criteria", "set", str(ours))
    criteria_file = tmp_path / "criteria.txt"
    _write(criteria_file, "1. Graph neural networks for chemistry\n", age_seconds=3600)
    use_it = f"python -m bot criteria --feed default set {criteria_file}"
    rc, out, _ = _run(team, capsys, "criteria", "show")
    assert rc == 0 and "differs from the current criteria version 2" in out and use_it in out
    rc, out, err = _run(team, capsys, "digest", "--feed", str(DAY), "--quiet")
    assert rc == 0 and "criteria v2)" in out
    assert err.count(use_it) == 1 and str(criteria_file) in err and "version 2" in err
    rc, _, _ = _run(team, capsys, "criteria", "set", str(criteria_file))
    rc, out, err = _run(team, capsys, "digest", "--feed", str(DAY), "--quiet")
    assert rc == 0 and "criteria v3)" in out and use_it not in err


@pytest.mark.parametrize("action", [["show"], ["history"], ["restore", "1"]])
def test_a_mistyped_db_is_refused_and_no_database_is_made_there(team, capsys, action):
    tmp_path, _ = team
    typo = tmp_path / "tema.sqlite"
    rc, out, err = _run(team, capsys, "criteria", "--db", str(typo), *action)
    assert rc != 0 and out == "" and f"the database {typo} does not exist" in err
    assert not typo.exists() and not (tmp_path / "team.sqlite").exists()


def test_restore_on_a_team_with_no_database_yet_makes_none(team, capsys):
    tmp_path, _ = team
    rc, _, err = _run(team, capsys, "criteria", "restore", "1")
    assert rc != 0 and "does not exist" in err and not (tmp_path / "team.sqlite").exists()


@pytest.mark.parametrize("which", ["99999999999999999999", "\u00b2", "v\u0663", "-1", "v"])
def test_restore_of_a_number_that_is_no_version_says_so_and_changes_nothing(team, capsys, which):
    _run(team, capsys, "criteria", "show")
    rc, out, err = _run(team, capsys, "criteria", "restore", which)
    assert rc == 1 and out == "" and "Traceback" not in err
    assert ("not a version number" in err or "there is no criteria version" in err) and "criteria history" in err
    assert len(_versions(team)) == 1
