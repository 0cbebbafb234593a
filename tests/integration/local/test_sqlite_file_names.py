"""One SQLite database reached by two names: a symbolic link is shared, a hard link refused.

SQLite keeps the write-ahead log beside the name a database is opened by. It follows a
symbolic link to the file's own name, so processes opening the database through a link share
one log. A hard link is a second name of its own: two workers opening one file by two such
names kept two logs, never saw each other's commits and both ran every execution (every step
twice), so a store refuses a file with several names.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import durable_gen as dg
from durable_gen.local import SqliteStore, Worker, open_store


@dg.step
def double(x: int) -> int:
    return 2 * x


@dg.workflow
def twice(x: int):  # type: ignore[no-untyped-def]
    return (yield double(x))


def test_a_database_with_a_hard_link_is_refused_by_every_opener(tmp_path: Path) -> None:
    db = tmp_path / "durable.db"
    with Worker(db) as worker:
        worker.service.start(worker.register(twice), "3", execution_name="before")
    other = tmp_path / "other.db"
    os.link(db, other)
    before = db.read_bytes()
    openers: list[Callable[[Path], object]] = [
        SqliteStore,
        lambda path: open_store(str(path)),
        lambda path: open_store(f"sqlite:///{path}"),
        Worker,
    ]
    for name in (db, other):
        for opener in openers:
            with pytest.raises(dg.StoreError, match="2 names \\(hard links") as caught:
                opener(name)
            assert str(name) in str(caught.value) and "open it by one name" in str(caught.value)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["durable.db", "other.db"]
    # The command line says so in one line, exit status 1, and runs nothing.
    out = subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", "worker", "--once", "--db", str(other)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out
    assert "hard links" in out.stderr and "Traceback" not in out.stderr
    # Removing the other name is the way out: the execution is still there to run.
    other.unlink()
    with Worker(db) as worker:
        worker.register(twice)
        worker.run(once=True)
        (record,) = worker.service.list_executions()
    assert (record.status, record.result) == ("SUCCEEDED", "6")


def test_a_database_reached_through_a_symbolic_link_is_one_database(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    db = tmp_path / "real" / "durable.db"
    link = tmp_path / "link.db"
    with SqliteStore(db):
        pass
    link.symlink_to(db)
    (tmp_path / "dir").symlink_to(tmp_path / "real")
    with Worker(link) as starter, Worker(tmp_path / "dir" / "durable.db") as runner:
        arn = starter.service.start(starter.register(twice), "4")
        runner.register(twice)
        runner.run(once=True)  # sees the start made through the other name
        assert starter.service.get_execution(arn).result == "8"
    # One write-ahead log, beside the file's own name.
    assert not any(p.name.startswith("link.db-") for p in tmp_path.iterdir())
