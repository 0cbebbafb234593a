"""What only the Postgres store does: connections, schema versions, row locks, leases, wake-ups.

These run against a real server (``tests/postgres/fixtures.py``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import psycopg
import pytest

import durable_gen as dg
from durable_gen._driver import make_handler
from durable_gen._errors import StoreError, ValidationError
from durable_gen.local import LocalService, VirtualClock, Worker
from durable_gen.local._dbstore import StoreUnavailableError
from durable_gen.local._postgres import SCHEMA_VERSION, PostgresStore, refusal_advice
from durable_gen.local._store import Change, Task

from ..unit.local_sqlite.test_sqlite_store import check_kept_and_resumed, record_two_waiting
from ..unit.local_sqlite.test_store_contract import create, execution
from .server import Cluster, free_port

Factory = Callable[..., PostgresStore]


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


def test_an_execution_survives_reopening_and_resumes(postgres_factory: Factory) -> None:
    clock = VirtualClock(start_ms=1_700_000_000_000, auto_advance=False)
    first = LocalService(store=postgres_factory(), clock=clock)
    first.register("doubling", make_handler(doubling, first))
    arn = first.start("doubling", "5")
    assert first.run(arn).status == "RUNNING"  # waits 60 s on a clock that does not skip
    first.store.close()  # type: ignore[attr-defined]

    clock.advance(61)
    second = LocalService(store=postgres_factory(), clock=clock)
    second.register("doubling", make_handler(doubling, second))
    assert second.run(arn).result == "40"
    types = [e.event_type for e in second.get_history(arn)]
    assert types.count("StepSucceeded") == 3 and types[-1] == "ExecutionSucceeded"


def test_a_new_database_gets_the_schema_and_old_ones_migrate(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (0)")
    with PostgresStore(postgres_url) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.load("arn:none") is None
        create(store)
    with PostgresStore(postgres_url) as again:  # opening again keeps the data
        assert again.find("f", "n1") == "arn:1"


def _to_schema_v1(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Rewrite the tables as schema version 1 left them: operations and events keyed by ARN,
    the input in the header."""
    from ..unit.local_sqlite.test_sqlite_store import _inputs_into_headers

    _inputs_into_headers(conn, "%s")
    for statement in (
        "CREATE TABLE ops1 (arn TEXT NOT NULL, id TEXT NOT NULL, position INTEGER NOT NULL, "
        "type TEXT NOT NULL, status TEXT NOT NULL, body BYTEA NOT NULL, PRIMARY KEY (arn, id))",
        "INSERT INTO ops1 SELECT e.arn, o.id, o.position, o.type, o.status, o.body "
        "FROM operations o JOIN executions e ON e.seq = o.ex",
        "CREATE TABLE ev1 (arn TEXT NOT NULL, event_id INTEGER NOT NULL, body BYTEA NOT NULL, "
        "PRIMARY KEY (arn, event_id))",
        "INSERT INTO ev1 SELECT e.arn, v.event_id, v.body FROM events v "
        "JOIN executions e ON e.seq = v.ex",
        "DROP TABLE operations",
        "DROP TABLE events",
        "ALTER TABLE ops1 RENAME TO operations",
        "ALTER TABLE ev1 RENAME TO events",
        "ALTER INDEX ops1_pkey RENAME TO operations_pkey",
        "ALTER INDEX ev1_pkey RENAME TO events_pkey",
        "CREATE UNIQUE INDEX operations_in_order ON operations (arn, position)",
        "UPDATE schema_version SET version = 1",
    ):
        conn.execute(statement)


def test_a_version_1_database_keeps_its_executions_through_the_upgrade(
    postgres_url: str,
) -> None:
    clock = VirtualClock(start_ms=1_700_000_000_000, auto_advance=False)
    with PostgresStore(postgres_url) as store:
        recorded = record_two_waiting(store, clock)
    with psycopg.connect(postgres_url) as conn:
        _to_schema_v1(conn)

    clock.advance(61)
    with PostgresStore(postgres_url) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        with store._read() as conn:  # the inputs moved out of the headers
            inputs = conn.execute("SELECT input FROM executions ORDER BY seq").fetchall()
            assert inputs == [("1",), ("2",)]
        check_kept_and_resumed(store, clock, recorded)
        arns = recorded[0]
        assert store.operation_count(arns[1]) == len(store.operations(arns[1]))


