"""A runtime that delivers timers, answers and reports late, early, twice or to the wrong
operation, written from docs/embedding.md alone.

Each delivery is either refused with a typed error (``ValidationError`` for a host mistake,
``InvalidCheckpointError`` for what the service refuses), or a documented no-op (a stale timer
returns None); the store is left as it was, and the execution still ends with the answer it
would have had without the misdelivery.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from tests.unit.embedding_runtimes import start_store


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=5, jitter="none"))
def flaky(x: int) -> int:
    raise RuntimeError(f"no {x}")


def notify(callback_id: str) -> None:
    assert callback_id


def workflow(_: object) -> Any:
    yield dg.Wait(seconds=10, name="w")
    handle = yield dg.CreateCallback(name="cb", timeout=100, heartbeat_timeout=20)
    answer = yield handle
    invoked = yield dg.Invoke("f", 1, name="inv")
    try:
        yield flaky(1)
    except dg.StepFailedError as exc:
        failed = exc.error_type
    return [answer, invoked, failed]


class Host:
    """One execution; a new interpreter per invocation; timers by (kind, operation)."""

    def __init__(self) -> None:
        self.now_ms = 0
        self.store = start_store("null", 0)
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.invokes: list[rt.InvokeRequest] = []

    def invoke(self) -> rt.Outcome:
        interp = rt.Interpreter(
            workflow, list(self.store.values()), execution_arn="arn:misdelivery"
        )
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(self.store, action.updates, now_ms=self.now_ms)
                for timer in applied.timers:
                    self.timers[timer.kind, timer.operation_id] = timer
                self.invokes += applied.invokes
                interp.observe(applied.operations)
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    try:
                        interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
                    except Exception as exc:
                        interp.task_failed(task, exc)
            else:
                assert isinstance(action, rt.Done)
                return action.outcome

    def op(self, type_: str) -> rt.Operation:
        return next(op for op in self.store.values() if op.type == type_)

    def timer(self, kind: str) -> rt.Timer:
        return next(t for (k, _), t in self.timers.items() if k == kind)

    def refused(
        self, call: Callable[[], object], error: type[Exception] = dg.ValidationError
    ) -> None:
        """``call`` raises ``error`` and leaves the store as it was."""
        before = copy.deepcopy(self.store)
        with pytest.raises(error):
            call()
        assert self.store == before


def test_misdeliveries_are_refused_or_stale_and_change_no_answer() -> None:
    host = Host()
    assert isinstance(host.invoke(), rt.Suspended)  # the wait
    wait = host.timer("wait")
    # early: not due yet
    host.refused(lambda: rt.fire_timer(host.store, wait, now_ms=wait.due_ms - 1))
    # for the wrong operation: a kind that ends another type, or no such operation
    for kind in ("retry", "callback-timeout", "callback-heartbeat"):
        wrong = msgspec.structs.replace(wait, kind=kind)
        host.refused(lambda wrong=wrong: rt.fire_timer(host.store, wrong, now_ms=wait.due_ms))
    nowhere = msgspec.structs.replace(wait, operation_id="0" * 64)
    host.refused(lambda: rt.fire_timer(host.store, nowhere, now_ms=wait.due_ms))
    # late, then twice: the second time it is stale
    host.now_ms = wait.due_ms + 60_000
    assert rt.fire_timer(host.store, wait, now_ms=host.now_ms) is not None
    assert rt.fire_timer(host.store, wait, now_ms=host.now_ms) is None
    del host.timers["wait", wait.operation_id]

    assert isinstance(host.invoke(), rt.Suspended)  # the callback
    callback = host.op("CALLBACK")
    assert callback.callback_details is not None
    callback_id = callback.callback_details.callback_id
    timeout, heartbeat = host.timer("callback-timeout"), host.timer("callback-heartbeat")
    # early timeouts, a timeout of a callback started at another time; the ended wait's
    # timer, delivered again, is stale
    host.refused(lambda: rt.fire_timer(host.store, timeout, now_ms=timeout.due_ms - 1))
    host.refused(lambda: rt.fire_timer(host.store, heartbeat, now_ms=heartbeat.due_ms - 1))
    moved = msgspec.structs.replace(timeout, due_ms=timeout.due_ms + 1000)
    host.refused(lambda: rt.fire_timer(host.store, moved, now_ms=moved.due_ms))
    assert rt.fire_timer(host.store, wait, now_ms=timeout.due_ms) is None
    # a heartbeat with another callback's or kind's timer; an answer to an unknown id
    host.refused(lambda: rt.heartbeat_callback(host.store, callback_id, timeout, now_ms=1))
    host.refused(
        lambda: rt.complete_callback(host.store, "f" * 48, now_ms=host.now_ms, result='"x"'),
        dg.InvalidCheckpointError,
    )
    # answered, then answered again, timed out late, heart-beaten late: refused or stale
    rt.complete_callback(host.store, callback_id, now_ms=host.now_ms, result='"yes"')
    host.refused(
        lambda: rt.complete_callback(host.store, callback_id, now_ms=host.now_ms, result='"no"'),
        dg.InvalidCheckpointError,
    )
    assert rt.fire_timer(host.store, timeout, now_ms=timeout.due_ms + 1) is None
    assert rt.fire_timer(host.store, heartbeat, now_ms=timeout.due_ms + 1) is None
    host.refused(
        lambda: rt.heartbeat_callback(host.store, callback_id, heartbeat, now_ms=host.now_ms),
        dg.InvalidCheckpointError,
    )
    host.timers.clear()

    assert isinstance(host.invoke(), rt.Suspended)  # the invoke
    (request,) = host.invokes
    step_id = next(op.id for op in host.store.values() if op.type == "WAIT")
    host.refused(
        lambda: rt.complete_invoke(host.store, step_id, now_ms=host.now_ms, result="1"),
        dg.InvalidCheckpointError,
    )
    rt.complete_invoke(host.store, request.operation_id, now_ms=host.now_ms, result="2")
    host.refused(
        lambda: rt.complete_invoke(
            host.store, request.operation_id, now_ms=host.now_ms, result="3"
        ),
        dg.InvalidCheckpointError,
    )

    assert isinstance(host.invoke(), rt.Suspended)  # the retry delay
    retry = host.timer("retry")
    host.refused(lambda: rt.fire_timer(host.store, retry, now_ms=retry.due_ms - 1))
    assert rt.fire_timer(host.store, retry, now_ms=retry.due_ms) is not None
    assert rt.fire_timer(host.store, retry, now_ms=retry.due_ms) is None  # twice: stale
    assert host.invoke() == rt.Succeeded(result='["yes",2,"RuntimeError"]')


def test_task_reports_late_twice_or_to_another_interpreter_are_refused() -> None:
    @dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
    def work() -> int:
        return 1

    def one_step(_: object) -> Any:
        return (yield work())

    store = start_store("null", 0)
    first = rt.Interpreter(one_step, list(store.values()), execution_arn="arn:a")
    action = first.next_action()
    assert isinstance(action, rt.RunTasks)
    (lost,) = action.tasks  # the invocation that handed it out is abandoned
    second = rt.Interpreter(one_step, list(store.values()), execution_arn="arn:a")
    with pytest.raises(dg.ValidationError):
        second.task_succeeded(lost, 1)  # before the new interpreter handed its own out
    action = second.next_action()
    assert isinstance(action, rt.RunTasks)
    (task,) = action.tasks
    with pytest.raises(dg.ValidationError):
        second.task_succeeded(lost, 1)  # the same id, from another interpreter
    second.task_failed(task, RuntimeError("first attempt"))
    with pytest.raises(dg.ValidationError):
        second.task_succeeded(task, 1)  # a late result of a reported attempt
    with pytest.raises(dg.ValidationError):
        second.task_failed(task, RuntimeError("again"))
    flush = second.next_action()
    assert isinstance(flush, rt.Flush)
    assert [u.action for u in flush.updates] == ["START", "RETRY"]


def test_an_answer_the_serdes_cannot_read_fails_at_the_yield_with_serialization_error() -> None:
    def asks(_: object) -> Any:
        handle = yield dg.CreateCallback(name="cb")
        try:
            return (yield handle)
        except dg.SerializationError:
            return "unreadable"

    store = start_store("null", 0)
    interp = rt.Interpreter(asks, list(store.values()), execution_arn="arn:serdes")
    flush = interp.next_action()
    assert isinstance(flush, rt.Flush)
    interp.observe(rt.apply_updates(store, flush.updates, now_ms=0).operations)
    assert isinstance(interp.next_action(), rt.Done)
    callback = next(op for op in store.values() if op.type == "CALLBACK")
    assert callback.callback_details is not None
    with pytest.raises(dg.ValidationError):
        rt.complete_callback(
            store,
            callback.callback_details.callback_id,
            now_ms=1,
            result=b"yes",  # type: ignore[arg-type]
        )
    answered = rt.complete_callback(
        store, callback.callback_details.callback_id, now_ms=1, result="not json"
    )
    interp.observe([answered])
    assert interp.next_action() == rt.Done(rt.Succeeded(result='"unreadable"'))


@pytest.mark.parametrize(
    "updates",
    [5, rt.Flush([]), rt.OperationUpdate(id="x", type="WAIT", action="START"), "updates"],
    ids=["int", "the-flush-itself", "one-update", "str"],
)
def test_apply_updates_of_something_else_than_a_list_of_updates_is_a_validation_error(
    updates: Any,
) -> None:
    store = start_store("null", 0)
    with pytest.raises(dg.ValidationError, match="list of OperationUpdate"):
        rt.apply_updates(store, updates, now_ms=0)
    assert store == start_store("null", 0)


def test_an_async_step_reported_without_being_awaited_is_a_host_mistake() -> None:
    """``task.fn`` of an ``is_async`` task returns a coroutine: a host that reports it
    instead of awaiting it gets a ValidationError, and the step is not failed for good."""

    @dg.step
    async def add_one(x: int) -> int:
        return x + 1

    def one_async_step(_: object) -> Any:
        return (yield add_one(1))

    store = start_store("null", 0)
    interp = rt.Interpreter(one_async_step, list(store.values()), execution_arn="arn:async")
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    (task,) = action.tasks
    assert task.is_async
    coroutine = task.fn(*task.args, **task.kwargs)
    with pytest.raises(dg.ValidationError, match="await"):
        interp.task_succeeded(task, coroutine)
    interp.task_succeeded(task, asyncio.run(coroutine))  # still running: report it right
    flush = interp.next_action()
    assert isinstance(flush, rt.Flush)
    assert [(u.action, u.payload) for u in flush.updates] == [("START", None), ("SUCCEED", "2")]
