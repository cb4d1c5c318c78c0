"""The database file through the CLI: a file that cannot be used is one message naming it,
what is wrong and what to do; "re-run to resume" only where running again can help.

Every case is a real file on disk (garbage bytes, a real database cut short or overwritten,
a read-only file, a folder, a path under a file, log files of a deleted database) opened by
`bot.cli.main` as a user would, or two real processes racing for a new file."""
from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from bot import cli
from bot.db import MIGRATIONS, open_db

ROOT = Path(__file__).resolve().parent.parent
RESUME = "re-run the same command to resume"


@pytest.fixture(autouse=True)
def no_team_settings(monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)


def costs(db_path: Path, capsys) -> tuple[int, str]:
    """`python -m bot costs --db FILE`: the smallest command that opens and reads the database."""
    rc = cli.main(["costs", "--db", str(db_path)])
    return rc, capsys.readouterr().err


def real_database(path: Path, rows: int = 400) -> Path:
    """A database with every migration applied and enough rows to span many pages."""
    db = open_db(path)
    with db.conn:
        db.conn.executemany("insert into audit_log (who, action, detail, at) values (?,?,?,?)",
                            [("u", "test", "x" * 500, "2025-01-01") for _ in range(rows)])
    db.conn.execute("pragma wal_checkpoint(truncate)")
    db.conn.close()
    return path


def test_garbage_bytes_name_the_file_and_the_setting(tmp_path, capsys):
    path = tmp_path / "notes.db"
    path.write_bytes(os.urandom(8192))
    rc, err = costs(path, capsys)
    assert rc == 1
    assert f"{path} is not a SQLite database" in err and "storage.database" in err
    assert RESUME not in err and "Traceback" not in err


def test_truncated_database_is_damaged_and_a_rerun_does_not_help(tmp_path, capsys):
    path = real_database(tmp_path / "arxiv.sqlite")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    rc, err = costs(path, capsys)
    assert rc == 1
    assert f"the database {path} is damaged" in err and "malformed" in err
    assert ".recover" in err and "running again will not help" in err and RESUME not in err