def test_workers_that_start_together_migrate_once(postgres_url: str) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            PostgresStore(postgres_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    PostgresStore(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="schema version 99, newer"):
        PostgresStore(postgres_url)


def test_another_programs_database_is_refused_with_advice(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE executions (id INTEGER)")  # someone else's table
    with pytest.raises(StoreError, match="tables that durable_gen did not create") as caught:
        PostgresStore(postgres_url)
    assert "a database (or SQLite file) of its own" in str(caught.value)
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # left as it was
        assert conn.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)


def test_a_missing_database_is_refused_for_good_with_the_servers_reason(
    postgres_cluster: Cluster,
) -> None:
    url = postgres_cluster.url("no_such_database")
    with pytest.raises(StoreError) as caught:
        PostgresStore(url, timeout=1)
    # not a StoreUnavailableError: waiting would not help, so a worker does not retry it
    assert not isinstance(caught.value, StoreUnavailableError)
    assert 'database "no_such_database" does not exist' in str(caught.value)
    assert "create it (createdb) or correct the URL" in str(caught.value)


def test_an_unreachable_server_is_a_store_error() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="cannot connect"):
        PostgresStore(url, timeout=1)
    assert time.monotonic() - started < 10


def test_the_password_stays_out_of_messages() -> None:
    url = f"postgresql://me:s3cret@127.0.0.1:{free_port()}/none"
    with pytest.raises(StoreError) as caught:
        PostgresStore(url, timeout=1)
    assert "s3cret" not in str(caught.value) and "me:***@" in str(caught.value)


def test_bad_options_are_refused() -> None:
    for kwargs in ({"lease_seconds": 0}, {"timeout": 0}, {"pool_size": 0}, {"pool_size": "4"}):
        with pytest.raises(ValidationError):
            PostgresStore("postgresql://127.0.0.1/x", **kwargs)  # type: ignore[arg-type]


def test_without_psycopg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=r"durable-gen\[postgres\]"):
        PostgresStore("postgresql://127.0.0.1/x")


def test_a_commit_is_all_or_nothing(postgres_factory: Factory) -> None:
    store = postgres_factory()
    ex = create(store)
    ok = Change(ex)
    ok.tasks += (Task(1, "arn:1", "wait", "a"),)
    duplicate = Change(execution(), created=True)  # the same ARN again
    with pytest.raises(StoreError):
        store.commit([ok, duplicate])
    assert store.tasks_for("arn:1") == []
    with store.lock:  # inside a transaction, a failed commit leaves the rest of it intact
        store.register_workflow("f", "m:f")
        with pytest.raises(StoreError):
            store.commit([ok, duplicate])
        store.register_workflow("g", "m:g")
    assert store.workflows() == {"f": "m:f", "g": "m:g"}
    assert store.tasks_for("arn:1") == []


def test_the_engine_lock_is_a_transaction_that_locks_the_executions_it_loads(
    postgres_factory: Factory,
) -> None:
    store = postgres_factory()
    other = postgres_factory(timeout=0.2)
    create(store, "arn:2", "n2")
    with store.lock:
        create(store)
        assert other.load("arn:1") is None  # not committed yet
        loaded = store.load("arn:2")
        assert loaded is not None and loaded is store.load("arn:2")  # one object per tx
        other.register_workflow("f", "m:f")  # other rows are free
        with pytest.raises(StoreUnavailableError, match="locked"), other.lock:
            other.load("arn:2")  # the row is held: the other transaction waits, then gives up
    assert other.load("arn:1") is not None
    with other.lock:
        assert other.load("arn:2") is not None  # released with the transaction


def test_a_task_another_worker_holds_is_skipped_not_waited_for(postgres_factory: Factory) -> None:
    one, two = postgres_factory(), postgres_factory(timeout=5)
    changes = [Change(create(one)), Change(create(one, "arn:2", "n2"))]
    changes[0].tasks = (Task(1, "arn:1", "wait", "a"),)
    changes[1].tasks = (Task(2, "arn:2", "wait", "b"),)
    one.commit(changes)
    with one.lock:
        first = one.next_task()
        assert first == Task(1, "arn:1", "wait", "a")
        started = time.monotonic()
        with two.lock:
            assert two.next_task() == Task(2, "arn:2", "wait", "b")
        assert time.monotonic() - started < 2  # it did not wait for the lock (5 s)
        assert one.claim(first)
    assert two.next_task() == Task(2, "arn:2", "wait", "b")
    assert not two.claim(first)  # claimed and gone


