"""A fifth bad-input corpus, written from README.md and docs/*.md alone.

New kinds of mistakes: databases whose bookkeeping is not durable_gen's, and the mistakes
each case names. Every one gets a typed durable_gen error whose message says what to do, and
loses nothing already recorded.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import durable_gen as dg
from durable_gen import cli
from durable_gen.local import SqliteStore, Worker, open_store

# --- a schema_version table that holds no durable_gen version --------------------------------

#: (case, SQL that builds the file): each a database with a ``schema_version`` table that
#: durable_gen did not write, or whose version was damaged.
FOREIGN_VERSIONS: list[tuple[str, str]] = [
    ("text", "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES ('abc')"),
    ("null", "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES (NULL)"),
    ("blob", "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES (x'00')"),
    ("float", "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES (2.5)"),
    ("negative", "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES (-1)"),
    (
        "two-rows",
        "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES (1), (3)",
    ),
    (
        "other-columns",
        "CREATE TABLE schema_version (v TEXT); INSERT INTO schema_version VALUES (1)",
    ),
]


def _build(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.commit()
    rows = conn.execute("SELECT * FROM schema_version").fetchall()
    conn.close()
    return rows


@pytest.mark.parametrize(
    "sql", [c[1] for c in FOREIGN_VERSIONS], ids=[c[0] for c in FOREIGN_VERSIONS]
)
def test_a_schema_version_that_is_not_ours_is_a_store_error_and_is_kept(
    sql: str, tmp_path: Path
) -> None:
    path = tmp_path / "foreign.db"
    before = _build(path, sql)
    for opener in (lambda: SqliteStore(path), lambda: open_store(str(path)), lambda: Worker(path)):
        with pytest.raises(dg.StoreError, match="of its own") as caught:
            opener()
        assert not isinstance(caught.value, dg.InvalidInputError)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT * FROM schema_version").fetchall() == before
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'executions'").fetchall() == []
    conn.close()


def test_the_command_line_says_so_in_one_line_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "foreign.db"
    _build(path, FOREIGN_VERSIONS[0][1])
    for argv in (["list"], ["worker", "--once", "-q"], ["callback", "heartbeat", "cb-1"]):
        assert cli.main([*argv, "--db", str(path)]) == 1
        err = capsys.readouterr().err
        assert "StoreError" in err and "of its own" in err
        assert len(err.strip().splitlines()) == 1, err


def test_an_empty_schema_version_table_of_our_shape_is_still_a_new_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.commit()
    conn.close()
    with SqliteStore(path) as store:
        assert store.schema_version >= 1
