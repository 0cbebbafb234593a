"""``durable-gen`` as an operator runs it, round 10: shapes the earlier files did not take.

Written from docs/cli.md, docs/engine.md and docs/versioning.md: the reading commands on a
Postgres database that holds no durable_gen tables, a team's deploy day (export the running
executions' histories with the command line, replay them against the new code), and the
commands a script uses to find and answer callbacks; on SQLite files and on a throwaway
Postgres.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]

OPS = textwrap.dedent(
    """
    import durable_gen as dg


    @dg.step
    def add(a, b):
        return a + b


    @dg.workflow
    def quick(n):
        x = yield add(n, 1)
        return {"x": x}
    """
)


@pytest.fixture
def ops(workdir: Path) -> Path:
    (workdir / "ops.py").write_text(OPS)
    return workdir


def _tables(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return sorted(str(row[0]) for row in rows)


READING = [
    ("list",),
    ("list", "--json"),
    ("show", "abc"),
    ("history", "abc", "--json"),
    ("stop", "abc"),
    ("callback", "succeed", "abc", "1"),
]


def test_a_reading_command_on_a_postgres_database_without_tables_writes_none(
    cli: Cli, ops: Path, postgres_url: str
) -> None:
    # The URL of a database that exists but is not durable_gen's: the server's `postgres`
    # database, the application's own. As for a SQLite path with no file, nothing is taken
    # for an empty durable_gen database, and nothing is written into it.
    for command in READING:
        result = cli(*command, env={"DURABLE_GEN_DB": postgres_url})
        assert result.code == 2, (command, result)
        assert "no durable_gen database at postgresql://" in result.err, result.err
        assert "(from DURABLE_GEN_DB)" in result.err and "durable-gen start" in result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert _tables(postgres_url) == [], command


def test_the_tables_come_with_the_first_start_and_the_reading_commands_then_work(
    cli: Cli, ops: Path, postgres_url: str
) -> None:
    refused = cli("list", "--db", postgres_url)
    assert refused.code == 2 and "(from --db)" in refused.err, refused
    assert _tables(postgres_url) == []
    started = cli("start", "ops:quick", "--input", "1", "--name", "q", "--db", postgres_url)
    assert started.code == 0, started
    assert "schema_version" in _tables(postgres_url)
    listed = cli("list", "--json", "--db", postgres_url)
    assert listed.code == 0, listed
    [record] = json.loads(listed.out)
    assert record["name"] == "q" and record["status"] == "RUNNING"
    assert cli("worker", "--once", "-q", "--db", postgres_url).code == 0
    shown = cli("show", "q", "--db", postgres_url)
    assert shown.code == 0 and "SUCCEEDED" in shown.out, shown


def test_a_password_in_the_url_of_a_database_without_tables_is_not_shown(
    cli: Cli, ops: Path, postgres_url: str
) -> None:
    with_password = postgres_url.replace("://postgres@", "://postgres:s3cret@")
    assert with_password != postgres_url
    result = cli("list", "--db", with_password)
    assert result.code == 2, result
    assert "s3cret" not in result.err and "postgres:***@" in result.err, result.err