def test_a_task_of_an_execution_being_checkpointed_is_skipped(postgres_factory: Factory) -> None:
    one, two = postgres_factory(), postgres_factory()
    ex = create(one)
    change = Change(ex)
    change.tasks = (Task(1, "arn:1", "wait", "a"),)
    one.commit([change])
    with one.lock:
        assert one.load("arn:1") is not None  # a checkpoint of arn:1 holds its row
        with two.lock:
            assert two.next_task() is None
    assert two.next_task() == Task(1, "arn:1", "wait", "a")


def test_a_dead_holder_on_this_host_loses_its_lease_at_once(postgres_factory: Factory) -> None:
    store = postgres_factory()
    ex = create(store)
    ex.invoking = True
    store.commit([Change(ex)])
    host = store.owner.split(":")[0]
    with store._tx() as conn:  # pretend a process that no longer exists holds it
        conn.execute("UPDATE executions SET lease_owner = %s", (f"{host}:999999999:ab",))
    other = postgres_factory()
    task = other.next_task()
    assert task is not None and task.kind == "invocation"


def test_a_holder_on_another_machine_with_this_host_name_keeps_its_lease(
    postgres_factory: Factory,
) -> None:
    # Machines of one image (or containers on the host's network) share a host name while
    # their process ids mean other processes: such a holder is judged by its lease alone.
    import socket

    store = postgres_factory()
    ex = create(store)
    ex.invoking = True
    store.commit([Change(ex)])
    host = store.owner.split(":")[0]
    others = {socket.gethostname(), host.replace("/", "/0", 1)} - {host}
    assert others
    for other in sorted(others):
        with store._tx() as conn:  # a process id that does not exist here
            conn.execute("UPDATE executions SET lease_owner = %s", (f"{other}:999999999:ab",))
        assert postgres_factory().next_task() is None, other


def test_a_live_holder_elsewhere_keeps_its_lease(postgres_factory: Factory) -> None:
    store = postgres_factory()
    ex = create(store)
    ex.invoking = True
    store.commit([Change(ex)])
    with store._tx() as conn:  # held by a process on another host, lease still valid
        conn.execute("UPDATE executions SET lease_owner = 'elsewhere:1:ab'")
    assert postgres_factory().next_task() is None


def test_an_expired_call_lease_comes_back(postgres_factory: Factory) -> None:
    dead = postgres_factory(lease_seconds=0.4)
    live = postgres_factory()
    ex = create(dead)
    ex.invokes["op"] = dg.local._store.InvokeEntry("g", None, None)  # type: ignore[attr-defined]
    change = Change(ex)
    change.tasks = (Task(1, "arn:1", "call", "op"),)
    dead.commit([change])
    call = dead.next_task()
    assert call is not None and dead.claim(call)
    assert live.next_task() is None
    time.sleep(0.5)
    assert live.next_task() == Task(1, "arn:1", "call", "op")


def test_renewing_extends_the_leases_held(postgres_factory: Factory) -> None:
    store = postgres_factory(lease_seconds=1)
    ex = create(store)
    ex.invoking = True
    store.commit([Change(ex)])
    other = postgres_factory()
    for _ in range(4):
        time.sleep(0.3)
        assert store.renew_leases() == 1
    assert other.next_task() is None  # 1.2 s later, still held
    assert other.renew_leases() == 0


def test_a_checkpoint_leaves_the_lease_alone_until_half_of_it_is_spent(
    postgres_factory: Factory,
) -> None:
    # Rewriting lease_until (an indexed column) on every checkpoint made each one a new row
    # version and index entry, which piled up over a long execution.
    from ..unit.local_sqlite.test_store_contract import step

    store = postgres_factory(lease_seconds=10)
    ex = create(store)
    ex.invoking = True
    store.commit([Change(ex)])  # the invocation starts: its lease is stamped

    def lease_until() -> int:
        with store._read() as conn:
            return int(conn.execute("SELECT lease_until FROM executions").fetchone()[0])

    stamped = lease_until()
    time.sleep(0.02)
    store.commit([Change(ex, operations=[step("s1")])])
    assert lease_until() == stamped
    with store._tx() as conn:  # 4 s of the 10 left: the next checkpoint stamps it again
        conn.execute("UPDATE executions SET lease_until = lease_until - 6000")
    store.commit([Change(ex, operations=[step("s2")])])
    assert lease_until() > stamped
    other = postgres_factory()
    assert other.next_task() is None  # still held


