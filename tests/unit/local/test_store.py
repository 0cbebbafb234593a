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