def test_overwritten_pages_found_mid_run_are_explained_by_the_cli(tmp_path, capsys):
    """The schema page is intact (the database opens), a table's pages are not: the error
    comes mid-command and the CLI's wrapper still names the file and the way out."""
    path = real_database(tmp_path / "arxiv.sqlite")
    page = sqlite3.connect(path).execute("pragma page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    for start in range(page * 2, len(data), page):  # every page after the schema's
        data[start:start + page] = b"\xa5" * page
    path.write_bytes(bytes(data))
    rc = cli.main(["feedback", "export", str(tmp_path / "votes.jsonl"), "--db", str(path)])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"the database {path} is damaged" in err and RESUME not in err


def test_a_folder_as_the_database_says_to_name_a_file(tmp_path, capsys):
    rc, err = costs(tmp_path, capsys)
    assert rc == 1
    assert f"the database {tmp_path} is a folder, not a file" in err and "storage.database" in err


def test_a_database_under_a_file_names_the_file_in_the_way(tmp_path, capsys):
    blocker = tmp_path / "data"
    blocker.write_text("not a folder", encoding="utf-8")
    rc, err = costs(blocker / "arxiv.sqlite", capsys)
    assert rc == 1
    assert f"{blocker} is a file, not a folder" in err and RESUME not in err


def test_a_folder_that_does_not_exist_is_created(tmp_path, capsys):
    path = tmp_path / "not" / "yet" / "arxiv.sqlite"
    rc, _ = costs(path, capsys)
    assert rc == 0 and path.is_file()


def _as_unprivileged_user(fn) -> tuple[int, str]:
    """Run fn() -> exit code as a user without write access, capturing stderr: as root
    (where file modes do not stop writes) in a child process switched to `nobody`."""
    if os.geteuid() != 0:
        buf = io.StringIO()
        with redirect_stderr(buf):
            rc = fn()
        return rc, buf.getvalue()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, run, report through the pipe, never return into pytest
        os.close(read_end)
        code, text = 99, ""
        try:
            os.setgid(65534)
            os.setuid(65534)
            buf = io.StringIO()
            with redirect_stderr(buf):
                code = fn()
            text = buf.getvalue()
        except BaseException as exc:  # noqa: BLE001 - anything is reported to the parent
            text = f"child failed: {type(exc).__name__}: {exc}"
        os.write(write_end, f"{code}\n{text}".encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        out = fh.read().decode()
    os.waitpid(pid, 0)
    code, _, text = out.partition("\n")
    if text.startswith("child failed: PermissionError") and "setuid" in text:
        pytest.skip(f"cannot switch to an unprivileged user here: {text}")
    return int(code), text


@pytest.mark.parametrize("folder_writable", [False, True], ids=["read-only-folder", "read-only-file"])
def test_read_only_database_says_so_and_a_rerun_does_not_help(folder_writable):
    import bot.feedback_io  # noqa: F401 - imported while the interpreter's files are readable

    folder = Path(tempfile.mkdtemp(prefix="ro-db-", dir="/tmp"))
    votes = folder / "votes.jsonl"
    votes.write_text('{"arxiv_id": "2502.15315", "user": "U1", "vote": 1, "time": "2025-03-01T09:00:00+00:00"}\n',
                     encoding="utf-8")
    try:
        path = real_database(folder / "arxiv.sqlite")
        path.chmod(0o444)
        folder.chmod(0o777 if folder_writable else 0o555)
        rc, err = _as_unprivileged_user(lambda: cli.main(["feedback", "import", str(votes), "--db", str(path)]))
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
    assert rc == 1, err
    assert f"the database {path} is read-only for this user" in err
    assert "running again will not help" in err and RESUME not in err and "Traceback" not in err


def test_log_files_of_a_deleted_database_are_named_with_what_to_do(tmp_path, capsys):
    path = tmp_path / "arxiv.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("pragma journal_mode = wal")
    conn.execute("create table t (a)")
    conn.commit()
    path.unlink()  # deleted while open: SQLite leaves its -wal and -shm behind
    conn.execute("insert into t values (1)")
    conn.commit()
    conn.close()
    assert Path(f"{path}-wal").exists() and not path.exists()
    rc, err = costs(path, capsys)
    assert rc == 1
    assert f"the database {path} does not exist, but its log files {path}-wal" in err
    assert "put the database back" in err and f"delete {path}-wal" in err
    assert not path.exists()  # nothing created beside them


def test_two_processes_creating_the_database_at_once_both_succeed(tmp_path):
    """Both see no migrations applied; each migration is taken under the write lock and
    re-checked there, so whichever process comes second to a migration finds it recorded
    (the two may share the list between them), instead of `database is locked` or
    `table ... already exists`; every migration is applied exactly once, in order."""
    env = {k: v for k, v in os.environ.items() if k != "ARXIV_SETTINGS"}
    for attempt in range(6):
        path = tmp_path / f"race{attempt}.sqlite"
        procs = [subprocess.Popen([sys.executable, "-m", "bot", "migrate", "--db", str(path)], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
        assert [rc for _, _, rc in results] == [0, 0], results
        names = [name for out, _, _ in results for name in _applied_names(out)]
        assert sorted(names) == sorted(fn.__name__ for fn in MIGRATIONS), results
        assert _recorded_in_order(path), results


def _applied_names(out: str) -> list[str]:
    """The migration names `migrate` says it applied ("applied N migration(s): a, b" or "...: none pending")."""
    listed = out.split(":", 1)[1].strip() if ":" in out else ""
    return [] if listed.startswith("none") else [n.strip() for n in listed.split(",") if n.strip()]


def _recorded_in_order(path) -> bool:
    recorded = [r[0] for r in sqlite3.connect(path).execute("select name from _migrations order by rowid")]
    return recorded == [fn.__name__ for fn in MIGRATIONS]


def _deleted_while_open(path: Path) -> None:
    """A WAL database deleted while a connection writes to it: SQLite leaves -wal and -shm."""
    conn = sqlite3.connect(path)
    conn.execute("pragma journal_mode = wal")
    conn.execute("create table t (a)")
    conn.commit()
    path.unlink()
    conn.execute("insert into t values (1)")
    conn.commit()
    conn.close()


def _real_dbmoved_error(tmp_path: Path) -> sqlite3.Error:
    """SQLite's own SQLITE_READONLY_DBMOVED (a rollback-journal database unlinked under a writer)."""
    path = tmp_path / "moved.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("create table t (a)")
    conn.commit()
    path.unlink()
    try:
        conn.execute("insert into t values (1)")
        conn.commit()
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    pytest.fail("SQLite wrote to an unlinked database without SQLITE_READONLY_DBMOVED")


def test_a_database_moved_while_in_use_gives_advice_the_next_run_accepts(tmp_path, capsys):
    """The way out the message names is the one the next run accepts: while the deleted
    database's log files are there, a plain re-run is refused until they are dealt with."""
    from bot.db import explain

    exc = _real_dbmoved_error(tmp_path)
    assert exc.sqlite_errorname == "SQLITE_READONLY_DBMOVED"
    path = tmp_path / "arxiv.sqlite"
    _deleted_while_open(path)
    said = str(explain(exc, path))
    assert f"the database {path} was deleted or moved while in use" in said
    assert f"delete {path}-wal and {path}-shm" in said and "put the database back" in said.lower()
    assert costs(path, capsys)[0] == 1  # a plain re-run is refused: the message must not promise one
    Path(f"{path}-wal").unlink()
    Path(f"{path}-shm").unlink()
    assert costs(path, capsys)[0] == 0  # what the message said to do works


def test_a_database_moved_without_log_files_says_a_rerun_starts_an_empty_one(tmp_path):
    from bot.db import explain

    said = str(explain(_real_dbmoved_error(tmp_path), tmp_path / "gone.sqlite"))
    assert "run the command again to start an empty database" in said and "-wal" not in said


def test_a_database_deleted_mid_run_names_the_log_files_the_rerun_refuses(tmp_path):
    from bot.db import DatabaseFileError, check_file_unchanged

    path = tmp_path / "arxiv.sqlite"
    db = open_db(path)
    path.unlink()
    with db.conn:
        db.conn.execute("insert into audit_log (who, action, detail, at) values ('u', 't', 'x', 'now')")
    with pytest.raises(DatabaseFileError) as err:
        check_file_unchanged(db)
    db.conn.close()
    assert Path(f"{path}-wal").exists()
    assert f"delete {path}-wal and {path}-shm" in str(err.value)


FEED_7 = ROOT / "tests" / "fixtures" / "rss-2025-02-24-7items.xml"


def _digest(db_path: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    """`python -m bot digest --db FILE ...` as a user runs it, digests written under tmp_path."""
    team = tmp_path / "team.toml"
    team.write_text(f'[storage]\ndigest_dir = "{tmp_path / "digests"}"\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", "digest", "--db", str(db_path), "--settings", str(team),
                           "--quiet", *extra], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k not in ("ARXIV_SETTINGS", "OPENAI_API_KEY",
                                                                               "OPENAI_BASE_URL")})
    return done.returncode, done.stderr


def _overwrite_root_page(path: Path, table: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("pragma wal_checkpoint(truncate)")
    page = conn.execute("pragma page_size").fetchone()[0]
    root = conn.execute("select rootpage from sqlite_master where name = ?", [table]).fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page: root * page] = b"\xa5" * page
    path.write_bytes(bytes(data))


def test_a_database_damaged_mid_run_gives_one_message_not_a_lease_warning_first(tmp_path):
    """The scores' page is damaged: the run stops on it after taking the day's lease, and
    releasing the lease fails on the same damage. The user reads the damage, once."""
    path = tmp_path / "arxiv.sqlite"
    assert _digest(path, tmp_path, "--rss", str(FEED_7))[0] == 0
    _overwrite_root_page(path, "scores")
    rc, err = _digest(path, tmp_path, "--rss", str(FEED_7))
    assert rc == 1
    assert f"the database {path} is damaged" in err and RESUME not in err
    assert "run lease" not in err and "WARNING" not in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("where", ["missing-folder", "missing-file"])
def test_re_rendering_a_day_from_a_missing_database_says_so_and_creates_nothing(tmp_path, where):
    path = tmp_path / "no" / "such" / "arxiv.sqlite" if where == "missing-folder" else tmp_path / "arxiv.sqlite"
    before = sorted(tmp_path.rglob("*"))
    rc, err = _digest(path, tmp_path, "--date", "2025-02-24")
    assert rc == 1
    assert f"the database {path} does not exist" in err and "storage.database" in err
    assert RESUME not in err and "Traceback" not in err
    assert sorted(p for p in tmp_path.rglob("*") if p.name != "team.toml") == before


def test_posting_a_stored_day_from_a_missing_database_says_so_and_creates_nothing(tmp_path):
    path = tmp_path / "no" / "arxiv.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_")) and k != "ARXIV_SETTINGS"}
    done = subprocess.run([sys.executable, "-m", "bot", "post", "--date", "2025-02-24", "--db", str(path)], cwd=ROOT,
                          env={**env, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": "http://127.0.0.1:9/api/"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"the database {path} does not exist" in done.stderr and RESUME not in done.stderr
    assert not path.parent.exists()


def _empty_in_place(path: Path) -> None:
    with open(path, "r+b") as file:  # `: > file`: the same file (inode), emptied
        file.truncate(0)


def _overwrite_header_in_place(path: Path) -> None:
    with open(path, "r+b") as file:  # a copy over it, as `dd conv=notrunc` does: same size, same inode
        file.write(b"not a database, just text" * 200)


@pytest.mark.parametrize("change, said", [(_empty_in_place, "emptied or cut short in place (0 bytes now"),
                                          (_overwrite_header_in_place, "overwritten in place")])
def test_a_database_changed_in_place_while_open_is_named_and_said(tmp_path, change, said):
    """Same file, new content: the deleted/replaced check looks at the file's identity only,
    and SQLite's own view comes from the -wal file, so the content itself is checked."""
    from bot.db import DatabaseFileError, check_file_unchanged

    path = real_database(tmp_path / "team.sqlite")
    db = open_db(path)
    db.execute("pragma wal_checkpoint(truncate)")  # the tables are in the file itself, not only the -wal
    check_file_unchanged(db)  # untouched: nothing to say
    change(path)
    with pytest.raises(DatabaseFileError) as err:
        check_file_unchanged(db)
    assert str(err.value).startswith(f"the database {path} was {said}")
    assert "while this run was using it" in str(err.value) and "may be lost" in str(err.value)