def test_a_commit_that_schedules_work_wakes_a_listener(postgres_factory: Factory) -> None:
    listener, writer = postgres_factory(), postgres_factory()
    ex = create(writer)
    assert not listener.wait_for_work(0.05)  # nothing scheduled: times out
    woke: list[bool] = []
    thread = threading.Thread(target=lambda: woke.append(listener.wait_for_work(5)))
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    with writer.lock:  # delivered when the transaction commits
        change = Change(ex)
        change.tasks = (Task(1, "arn:1", "invocation", ""),)
        writer.commit([change])
    thread.join()
    assert woke == [True] and time.monotonic() - started < 2


def test_the_store_survives_a_server_restart(postgres_cluster: Cluster) -> None:
    url = postgres_cluster.create_database("restart")
    with PostgresStore(url, timeout=5) as store:
        create(store)
        postgres_cluster.restart("immediate")
        # The pool's connections died with the server: the next transaction takes a new one.
        with store.lock:
            assert store.load("arn:1") is not None
        assert store.find("f", "n1") == "arn:1"
        assert not store.wait_for_work(0.01)  # the listener reconnects (or says False)


def test_clones_share_the_pool_and_give_their_connection_back(postgres_factory: Factory) -> None:
    store = postgres_factory(pool_size=2)
    twins = [store.clone() for _ in range(3)]
    assert store._pool.max_size == 5 and all(t._pool is store._pool for t in twins)
    assert len({store.owner, *(t.owner for t in twins)}) == 4  # each its own lease owner
    create(twins[0])
    assert store.find("f", "n1") == "arn:1"
    with twins[1].lock:  # each its own transaction
        twins[1].register_workflow("f", "m:f")
        assert store.workflows() == {}
    for twin in twins:
        twin.close()
        twin.close()
    assert store._pool.max_size == 2 and store.workflows() == {"f": "m:f"}


def test_a_missing_role_is_refused_for_good_with_advice_about_the_role(
    postgres_cluster: Cluster,
) -> None:
    url = postgres_cluster.url().replace("postgresql://postgres@", "postgresql://nobody@")
    with pytest.raises(StoreError) as caught:
        PostgresStore(url, timeout=1)
    assert not isinstance(caught.value, StoreUnavailableError)
    assert 'role "nobody" does not exist' in str(caught.value)
    assert "createuser" in str(caught.value) and "createdb" not in str(caught.value)


@pytest.mark.parametrize(
    ("reason", "advice"),
    [
        ('FATAL: password authentication failed for user "app"', "the password"),
        ('FATAL: database "nodb" does not exist', "createdb"),
        ('FATAL: role "nobody" does not exist', "createuser"),
        ('FATAL: no pg_hba.conf entry for host "10.0.0.1", user "app"', "pg_hba.conf"),
        ('FATAL: permission denied for database "durable"', "GRANT CONNECT"),
        ('invalid URI query parameter: "foo"', "malformed"),
        ('connection is bad: invalid sslmode value: "bogus"', "malformed"),
        ('connection is bad: invalid port number: "99999"', "malformed"),
    ],
)
def test_each_refusal_by_the_server_gets_advice_about_its_own_cause(
    reason: str, advice: str
) -> None:
    text = refusal_advice(reason)
    assert text is not None and advice in text
    assert ("createdb" in text) == (advice == "createdb")


def test_a_server_that_is_down_is_not_a_refusal() -> None:
    assert refusal_advice("connection refused Is the server running on that host") is None
    assert refusal_advice("") is None


