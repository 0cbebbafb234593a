"""News delivered to the wrong live interpreter, written from docs/embedding.md only.

A runtime that keeps several executions of one workflow must hand each interpreter what its
own store changed: operation ids repeat across executions. An answered callback, a finished
wait or any operation of another execution given to ``observe()`` is a ``ValidationError``,
never a result the workflow takes as its own.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt


def waits_then_asks(_: object) -> Any:
    yield dg.Wait(seconds=10, name="w")
    handle = yield dg.CreateCallback(name="cb", timeout=100)
    return (yield handle)


def _store() -> dict[str, rt.Operation]:
    return {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload="null"),
        )
    }


def _drive(
    interp: rt.Interpreter, store: dict[str, rt.Operation], now_ms: int, timers: list[rt.Timer]
) -> rt.Outcome:
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            applied = rt.apply_updates(store, action.updates, now_ms=now_ms)
            timers.extend(applied.timers)
            interp.observe(applied.operations)
        elif isinstance(action, rt.Done):
            return action.outcome
        else:  # pragma: no cover - the workflow has no steps
            raise AssertionError(action)


def _new(store: dict[str, rt.Operation], arn: str) -> rt.Interpreter:
    return rt.Interpreter(waits_then_asks, list(store.values()), execution_arn=arn)


def _execution_b_answered() -> tuple[dict[str, rt.Operation], rt.Operation]:
    """Another execution of the same workflow, run up to its answered callback."""
    store: dict[str, rt.Operation] = _store()
    timers: list[rt.Timer] = []
    assert isinstance(_drive(_new(store, "B"), store, 0, timers), rt.Suspended)
    for timer in timers:
        rt.fire_timer(store, timer, now_ms=10_000)
    assert isinstance(_drive(_new(store, "B"), store, 10_000, timers), rt.Suspended)
    (callback,) = [op for op in store.values() if op.type == "CALLBACK"]
    assert callback.callback_details is not None and callback.callback_details.callback_id
    answered = rt.complete_callback(
        store, callback.callback_details.callback_id, now_ms=11_000, result='"B-answer"'
    )
    return store, answered


def test_an_operation_the_interpreter_never_started_is_refused() -> None:
    _, answered = _execution_b_answered()
    store = _store()
    timers: list[rt.Timer] = []
    interp = _new(store, "A")
    assert isinstance(_drive(interp, store, 0, timers), rt.Suspended)
    (wait_timer,) = timers
    ended = rt.fire_timer(store, wait_timer, now_ms=10_000)
    assert ended is not None
    # A's callback was never created: B's answer must not become A's result.
    with pytest.raises(dg.ValidationError, match="never"):
        interp.observe([ended, answered])


def test_another_executions_copy_of_a_started_callback_is_refused() -> None:
    _, answered = _execution_b_answered()
    store = _store()
    timers: list[rt.Timer] = []
    interp = _new(store, "A")
    assert isinstance(_drive(interp, store, 0, timers), rt.Suspended)
    ended = rt.fire_timer(store, timers[0], now_ms=10_000)
    interp.observe([ended])
    assert isinstance(_drive(interp, store, 10_000, timers), rt.Suspended)
    # A's callback is started with its own id; B's answered copy has another id.
    with pytest.raises(dg.ValidationError, match="CallbackId"):
        interp.observe([answered])
    mine = next(op for op in store.values() if op.type == "CALLBACK")
    assert mine.callback_details is not None
    own = rt.complete_callback(
        store, mine.callback_details.callback_id, now_ms=12_000, result='"A-answer"'
    )
    interp.observe([own])
    assert _drive(interp, store, 12_000, timers) == rt.Succeeded(result='"A-answer"')


def test_another_executions_wait_that_ends_earlier_is_refused() -> None:
    store = _store()
    timers: list[rt.Timer] = []
    interp = _new(store, "A")
    assert isinstance(_drive(interp, store, 5_000, timers), rt.Suspended)
    (wait,) = [op for op in store.values() if op.type == "WAIT"]
    assert wait.wait_details is not None
    # the same wait of an execution started 5 s earlier, already over
    other = msgspec.structs.replace(
        wait,
        status="SUCCEEDED",
        start_timestamp=0,
        end_timestamp=10_000,
        wait_details=rt.WaitDetails(scheduled_end_timestamp=10_000),
    )
    with pytest.raises(dg.ValidationError, match="ScheduledEndTimestamp"):
        interp.observe([other])
    assert isinstance(_drive(interp, store, 10_000, timers), rt.Suspended)
