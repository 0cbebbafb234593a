"""The ``ExecutionStore`` contract, run against ``MemoryStore``, ``SqliteStore`` and
``PostgresStore`` (on a real server, see ``tests/postgres``) alike.

Headers are compared by their fields, not by identity: a database store returns fresh copies.
The last tests hold for the database stores only (serving functions, queries by name).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import make_handler
from durable_gen._wire import ErrorObject, Event, Operation
from durable_gen.local import ExecutionStore, LocalService, MemoryStore, SqliteStore, VirtualClock
from durable_gen.local._dbstore import DatabaseStore, LeaseLostError
from durable_gen.local._store import CallbackEntry, Change, InvokeEntry, StoredExecution, Task

from .conftest import StoreFactory

DatabaseFactory = Callable[..., DatabaseStore]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def new_store(
    request: pytest.FixtureRequest, sqlite_factory: Callable[..., SqliteStore]
) -> StoreFactory:
    """A factory of empty stores of each kind (the contract holds for all)."""
    if request.param == "memory":
        return MemoryStore
    if request.param == "postgres":
        factory: StoreFactory = request.getfixturevalue("postgres_factory")
        return factory
    return sqlite_factory


def execution(arn: str = "arn:1", name: str = "n1") -> StoredExecution:
    return StoredExecution(
        arn=arn,
        execution_id=name,
        name=name,
        function_name="f",
        input='{"x": 1}',
        start_ms=0,
        nonce="00000000",
    )


def create(store: ExecutionStore, arn: str = "arn:1", name: str = "n1") -> StoredExecution:
    ex = execution(arn, name)
    change = Change(ex, created=True)
    change.operations.append(Operation(id=name, type="EXECUTION", status="STARTED"))
    change.events.append(Event(event_type="ExecutionStarted", event_id=1))
    store.commit([change])
    return ex


def step(op_id: str, status: str = "STARTED") -> Operation:
    return Operation(id=op_id, type="STEP", status=status)  # type: ignore[arg-type]


def test_is_an_execution_store(new_store: StoreFactory) -> None:
    assert isinstance(new_store(), ExecutionStore)


def test_create_load_find_list(new_store: StoreFactory) -> None:
    store = new_store()
    assert store.load("arn:1") is None
    create(store)
    create(store, "arn:2", "n2")
    loaded = store.load("arn:1")
    assert loaded is not None and loaded.record() == execution().record()
    assert store.find("f", "n1") == "arn:1" and store.find("f", "nope") is None
    assert [ex.arn for ex in store.executions()] == ["arn:1", "arn:2"]
    assert store.events("arn:1")[0].event_type == "ExecutionStarted"


def test_header_round_trips_every_field(new_store: StoreFactory) -> None:
    store = new_store()
    ex = create(store)
    ex.status = "FAILED"
    ex.error = ErrorObject(error_type="E", error_message="m", stack_trace=["a", "b"])
    ex.invokes["op"] = InvokeEntry("g", '"p"', "arn:child")
    ex.open["op"] = "CHAINED_INVOKE"
    ex.unseen["op2"] = None
    ex.token, ex.invocations, ex.checkpoints, ex.crashes = "tok", 3, 4, 1
    ex.nudged = ex.reinvoke = ex.wrote = True
    store.commit([Change(ex)])
    loaded = store.load("arn:1")
    assert loaded is not None
    fields = StoredExecution.__dataclass_fields__
    assert {f: getattr(loaded, f) for f in fields} == {f: getattr(ex, f) for f in fields}


def test_operations_keep_their_creation_order_when_replaced(new_store: StoreFactory) -> None:
    store = new_store()
    ex = create(store)
    change = Change(ex)
    change.operations.extend([step("a"), step("b"), step("c")])
    store.commit([change])
    change = Change(ex)
    change.operations.extend([step("b", "SUCCEEDED"), step("d")])
    store.commit([change])
    ops = store.operations("arn:1")
    assert [op.id for op in ops] == ["n1", "a", "b", "c", "d"]
    assert ops[2].status == "SUCCEEDED"
    assert store.lookup("arn:1")("b") == step("b", "SUCCEEDED")
    assert store.lookup("arn:1")("zzz") is None
    assert [op.id for op in store.operations("arn:1", 1, 2)] == ["a", "b"]
    assert [op.id for op in store.operations("arn:1", 3)] == ["c", "d"]
    assert store.operations("arn:1", 9, 2) == []
    assert store.operation_count("arn:1") == 5


def test_events_are_appended_and_copied_out(new_store: StoreFactory) -> None:
    store = new_store()
    ex = create(store)
    change = Change(ex)
    change.events.append(Event(event_type="StepStarted", event_id=2, id="a"))
    store.commit([change])
    events = store.events("arn:1")
    events.clear()
    assert [(e.event_id, e.id) for e in store.events("arn:1")] == [(1, None), (2, "a")]


def test_callbacks(new_store: StoreFactory) -> None:
    store = new_store()
    ex = create(store)
    change = Change(ex)
    change.callbacks += (CallbackEntry("cb", "arn:1", "op", 5),)
    store.commit([change])
    assert store.find_callback("cb") == CallbackEntry("cb", "arn:1", "op", 5)
    assert store.find_callback("other") is None


def test_tasks_run_by_due_time_then_in_order(new_store: StoreFactory) -> None:
    store = new_store()
    ex = create(store)
    change = Change(ex)
    change.tasks = (
        Task(20, "arn:1", "wait", "a"),
        Task(10, "arn:1", "wait", "b"),
        Task(10, "arn:1", "invocation", ""),
    )
    store.commit([change])
    order = []
    while (task := store.next_task()) is not None:
        assert store.claim(task)
        assert not store.claim(task)  # taken
        order.append(task.op_id or task.kind)
    assert order == ["b", "invocation", "a"]


def test_tasks_are_replaced_cancelled_and_dropped(new_store: StoreFactory) -> None:
    store = new_store()
    ex = create(store)
    change = Change(ex)
    change.tasks = (
        Task(10, "arn:1", "callback-heartbeat", "a"),
        Task(50, "arn:1", "callback-timeout", "a"),
    )
    store.commit([change])
    first = store.next_task()
    change = Change(ex)
    change.tasks += (Task(30, "arn:1", "callback-heartbeat", "a"),)
    store.commit([change])
    assert first is not None and not store.claim(first)  # the old one is stale
    assert store.next_task() == Task(30, "arn:1", "callback-heartbeat", "a")
    change = Change(ex)
    change.cancelled += (("callback-heartbeat", "a"),)
    store.commit([change])
    assert store.tasks_for("arn:1") == [Task(50, "arn:1", "callback-timeout", "a")]
    change = Change(ex)
    change.tasks += (Task(5, "arn:1", "invocation", ""),)
    change.cancel_all = True
    store.commit([change])
    assert store.tasks_for("arn:1") == [] and store.next_task() is None
    assert store.tasks_for("arn:unknown") == []


def test_one_commit_can_change_several_executions(new_store: StoreFactory) -> None:
    store = new_store()
    parent = create(store)
    child = execution("arn:2", "n2")
    one, two = Change(parent), Change(child, created=True)
    one.operations.append(step("invoke"))
    two.operations.append(Operation(id="n2", type="EXECUTION", status="STARTED"))
    store.commit([one, two])
    loaded = store.load("arn:2")
    assert loaded is not None and loaded.arn == "arn:2"
    assert store.operation_count("arn:1") == 2 and store.operation_count("arn:2") == 1


# --- what the database stores (SQLite, Postgres) add: serving, queries by name -----------------


@pytest.fixture(params=["sqlite", "postgres"])
def new_db_store(
    request: pytest.FixtureRequest, sqlite_factory: Callable[..., SqliteStore]
) -> DatabaseFactory:
    """A factory of stores on one empty database of each kind."""
    if request.param == "postgres":
        factory: DatabaseFactory = request.getfixturevalue("postgres_factory")
        return factory
    return sqlite_factory


def test_serving_filters_invocations_not_timers(new_db_store: DatabaseFactory) -> None:
    store = new_db_store()
    ex = create(store)
    change = Change(ex)
    change.tasks = (Task(5, "arn:1", "invocation", ""), Task(9, "arn:1", "wait", "w"))
    store.commit([change])
    store.serve(["other"])
    assert store.next_task() == Task(9, "arn:1", "wait", "w")
    store.serve(["f"])
    assert store.next_task() == Task(5, "arn:1", "invocation", "")
    store.serve(None)
    assert store.next_task() == Task(5, "arn:1", "invocation", "")


def test_resolve_and_workflows(new_db_store: DatabaseFactory) -> None:
    store = new_db_store()
    create(store, "arn:x/abc-1", "abc-1")
    create(store, "arn:x/abd-2", "abd-2")
    assert store.resolve("arn:x/abc-1") == ["arn:x/abc-1"]
    assert store.resolve("abc") == ["arn:x/abc-1"]
    assert store.resolve("ab") == ["arn:x/abc-1", "arn:x/abd-2"]
    assert store.resolve("a_") == [] and store.resolve("zz") == []
    store.register_workflow("f", "pkg.mod:flow")
    store.register_workflow("f", "pkg.mod:flow2")
    assert store.workflows() == {"f": "pkg.mod:flow2"}
    assert store.operation_counts("arn:x/abc-1") == {("EXECUTION", "STARTED"): 1}


def test_an_expired_invocation_lease_is_taken_over(new_db_store: DatabaseFactory) -> None:
    dead = new_db_store(lease_seconds=0.4)
    live = new_db_store()
    ex = create(dead)
    ex.invoking, ex.token = True, "tok"
    dead.commit([Change(ex)])
    assert live.next_task() is None  # the lease holds
    time.sleep(0.5)
    again = live.next_task()
    assert again is not None and again.kind == "invocation"
    reset = live.load("arn:1")
    assert reset is not None and not reset.invoking and reset.token is None
    # The late holder cannot end the invocation it lost.
    assert live.claim(again)
    taken = live.load("arn:1")
    assert taken is not None
    taken.invoking = True
    live.commit([Change(taken)])
    ex.invoking = False
    with pytest.raises(LeaseLostError):
        dead.commit([Change(ex)])
    still = live.load("arn:1")
    assert still is not None and still.invoking


def test_a_lost_lease_is_refused_also_when_the_header_was_read_in_the_transaction(
    new_db_store: DatabaseFactory,
) -> None:
    """The usual path of an engine: ``load()`` and ``commit()`` under one lock."""
    dead = new_db_store(lease_seconds=0.4)
    live = new_db_store()
    ex = create(dead)
    ex.invoking, ex.token = True, "tok"
    dead.commit([Change(ex)])
    with dead.lock:
        mine = dead.load("arn:1")
        assert mine is not None and mine.invoking
        mine.token = "tok2"
        dead.commit([Change(mine)])  # a checkpoint of the holder: accepted
    time.sleep(0.5)
    again = live.next_task()
    assert again is not None and live.claim(again)
    with live.lock:
        taken = live.load("arn:1")
        assert taken is not None and not taken.invoking
        taken.invoking = True
        live.commit([Change(taken)])
    with dead.lock:
        late = dead.load("arn:1")
        assert late is not None and late.invoking
        late.invoking = False
        with pytest.raises(LeaseLostError):
            dead.commit([Change(late)])
    still = live.load("arn:1")
    assert still is not None and still.invoking
    with live.lock:
        ended = live.load("arn:1")
        assert ended is not None
        ended.invoking = False
        live.commit([Change(ended)])  # the holder ends it
    final = dead.load("arn:1")
    assert final is not None and not final.invoking


@dg.step
def _double(x: int) -> int:
    return 2 * x


@dg.workflow
def _padded(doc: dict[str, Any]):  # type: ignore[no-untyped-def]
    total = yield _double(doc["n"])
    yield dg.Wait(seconds=60, name="pause")
    return total


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_input_is_written_once_not_with_every_checkpoint(
    request: pytest.FixtureRequest, kind: str
) -> None:
    # The header is written by every checkpoint; an input inside it was written again each
    # time (a 100 kB input: 25 more pages of WAL a step on SQLite).
    factory: DatabaseFactory = request.getfixturevalue(f"{kind}_factory")
    clock = VirtualClock(start_ms=1_700_000_000_000, auto_advance=False)
    store = factory()
    service = LocalService(store=store, clock=clock)
    service.register("padded", make_handler(_padded, service))
    big = json.dumps({"n": 3, "pad": "x" * 100_000})
    arn = service.start("padded", big)
    assert service.run(arn).status == "RUNNING"
    with store._read() as conn:  # type: ignore[attr-defined]
        header, payload = conn.execute("SELECT header, input FROM executions").fetchone()
    assert len(header) < 2_000 and payload == big
    assert service.get_execution(arn).input == big
    assert store.load(arn).input == big  # type: ignore[union-attr]
    assert [ex.input for ex in store.executions()] == [big]
    clock.advance(61)
    assert service.run(arn).result == "6"
