"""One SQLite database reached by two names: a symbolic link is shared, a hard link refused.

SQLite keeps the write-ahead log beside the name a database is opened by. It follows a
symbolic link to the file's own name, so processes opening the database through a link share
one log. A hard link is a second name of its own: two workers opening one file by two such
names kept two logs, never saw each other's commits and both ran every execution (every step
twice), so a store refuses a file with several names.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import durable_gen as dg
from durable_gen.local import SqliteStore, Worker, open_store
from durable_gen.local._sqlite import SCHEMA_VERSION as SQLITE_SCHEMA


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


#: What the step below does to the database file while its execution runs.
SWAP: dict[str, Path] = {}


@dg.step
def swap_file(x: int) -> int:
    if SWAP["copy"].exists():  # once: a backup restored over the file in use
        os.replace(SWAP["copy"], SWAP["db"])
    return x + 1


@dg.workflow
def swapping(x: int):  # type: ignore[no-untyped-def]
    y = yield swap_file(x)
    return (yield double(y))


def test_a_database_file_replaced_under_a_worker_stops_it_instead_of_writing_nowhere(
    tmp_path: Path,
) -> None:
    """A worker kept writing into a file that had been replaced (or removed): it ran the
    execution to SUCCEEDED in a file nobody opens any more, while the file at its path, the one
    every other process opens, never heard of it, and it never saw the executions started
    there. Now its next write is refused with a ``StoreError`` that says to start it again."""
    db, copy = tmp_path / "durable.db", tmp_path / "backup.db"
    SWAP.update(db=db, copy=copy)
    with Worker(db) as starter:
        arn = starter.service.start(starter.register(swapping), "1")
    shutil.copy(db, copy)
    lines: list[str] = []
    for run in ({"once": True}, {}):  # not retried as a database out of reach would be
        with Worker(db, log=lines.append, progress=True) as worker:
            worker.register(swapping)
            if not run:
                os.replace(db, copy)  # the file moved away while the worker runs
                shutil.copy(copy, db)
            with pytest.raises(dg.StoreError, match="removed or replaced") as caught:
                worker.run(**run)
            assert "Start this process again" in str(caught.value)
    assert any("the database failed under it" in line for line in lines), lines
    with Worker(db) as reader:  # nothing of it was recorded in the file at the path
        assert reader.service.get_execution(arn).status == "RUNNING"
    # A removed file: the next write is refused too, and no file comes back at the path.
    with Worker(db) as worker:
        db.unlink()
        with pytest.raises(dg.StoreError, match="removed or replaced"):
            worker.service.start(worker.register(twice), "1")
    assert not db.exists()


@dg.step
def tick(i: int) -> int:
    time.sleep(0.02)
    return i


@dg.workflow
def ticking(n: int):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(n):
        total += yield tick(i)
    return total


def test_a_file_a_newer_version_migrated_under_a_worker_stops_it_within_a_second(
    tmp_path: Path,
) -> None:
    """A newer durable_gen (a command run after an upgrade, while the worker still runs the
    old code) migrates the file; a migration that only adds a table or a column trips no
    statement of the old code, which went on running and writing. Its write transactions now
    read the schema version once a second and stop it with a StoreError saying to upgrade."""
    db = tmp_path / "durable.db"
    with Worker(db) as starter:
        arn = starter.service.start(starter.register(ticking), "500")
    errors: list[BaseException] = []
    with Worker(db) as worker:
        worker.register(ticking)

        def serve() -> None:
            try:
                worker.run()
            except BaseException as exc:  # the test reads it
                errors.append(exc)

        runner = threading.Thread(target=serve, daemon=True)
        runner.start()
        time.sleep(0.5)
        with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
            conn.execute(f"UPDATE schema_version SET version = {SQLITE_SCHEMA + 1}")
            conn.execute("ALTER TABLE executions ADD COLUMN priority INTEGER")
        upgraded = time.monotonic()
        runner.join(timeout=30)
        assert not runner.is_alive()
        assert time.monotonic() - upgraded < 5
    assert len(errors) == 1 and isinstance(errors[0], dg.StoreError), errors
    assert f"upgraded to schema version {SQLITE_SCHEMA + 1}" in str(errors[0])
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT status FROM executions WHERE arn = ?", (arn,)).fetchone()
    assert row == ("RUNNING",)
