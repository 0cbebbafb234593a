"""What only the SQLite store does: files, schema versions, errors, transactions and leases."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen._driver import make_handler
from durable_gen._errors import StoreError, ValidationError
from durable_gen._wire import Event, Operation
from durable_gen.local import LocalService, SqliteStore, VirtualClock
from durable_gen.local._sqlite import SCHEMA_VERSION
from durable_gen.local._store import Change, ExecutionStore, Task

from .test_store_contract import create

Factory = Callable[..., SqliteStore]


@dg.step
def double(x: int) -> int:
    return 2 * x


@dg.workflow
def doubling(n: int):  # type: ignore[no-untyped-def]
    total = n
    for _ in range(3):
        total = yield double(total)
    yield dg.Wait(seconds=60, name="pause")
    return total


def test_the_file_is_private_and_in_wal_mode(tmp_path: Path, sqlite_factory: Factory) -> None:
    store = sqlite_factory()
    assert stat.S_IMODE(os.stat(tmp_path / "durable.db").st_mode) == 0o600
    with store._read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    normal = sqlite_factory(synchronous="NORMAL")
    with normal._read() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    with pytest.raises(ValidationError, match="synchronous"):
        SqliteStore(tmp_path / "x.db", synchronous="OFF")  # type: ignore[arg-type]


def test_an_execution_survives_reopening_and_resumes(sqlite_factory: Factory) -> None:
    clock = VirtualClock(start_ms=1_700_000_000_000, auto_advance=False)
    first = LocalService(store=sqlite_factory(), clock=clock)
    first.register("doubling", make_handler(doubling, first))
    arn = first.start("doubling", "5")
    record = first.run(arn)
    assert record.status == "RUNNING"  # waits 60 s on a clock that does not skip
    first.store.close()  # type: ignore[attr-defined]

    clock.advance(61)
    second = LocalService(store=sqlite_factory(), clock=clock)
    second.register("doubling", make_handler(doubling, second))
    assert second.run(arn).result == "40"
    types = [e.event_type for e in second.get_history(arn)]
    assert types.count("StepSucceeded") == 3 and types[-1] == "ExecutionSucceeded"


def test_schema_is_versioned_and_old_files_migrate(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (0)")
    conn.commit()
    conn.close()
    with SqliteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.load("arn:none") is None


def _inputs_into_headers(conn: Any, mark: str = "?") -> None:
    """Put each execution's input back into its header and drop the ``input`` column, as
    the schemas before it kept them."""
    import msgspec

    from durable_gen.local._store import StoredExecution

    decode = msgspec.msgpack.Decoder(StoredExecution).decode
    for seq, header, payload in conn.execute(
        "SELECT seq, header, input FROM executions"
    ).fetchall():
        ex = decode(bytes(header))
        ex.input = payload
        conn.execute(
            f"UPDATE executions SET header = {mark} WHERE seq = {mark}",
            (msgspec.msgpack.encode(ex), seq),
        )
    conn.execute("ALTER TABLE executions DROP COLUMN input")


def _to_schema_v2(conn: sqlite3.Connection) -> None:
    """Rewrite the tables as schema version 2 left them: keyed by ``(ex, position)`` and
    ``(ex, event_id)`` in WITHOUT ROWID tables, operations found by their full id, the input
    in the header."""
    _inputs_into_headers(conn)
    conn.execute(
        "CREATE TABLE ops2 (ex INTEGER NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL, "
        "type TEXT NOT NULL, status TEXT NOT NULL, body BLOB NOT NULL, "
        "PRIMARY KEY (ex, position)) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO ops2 SELECT key >> 32, key & 4294967295, id, type, status, body "
        "FROM operations"
    )
    conn.execute(
        "CREATE TABLE ev2 (ex INTEGER NOT NULL, event_id INTEGER NOT NULL, body BLOB NOT NULL, "
        "PRIMARY KEY (ex, event_id)) WITHOUT ROWID"
    )
    conn.execute("INSERT INTO ev2 SELECT key >> 32, key & 4294967295, body FROM events")
    conn.execute("DROP TABLE operations")
    conn.execute("DROP TABLE events")
    conn.execute("ALTER TABLE ops2 RENAME TO operations")
    conn.execute("ALTER TABLE ev2 RENAME TO events")
    conn.execute("CREATE UNIQUE INDEX operations_by_id ON operations (ex, id)")
    conn.execute("UPDATE schema_version SET version = 2")


def _to_schema_v1(conn: sqlite3.Connection) -> None:
    """Rewrite the tables as schema version 1 left them: operations and events keyed by ARN."""
    _to_schema_v2(conn)
    conn.execute(
        "CREATE TABLE ops1 (arn TEXT NOT NULL, id TEXT NOT NULL, position INTEGER NOT NULL, "
        "type TEXT NOT NULL, status TEXT NOT NULL, body BLOB NOT NULL, "
        "PRIMARY KEY (arn, id)) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO ops1 SELECT e.arn, o.id, o.position, o.type, o.status, o.body "
        "FROM operations o JOIN executions e ON e.seq = o.ex"
    )
    conn.execute(
        "CREATE TABLE ev1 (arn TEXT NOT NULL, event_id INTEGER NOT NULL, body BLOB NOT NULL, "
        "PRIMARY KEY (arn, event_id)) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO ev1 SELECT e.arn, v.event_id, v.body FROM events v "
        "JOIN executions e ON e.seq = v.ex"
    )
    conn.execute("DROP TABLE operations")
    conn.execute("DROP TABLE events")
    conn.execute("ALTER TABLE ops1 RENAME TO operations")
    conn.execute("ALTER TABLE ev1 RENAME TO events")
    conn.execute("CREATE UNIQUE INDEX operations_in_order ON operations (arn, position)")
    conn.execute("UPDATE schema_version SET version = 1")


#: What ``record_two_waiting`` recorded: the ARNs, then by ARN its operations and events, and
#: its operation counts.
Recorded = tuple[
    list[str],
    dict[str, tuple[list[Operation], list[Event]]],
    dict[str, dict[tuple[str, str], int]],
]


def record_two_waiting(store: ExecutionStore, clock: VirtualClock) -> Recorded:
    """Two ``doubling`` executions recorded in ``store``, each waiting on its 60 s timer."""
    service = LocalService(store=store, clock=clock)
    service.register("doubling", make_handler(doubling, service))
    arns = [service.start("doubling", str(n)) for n in (1, 2)]
    for arn in arns:
        assert service.run(arn).status == "RUNNING"  # waits on the 60 s timer
    before = {arn: (store.operations(arn), store.events(arn)) for arn in arns}
    counts = {arn: store.operation_counts(arn) for arn in arns}
    return arns, before, counts


def check_kept_and_resumed(store: ExecutionStore, clock: VirtualClock, recorded: Recorded) -> None:
    """``store`` (upgraded) reads what ``record_two_waiting`` recorded as it was, and the
    executions resume to their results once ``clock`` passed their timers."""
    arns, before, counts = recorded
    for arn in arns:
        ops, events = before[arn]
        assert (store.operations(arn), store.events(arn)) == (ops, events)
        assert store.operation_count(arn) == len(ops)
        assert store.operation_counts(arn) == counts[arn]
        assert store.operations(arn, 2, 2) == ops[2:4]
        assert [store.lookup(arn)(op.id) for op in ops] == ops
    service = LocalService(store=store, clock=clock)
    service.register("doubling", make_handler(doubling, service))
    assert [service.run(arn).result for arn in arns] == ["8", "16"]
    history = service.get_history(arns[1])
    assert [e.event_id for e in history] == list(range(1, len(history) + 1))


@pytest.mark.parametrize("downgrade", [_to_schema_v1, _to_schema_v2], ids=["v1", "v2"])
def test_an_old_file_keeps_its_executions_through_the_upgrade(
    tmp_path: Path, downgrade: Callable[[sqlite3.Connection], None]
) -> None:
    path = tmp_path / "old.db"
    clock = VirtualClock(start_ms=1_700_000_000_000, auto_advance=False)
    with SqliteStore(path) as store:
        recorded = record_two_waiting(store, clock)
    conn = sqlite3.connect(path)
    with conn:
        downgrade(conn)
    conn.close()

    clock.advance(61)
    with SqliteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 3
        with store._read() as conn:  # the inputs moved out of the headers
            assert [payload for (payload,) in conn.execute("SELECT input FROM executions")] == [
                "1",
                "2",
            ]
        check_kept_and_resumed(store, clock, recorded)
        arns = recorded[0]
        assert store.operation_count(arns[1]) == len(store.operations(arns[1]))


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99, newer"):
        SqliteStore(path)


def test_another_programs_database_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE executions (id INTEGER)")  # someone else's table
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="tables that durable_gen did not create") as caught:
        SqliteStore(path)
    assert "a database (or SQLite file) of its own" in str(caught.value)


def test_a_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StoreError, match="corrupt or not a durable_gen database"):
        SqliteStore(path)


def test_a_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot create"):
        SqliteStore(tmp_path / "no" / "such" / "dir.db")


def test_a_lock_held_too_long_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    SqliteStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with SqliteStore(path, timeout=0.05) as store, pytest.raises(StoreError, match="locked"):
            store.register_workflow("f", "m:f")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_commit_is_all_or_nothing(sqlite_factory: Factory) -> None:
    store = sqlite_factory()
    ex = create(store)
    ok = Change(ex)
    ok.tasks += (Task(1, "arn:1", "wait", "a"),)
    duplicate = Change(create.__globals__["execution"](), created=True)  # same ARN again
    with pytest.raises(StoreError):
        store.commit([ok, duplicate])
    assert store.tasks_for("arn:1") == []


def test_the_engine_lock_is_a_transaction(sqlite_factory: Factory) -> None:
    store = sqlite_factory()
    other = sqlite_factory(timeout=0.05)
    with store.lock:
        create(store)
        with pytest.raises(StoreError, match="locked"):
            other.register_workflow("f", "m:f")
        assert other.load("arn:1") is None  # not committed yet
        loaded = store.load("arn:1")
        assert loaded is store.load("arn:1")  # one header object per transaction
    assert other.load("arn:1") is not None


def test_a_dead_holder_on_this_host_loses_its_lease_at_once(sqlite_factory: Factory) -> None:
    store = sqlite_factory()
    ex = create(store)
    ex.invoking = True
    store.commit([Change(ex)])
    with store._tx() as conn:  # pretend a process that no longer exists holds it
        host, _, _ = store.owner.split(":")
        conn.execute("UPDATE executions SET lease_owner = ?", (f"{host}:999999999:ab",))
    other = sqlite_factory()
    assert other.next_task() is not None


def test_a_database_that_became_read_only_is_a_store_error_when_a_lease_is_taken_back(
    sqlite_factory: Factory,
) -> None:
    # A worker taking back the invocation of a dead process wrote to a file that had become
    # read-only (a file system remounted read-only) and raised sqlite3's own error: the
    # command line printed a traceback. query_only makes the same "readonly" failure.
    store = sqlite_factory()
    ex = create(store)
    ex.invoking = True
    store.commit([Change(ex)])
    with store._tx() as conn:  # pretend a process that no longer exists holds it
        host, _, _ = store.owner.split(":")
        conn.execute("UPDATE executions SET lease_owner = ?", (f"{host}:999999999:ab",))
    other = sqlite_factory()
    with (
        pytest.raises(StoreError, match=r"cannot be written .*give this process write access"),
        other._tx() as conn,  # the file turns read-only once the transaction has begun
    ):
        conn.execute("PRAGMA query_only = ON")
        other.next_task()
    assert sqlite_factory().next_task() is not None  # nothing half-written: taken back now


def test_a_holder_on_another_machine_with_this_host_name_keeps_its_lease(
    sqlite_factory: Factory,
) -> None:
    # Machines of one image (or containers on the host's network) share a host name while
    # their process ids mean other processes: such a holder is judged by its lease alone.
    import socket

    store = sqlite_factory()
    ex = create(store)
    ex.invoking = True
    store.commit([Change(ex)])
    host = store.owner.split(":")[0]
    others = {socket.gethostname(), host.replace("/", "/0", 1)} - {host}
    assert others
    for other in sorted(others):
        with store._tx() as conn:  # a process id that does not exist here
            conn.execute("UPDATE executions SET lease_owner = ?", (f"{other}:999999999:ab",))
        assert sqlite_factory().next_task() is None, other


def test_renewing_extends_the_leases_held(sqlite_factory: Factory) -> None:
    store = sqlite_factory(lease_seconds=0.2)
    ex = create(store)
    ex.invoking = True
    store.commit([Change(ex)])
    assert store.renew_leases() == 1
    other = sqlite_factory()
    assert other.renew_leases() == 0


def test_an_in_memory_database_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ":memory:" is SQLite's in-memory database; making the file private first left an empty
    # file named ":memory:" in the working directory.
    monkeypatch.chdir(tmp_path)
    store = SqliteStore(":memory:")
    try:
        assert LocalService(store=store).list_executions() == []
    finally:
        store.close()
    assert list(tmp_path.iterdir()) == []


def test_operations_whose_ids_share_an_index_entry_stay_apart(
    sqlite_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The index from id to operation holds a hash of the id: ids with the same hash (here:
    # all of them) are told apart by the id itself.
    import durable_gen.local._sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "_idh", lambda op_id: 7)
    clock = VirtualClock(start_ms=1_700_000_000_000, auto_advance=False)
    store = sqlite_factory()
    service = LocalService(store=store, clock=clock)
    service.register("doubling", make_handler(doubling, service))
    arns = [service.start("doubling", str(n)) for n in (1, 2)]
    for arn in arns:
        assert service.run(arn).status == "RUNNING"
    clock.advance(61)
    assert [service.run(arn).result for arn in arns] == ["8", "16"]
    for arn in arns:
        ops = store.operations(arn)
        assert len({op.id for op in ops}) == len(ops) == store.operation_count(arn)
        assert [store.lookup(arn)(op.id) for op in ops] == ops
    assert store.lookup(arns[0])("no-such-id") is None


def test_the_next_task_read_along_with_an_execution_follows_the_writes_after_it(
    sqlite_factory: Factory,
) -> None:
    # Inside a transaction load() reads the next task with the execution's row, for the
    # checkpoint that asks right after; a write in between makes next_task() read it again.
    store = sqlite_factory()
    ex = create(store)
    later = Change(ex)
    later.tasks = (Task(9_000, ex.arn, "wait", "w"),)
    store.commit([later])
    assert store.next_task() == Task(9_000, ex.arn, "wait", "w")  # and takes back leases
    with store.lock:
        loaded = store.load(ex.arn)
        assert loaded is not None
        assert store.next_task() == Task(9_000, ex.arn, "wait", "w")
        sooner = Change(loaded)
        sooner.tasks = (Task(5, ex.arn, "retry", "s"),)
        store.commit([sooner])
        assert store.next_task() == Task(5, ex.arn, "retry", "s")
        assert store.claim(Task(5, ex.arn, "retry", "s"))
        assert store.next_task() == Task(9_000, ex.arn, "wait", "w")
    other = sqlite_factory()
    with other.lock:
        assert other.load(ex.arn) is not None
        other.serve(["no-such-function"])  # timers are served whatever the functions
        assert other.next_task() == Task(9_000, ex.arn, "wait", "w")