def test_a_store_whose_schema_a_newer_version_migrated_meanwhile_says_to_upgrade(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url, timeout=2)
    try:
        create(store)
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # what a v+1 would do
            conn.execute(f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}")
            conn.execute("ALTER TABLE tasks RENAME COLUMN due_ms TO due_at_ms")
            conn.execute("ALTER TABLE operations RENAME TO operations_next")
        for read in (store.next_task, lambda: store.operations("arn:1")):
            with pytest.raises(StoreError) as caught:
                read()
            assert not isinstance(caught.value, StoreUnavailableError)  # workers stop
            message = str(caught.value)
            assert f"upgraded to schema version {SCHEMA_VERSION + 1}" in message
            assert "upgrade durable_gen here" in message
    finally:
        store.close()


def test_a_dropped_table_is_not_blamed_on_a_newer_version(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, timeout=2)
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DROP TABLE operations")
        with pytest.raises(StoreError, match="not a durable_gen database") as caught:
            store.operations("arn:1")
        assert "upgrade" not in str(caught.value)
    finally:
        store.close()


def test_a_malformed_url_is_refused_for_good() -> None:
    url = f"postgresql://me@127.0.0.1:{free_port()}/none?sslmode=bogus"
    # refused before connecting, as other malformed URLs (it was a StoreError at connect)
    with pytest.raises(dg.ValidationError, match=r"is malformed \(its sslmode 'bogus'") as caught:
        PostgresStore(url, timeout=1)
    assert not isinstance(caught.value, StoreError)  # a worker would not retry it


def test_a_database_turned_read_only_is_unavailable_for_now(postgres_url: str) -> None:
    # During a failover a worker may reach a standby (or a primary still read-only): the
    # write fails with SQLSTATE 25006, which was a plain StoreError, so a worker gave up at
    # once (exit status 1) instead of waiting for the new primary as after a restart.
    base, name = postgres_url.rsplit("/", 1)
    with PostgresStore(postgres_url) as store:
        create(store)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        try:
            with PostgresStore(postgres_url) as store:
                assert store.load("arn:1") is not None  # reads still work
                with pytest.raises(StoreUnavailableError, match=r"is read-only .*the primary"):
                    store.register_workflow("f", "m:f")
        finally:
            admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')
    # The advice's URL form is one the store takes.
    with PostgresStore(f"{postgres_url}?target_session_attrs=read-write") as store:
        store.register_workflow("f", "m:f")


@dg.step
def tick(i: int) -> int:
    time.sleep(0.05)
    return i


@dg.workflow
def ticking(n: int):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(n):
        total += yield tick(i)
    return total


def test_a_migration_that_only_adds_stops_a_running_worker_within_a_second(
    postgres_url: str,
) -> None:
    """A newer durable_gen's migration that adds a table or a column leaves every statement of
    this code working: a worker of this version went on running (and writing rows without
    what the newer code expects) until it was restarted, where the docs say it stops at its
    next query. The schema version now rides along with a transaction's first statement
    (once a second), so the worker stops within about a second, with a StoreError that says
    to upgrade, and its execution is left to resume on the upgraded workers."""
    with Worker(postgres_url) as starter:
        arn = starter.service.start(starter.register(ticking), "200")
    errors: list[BaseException] = []
    with Worker(postgres_url, lease_seconds=5) as worker:
        worker.register(ticking)
        runner = threading.Thread(target=lambda: _run_catching(worker, errors), daemon=True)
        runner.start()
        time.sleep(1.0)  # the execution is running its steps
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # what a v+1 would do
            conn.execute(f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}")
            conn.execute("ALTER TABLE executions ADD COLUMN priority integer")
            conn.execute("CREATE TABLE schedules (name text PRIMARY KEY)")
        upgraded = time.monotonic()
        runner.join(timeout=30)
        stopped = time.monotonic()
    assert not runner.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], StoreError), errors
    assert not isinstance(errors[0], StoreUnavailableError)  # not retried for its patience
    assert f"upgraded to schema version {SCHEMA_VERSION + 1}" in str(errors[0])
    assert stopped - upgraded < 5
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        (status,) = conn.execute(
            "SELECT status FROM executions WHERE arn = %s", (arn,)
        ).fetchone() or ("gone",)
    assert status == "RUNNING"


def _run_catching(worker: Worker, errors: list[BaseException]) -> None:
    try:
        worker.run()
    except BaseException as exc:  # the test reads it
        errors.append(exc)
