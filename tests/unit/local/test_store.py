"""What only ``MemoryStore`` promises; the shared ``ExecutionStore`` contract (creation, order,
paging, events, callbacks, the task schedule) runs on every store in
``tests/unit/local_sqlite/test_store_contract.py``.
"""

from __future__ import annotations

from durable_gen._wire import Event, Operation
from durable_gen.local import MemoryStore
from durable_gen.local._store import Change, StoredExecution, Task


def create(store: MemoryStore, arn: str = "arn:1", name: str = "n1") -> StoredExecution:
    ex = StoredExecution(
        arn=arn,
        execution_id=name,
        name=name,
        function_name="f",
        input=None,
        start_ms=0,
        nonce="00000000",
    )
    change = Change(ex, created=True)
    change.operations.append(Operation(id=name, type="EXECUTION", status="STARTED"))
    change.events.append(Event(event_type="ExecutionStarted", event_id=1))
    store.commit([change])
    return ex


def test_reads_return_the_live_objects_committed() -> None:
    store = MemoryStore()
    ex = create(store)
    other = create(store, "arn:2", "n2")
    assert store.load("arn:1") is ex
    assert list(store.executions()) == [ex, other]
    assert all(a is b for a, b in zip(store.executions(), [ex, other], strict=True))
    op = Operation(id="a", type="STEP", status="STARTED")
    change = Change(ex)
    change.operations.append(op)
    store.commit([change])
    assert store.lookup("arn:1")("a") is op
    assert store.operations("arn:1")[1] is op


def test_many_replaced_tasks_do_not_pile_up() -> None:
    store = MemoryStore()
    ex = create(store)
    for due in range(10_000):
        change = Change(ex)
        change.tasks += (Task(due, "arn:1", "hb", "a"),)
        store.commit([change])
        store.next_task()
    assert len(store._heap) < 200
    assert store.next_task() == Task(9_999, "arn:1", "hb", "a")


def test_pending_events_are_built_when_the_history_is_read() -> None:
    store = MemoryStore()
    ex = create(store)
    built_count = 0

    def build(event_id: int, kind: str) -> Event:
        nonlocal built_count
        built_count += 1
        return Event(event_type=kind, event_id=event_id)

    change = Change(ex, events=[(build, 2, "StepStarted"), Event(event_type="X", event_id=3)])
    store.commit([change])
    assert built_count == 0  # committed, not built
    first = store.events("arn:1")
    assert [(e.event_type, e.event_id) for e in first] == [
        ("ExecutionStarted", 1), ("StepStarted", 2), ("X", 3),
    ]  # fmt: skip
    assert store.events("arn:1") == first and built_count == 1  # built once


def test_change_events_builds_pending_events_for_other_stores() -> None:
    ex = create(MemoryStore())
    change = Change(ex, events=[(lambda i: Event(event_type="StepStarted", event_id=i), 2)])
    assert change.events == [Event(event_type="StepStarted", event_id=2)]
    change.events.append(Event(event_type="X", event_id=3))  # the same list: appending works
    assert [e.event_id for e in change.raw_events] == [2, 3]
