"""Bad store options and database URLs are ValidationErrors where they are given.

The guide's error table: an invalid option is a ``ValidationError``; a ``StoreError`` is a
database that is locked, corrupt or too new. docs/cli.md: an option of the wrong kind or out
of range is a ``ValidationError`` when the ``Worker`` is built, before the database is opened,
and a bad option value on the command line is a usage error (exit status 2).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import SqliteStore, Worker, open_store

ROOT = Path(__file__).resolve().parents[2]

SQLITE_OPTIONS: list[dict[str, Any]] = [
    {"synchronous": "FAST"},
    {"lease_seconds": 0},
    {"lease_seconds": -1},
    {"lease_seconds": math.inf},
    {"lease_seconds": math.nan},
    {"lease_seconds": "30"},
    {"timeout": "5"},
    {"timeout": -1},
    {"timeout": math.nan},
    {"timeout": True},
]


@pytest.mark.parametrize("options", SQLITE_OPTIONS, ids=repr)
def test_sqlite_store_options(options: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(dg.ValidationError):
        SqliteStore(tmp_path / "x.db", **options)
    assert not (tmp_path / "x.db").exists()  # refused before the database is opened


@pytest.mark.parametrize("options", SQLITE_OPTIONS, ids=repr)
def test_open_store_options(options: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(dg.ValidationError):
        open_store(tmp_path / "x.db", **options)
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    "url",
    ["mysql://host/db", "sqlite://host/x.db", "", 5, None],
    ids=repr,
)
def test_bad_database_urls(url: Any) -> None:
    with pytest.raises(dg.ValidationError):
        open_store(url)


def test_options_for_the_other_database(tmp_path: Path) -> None:
    with pytest.raises(dg.ValidationError, match="SQLite only"):
        open_store("postgresql://127.0.0.1/x", synchronous="FULL")
    with pytest.raises(dg.ValidationError, match="Postgres only"):
        open_store(tmp_path / "x.db", pool_size=3)


def test_worker_synchronous_is_checked_before_the_database_opens(tmp_path: Path) -> None:
    with pytest.raises(dg.ValidationError, match="synchronous"):
        Worker(tmp_path / "w.db", synchronous="FAST")  # type: ignore[arg-type]
    assert not (tmp_path / "w.db").exists()


@pytest.mark.parametrize("db", ["mysql://host/db", "sqlite://x.db"])
def test_the_cli_calls_a_bad_db_url_a_usage_error(db: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", "list", "--db", db],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("durable-gen: error: ") and done.stderr.count("\n") == 1
