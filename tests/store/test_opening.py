"""A log that does not exist is an error (issue 13, item 13).

Only `serve` (and `keys create`, so that the service never starts without a key) create
and migrate a decision log. Every command that reads one refuses a database that does
not exist, holds no log or is at another schema revision: a clear message, exit status
2, and no file made for a mistyped path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from treatment_engine.cli import cli
from treatment_engine.store import DecisionLog, LogNotFound

from ..conftest import REPO
from ..replicas import fresh_database

PROFILES = '{"customer_id": "c1", "annual_value": 2400}\n'


def _readers(url: str) -> list[list[str]]:
    """Every command that reads a decision log, given ``url``."""
    return [["reproduce", "some-id", "--db", url], ["replay", "some-id", "--db", url],
            ["decide", "--plan", str(REPO), "--profiles", "-", "--db", url, "-q"],
            ["simulate", "--plan", str(REPO), "--profiles", str(REPO / "examples" / "customers.jsonl"),
             "--db", url, "--as-of", "2026-11-01"],
            ["keys", "list", "--db", url], ["keys", "revoke", "ops", "--db", url]]


def _run(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, input=PROFILES, catch_exceptions=False)


@pytest.mark.parametrize("command", range(len(_readers(""))))
def test_a_mistyped_log_is_refused_and_not_created(command: int, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _run(_readers("sqlite:///typo.db")[command])
    assert result.exit_code == 2, result.output
    assert "error: no decision log at sqlite:///typo.db: typo.db does not exist" in result.stderr
    assert "treatment serve --db sqlite:///typo.db" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_default_log_is_not_created_by_a_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TREATMENT_DB_URL", raising=False)
    result = _run(["keys", "list"])
    assert result.exit_code == 2 and "no decision log at sqlite:///treatment.db" in result.stderr
    assert not (tmp_path / "treatment.db").exists()


def test_a_database_without_the_log_is_refused_untouched(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for args in _readers(f"sqlite:///{empty}"):
        result = _run(args)
        assert result.exit_code == 2 and "holds no decision log tables" in result.stderr, (args, result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"] and empty.stat().st_size == 0
    (tmp_path / "notes.db").write_text("not a database\n")
    result = _run(["reproduce", "x", "--db", f"sqlite:///{tmp_path / 'notes.db'}"])
    assert result.exit_code == 2 and "cannot open the decision log" in result.stderr


def test_a_log_from_another_release_is_refused_not_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    DecisionLog(url).close()
    opened = DecisionLog(url, create=False)  # at the newest revision: readable
    with opened.database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    opened.close()
    with pytest.raises(LogNotFound, match=r"is at schema revision 0005, and this release reads \d{4}"):
        DecisionLog(url, create=False)
    result = _run(["keys", "list", "--db", url])
    assert result.exit_code == 2 and "upgrades an older log" in result.stderr


def test_an_existing_log_is_read_and_keys_create_makes_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    created = _run(["keys", "create", "ops", "--db", url])
    assert created.exit_code == 0 and (tmp_path / "log.db").is_file()
    assert _run(["keys", "list", "--db", url]).stdout.startswith("ops\t")
    missing = _run(["reproduce", "no-such-id", "--db", url])
    assert missing.exit_code == 1 and "no-such-id" in missing.stderr  # read, and not found in it
    decided = _run(["decide", "--plan", str(REPO), "--profiles", "-", "--db", url, "-q"])
    assert decided.exit_code == 0 and '"customer_id":"c1"' in decided.stdout


def test_a_postgresql_database_without_the_log_is_refused(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        result = _run(["reproduce", "x", "--db", url])
        assert result.exit_code == 2 and "holds no decision log tables" in result.stderr
        missing = _run(["reproduce", "x", "--db", url.rsplit("/", 1)[0] + "/treatment_no_such_database"])
        assert missing.exit_code == 2 and "cannot open the decision log" in missing.stderr
        assert ":***@" in missing.stderr  # the password is not shown


def test_a_log_opened_while_another_process_migrates_it_waits_past_the_busy_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A replica starting while another holds SQLite's exclusive lock (its migration, on a
    fresh log) waits for it: the first connection's switch to WAL had only the 5 s busy
    timeout of a request and failed with "database is locked" (seen in CI, three replicas
    started at once on a slow machine)."""
    import sqlite3
    import threading
    import time

    from treatment_engine.store.connection import Database
    from treatment_engine.store.locks import SQLITE_BUSY_MS

    path = tmp_path / "log.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # as hold_schema_lock does, on a file not yet in WAL mode
    held = SQLITE_BUSY_MS / 1000 + 1.5
    release = threading.Timer(held, lambda: holder.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    try:
        Database(f"sqlite:///{path}").close()
    finally:
        release.join()
        holder.close()
    assert time.monotonic() - started >= held - 0.5


UNUSABLE_URLS = [("not a url", "could not parse"), ("nosuchdialect://x/y", "nosuchdialect"),
                 ("postgresql+psycopg://u:secret@127.0.0.1:1/x", "connection")]


@pytest.mark.parametrize("url, reason", UNUSABLE_URLS)
@pytest.mark.parametrize("command", range(len(_readers("")) + 2))
def test_a_database_url_that_cannot_be_used_is_one_clear_error(command: int, url: str, reason: str,
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mistyped URL, a dialect SQLAlchemy does not know or a server that is not there: every
    command taking --db, those that create a log too, says so in a line (no traceback, no
    password) and exits 2."""
    monkeypatch.chdir(tmp_path)
    creators = [["keys", "create", "ops", "--db", url],
                ["serve", "--plan", str(REPO), "--port", "1", "--db", url, "--no-watch"]]
    result = _run([*_readers(url), *creators][command])
    assert result.exit_code == 2, result.output
    line = next(line for line in result.stderr.splitlines() if line.startswith("error: "))
    assert line.startswith("error: cannot open the decision log at ") and reason in line.lower(), result.stderr
    assert "secret" not in result.stderr
