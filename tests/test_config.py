"""Settings: documented defaults, a team file layered on top, and a clear stop on bad values."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import DEFAULTS_FILE, ROOT, SPEC, ConfigError, Settings, load_settings, secret, validate


@pytest.fixture(autouse=True)
def no_team_file(monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)


def team_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "team.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_and_cover_every_setting():
    s = load_settings()
    assert set(s.values) == set(SPEC)
    assert s.sources == [str(DEFAULTS_FILE)]
    assert s["arxiv.min_interval_seconds"] >= 3  # arXiv's terms of use
    assert set(s["arxiv.announce_types"]) <= {"new", "cross"}


def test_every_default_is_documented_by_a_comment():
    # Each key sits in a block of lines (no blank line, no [section]) that has a comment.
    section, block, undocumented = "", [], []
    for ln in DEFAULTS_FILE.read_text(encoding="utf-8").splitlines():
        stripped = ln.strip()
        if not stripped or stripped.startswith("["):
            block = []
            section = stripped.strip("[]") if stripped.startswith("[") else section
            continue
        if "=" in stripped and not stripped.startswith("#") and not any(b.startswith("#") for b in block):
            undocumented.append(f"{section}.{stripped.split('=')[0].strip()}")
        block.append(stripped)
    assert undocumented == []


def test_team_file_is_layered_over_the_defaults(tmp_path):
    path = team_file(tmp_path, '[ranking]\nmin_relevance = 8\nauthors = ["Geoffrey Hinton"]\n')
    s = load_settings(path)
    assert s["ranking.min_relevance"] == 8
    assert s["ranking.authors"] == ["Geoffrey Hinton"]
    assert s["ranking.max_papers"] == load_settings()["ranking.max_papers"]  # untouched keys keep defaults
    assert s.sources == [str(DEFAULTS_FILE), str(path)]


def test_team_file_from_the_environment(tmp_path, monkeypatch):
    path = team_file(tmp_path, '[arxiv]\ncategories = ["stat.ML"]\n')
    monkeypatch.setenv("ARXIV_SETTINGS", str(path))
    assert load_settings()["arxiv.categories"] == ["stat.ML"]


@pytest.mark.parametrize("toml, key, accepted", [
    ("[ranking]\nmin_relevance = 11", "ranking.min_relevance", "a whole number from 1 to 10"),
    ("[ranking]\nmin_relevance = 0", "ranking.min_relevance", "a whole number from 1 to 10"),
    ("[ranking]\nmin_relevance = 7.5", "ranking.min_relevance", "a whole number from 1 to 10"),
    ("[ranking]\nmin_relevance = true", "ranking.min_relevance", "a whole number from 1 to 10"),
    ("[ranking]\nmin_novelty = \"high\"", "ranking.min_novelty", "a whole number from 1 to 10"),
    ("[ranking]\nmax_papers = 0", "ranking.max_papers", "a whole number from 1 to 200"),
    ("[ranking]\nauthors = \"Yoshua Bengio\"", "ranking.authors", "a list of non-empty strings"),
    ("[ranking]\nauthors = [\"\"]", "ranking.authors", "a list of non-empty strings"),
    ("[arxiv]\nannounce_types = [\"replace\"]", "arxiv.announce_types", "['new', 'cross']"),
    ("[arxiv]\nannounce_types = []", "arxiv.announce_types", "['new', 'cross']"),
    ("[arxiv]\ncategories = \"cs.LG\"", "arxiv.categories", "list of arXiv categories"),
    ("[arxiv]\ncategories = [\"cs LG\"]", "arxiv.categories", "list of arXiv categories"),
    ("[arxiv]\ncategories = []", "arxiv.categories", "list of arXiv categories"),
    ("[arxiv]\nfeed_url = \"ftp://rss.arxiv.org/rss/\"", "arxiv.feed_url", "an http(s) URL"),
    ("[arxiv]\nmin_interval_seconds = -1", "arxiv.min_interval_seconds", "a number from 0 to 60"),
    ("[arxiv]\nmax_tries = 0", "arxiv.max_tries", "a whole number from 1 to 10"),
    ("[arxiv]\nenrich = \"yes\"", "arxiv.enrich", "true or false"),
    ("[schedule]\ntime = \"7am\"", "schedule.time", "HH:MM"),
    ("[schedule]\ntime = \"24:00\"", "schedule.time", "HH:MM"),
    ("[schedule]\ntimezone = \"Mars/Olympus_Mons\"", "schedule.timezone", "IANA timezone"),
    ("[storage]\ndatabase = \"\"", "storage.database", "a non-empty string"),
])
def test_wrong_value_names_the_setting_and_what_it_accepts(tmp_path, toml, key, accepted):
    with pytest.raises(ConfigError) as err:
        load_settings(team_file(tmp_path, toml + "\n"))
    msg = str(err.value)
    assert f"setting `{key}`" in msg and "is invalid" in msg
    assert accepted in msg


def test_unknown_key_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(team_file(tmp_path, "[ranking]\nmin_relevence = 5\n"))
    msg = str(err.value)
    assert "unknown setting `ranking.min_relevence`" in msg
    assert "ranking.min_relevance" in msg  # the right spelling is listed


def test_unknown_section_is_an_unknown_setting(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown setting `rankings\.min_relevance`"):
        load_settings(team_file(tmp_path, "[rankings]\nmin_relevance = 5\n"))


def test_bad_toml_names_the_file_and_the_problem(tmp_path):
    path = team_file(tmp_path, "[ranking]\nmin_relevance = \n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    msg = str(err.value)
    assert str(path) in msg and "not valid TOML" in msg and "line 2" in msg


def test_bare_value_outside_a_section(tmp_path):
    with pytest.raises(ConfigError, match=r"`min_relevance` must be a \[section\] table"):
        load_settings(team_file(tmp_path, "min_relevance = 5\n"))


def test_missing_team_file(tmp_path):
    with pytest.raises(ConfigError, match=r"settings file .*nope\.toml does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_binary_team_file_names_the_file_and_the_byte_via_the_cli(tmp_path, capsys):
    """A binary or wrongly saved settings file: the file, the byte, what to pass instead;
    through the CLI, exit 2 with no traceback."""
    from bot import cli

    path = tmp_path / "team.toml"
    path.write_bytes(b'[ranking]\nmin_relevance = 5 # caf\xc6\n' + os.urandom(64))
    assert cli.main(["--settings", str(path), "costs", "--db", str(tmp_path / "x.sqlite")]) == 2
    err = capsys.readouterr().err
    assert f"settings file {path} is not a text file: byte 0xc6" in err and "UTF-8" in err
    assert "Traceback" not in err and "codec" not in err


def test_folder_as_the_team_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=rf"settings file {tmp_path} is a folder"):
        load_settings(tmp_path)


def test_override_is_validated_too():
    s = load_settings()
    before = s["ranking.min_relevance"]
    changed = s.override(ranking__min_relevance=10 if before != 10 else 9)
    assert changed["ranking.min_relevance"] != before
    assert s["ranking.min_relevance"] == before  # a copy: the original is untouched
    assert changed.sources[-1] == "override"
    with pytest.raises(ConfigError, match="ranking.max_papers"):
        s.override(ranking__max_papers=-3)
    with pytest.raises(ConfigError, match="unknown setting `ranking.nope`"):
        s.override(ranking__nope=1)


def test_validate_accepts_exactly_the_spec():
    good = dict(load_settings().values)
    validate(good)
    with pytest.raises(ConfigError):
        validate({**good, "ranking.min_relevance": 99})


def test_paths_are_relative_to_the_project_root(tmp_path):
    s = Settings({"storage.digest_dir": "data/digests", "storage.database": str(tmp_path / "x.sqlite")})
    assert s.path("storage.digest_dir") == ROOT / "data" / "digests"
    assert s.path("storage.database") == tmp_path / "x.sqlite"


def test_secret_ignores_blank_values(monkeypatch):
    monkeypatch.setenv("X_TEST_SECRET", "  xoxb-123 \n")
    assert secret("X_TEST_SECRET") == "xoxb-123"
    monkeypatch.setenv("X_TEST_SECRET", "   ")
    assert secret("X_TEST_SECRET") is None
    monkeypatch.delenv("X_TEST_SECRET")
    assert secret("X_TEST_SECRET") is None


def test_cli_stops_on_a_wrong_setting_before_doing_anything(tmp_path):
    path = team_file(tmp_path, '[arxiv]\nannounce_types = ["new", "replace"]\n')
    db = tmp_path / "never.sqlite"
    env = {k: v for k, v in os.environ.items() if k != "ARXIV_SETTINGS"}
    proc = subprocess.run([sys.executable, "-m", "bot", "--settings", str(path), "digest", "--sample", "--db", str(db)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("configuration error: setting `arxiv.announce_types`")
    assert "['new', 'cross']" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not db.exists()
